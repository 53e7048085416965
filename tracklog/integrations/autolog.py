"""`autolog`: training with the frameworks installed is logged to tracklog with no other change.

``tracklog.autolog()`` patches, as each framework is imported (or at once, if it is already):

- scikit-learn: every estimator's ``fit`` (the outermost one: a Pipeline's or a search's steps
  are not logged again) logs the estimator's params, its training metrics (MLflow's names:
  ``training_accuracy_score``, ``training_f1_score``, ``training_root_mean_squared_error``…,
  linked to the logged model and the training dataset), the training dataset as an input and
  the fitted model (``sklearn`` flavor, as ``model``);
- XGBoost: ``xgboost.train`` (and so the scikit-learn API's ``fit``) gets a
  `tracklog.integrations.xgboost.TracklogCallback`: params, each iteration's evaluation
  metrics, the Booster (``xgboost`` flavor);
- LightGBM: ``lightgbm.train`` (and so ``LGBMModel.fit``) gets a
  `tracklog.integrations.lightgbm.TracklogCallback`, and the Booster is logged (``lightgbm``
  flavor) after training;
- PyTorch Lightning: a ``Trainer`` built without a logger gets a `TracklogLogger` (one given
  loggers gets it added);
- Transformers: a ``Trainer`` gets a `tracklog.integrations.transformers.TracklogCallback`;
- Keras: ``Model.fit`` gets a `tracklog.integrations.keras.TracklogCallback`.

Each logs to the active run, else to a run it starts and ends. ``autolog(disable=True)``
removes every patch. Frameworks that are not installed are skipped; none is imported by
``autolog()`` itself.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.abc
import importlib.util
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from eventlog.errors import InvalidInputError
from projections.entities import Dataset, DatasetInput, InputTag
from tracklog.integrations._run import RunHandle

__all__ = ["FRAMEWORKS", "autolog"]

_log = logging.getLogger("tracklog.autolog")
FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "lightning", "pytorch_lightning", "transformers", "keras")
_in_fit: ContextVar[bool] = ContextVar("tracklog_autolog_in_fit", default=False)


class _State:
    def __init__(self) -> None:
        self.options: dict[str, Any] = {}
        self.patches: list[tuple[Any, str, Any]] = []  # (owner, attribute, original)
        self.patched: set[str] = set()
        self.lock = threading.RLock()


_state = _State()


def autolog(log_models: bool = True, log_datasets: bool = True, disable: bool = False, silent: bool = False,
            frameworks: tuple[str, ...] | list[str] | None = None) -> None:
    """Log training with every installed framework to tracklog (see the module docstring).

    Args:
        log_models: log fitted models (sklearn, XGBoost, LightGBM flavors) and checkpoints.
        log_datasets: record scikit-learn's training data as the run's input dataset.
        disable: remove every patch (and stop patching frameworks imported later).
        silent: no log messages about what was patched.
        frameworks: only these (names from `FRAMEWORKS`; default: all installed).
    """
    wanted = tuple(frameworks) if frameworks is not None else FRAMEWORKS
    unknown = [f for f in wanted if f not in FRAMEWORKS]
    if unknown:
        raise InvalidInputError(f"autolog knows frameworks {', '.join(FRAMEWORKS)}; got {', '.join(unknown)}")
    with _state.lock:
        _unpatch_all()
        if disable:
            _HOOK.pending.clear()
            return
        _state.options = {"log_models": log_models, "log_datasets": log_datasets, "silent": silent}
        for name in wanted:
            if name in sys.modules:
                _apply(name)
            elif importlib.util.find_spec(name) is not None:
                _HOOK.pending.add(name)
        if _HOOK.pending and _HOOK not in sys.meta_path:
            sys.meta_path.insert(0, _HOOK)


# ---- patching --------------------------------------------------------------------------------


def _patch(owner: Any, attribute: str, make: Callable[[Any], Any]) -> None:
    original = getattr(owner, attribute)
    _state.patches.append((owner, attribute, original))
    setattr(owner, attribute, make(original))


def _unpatch_all() -> None:
    for owner, attribute, original in reversed(_state.patches):
        setattr(owner, attribute, original)
    _state.patches.clear()
    _state.patched.clear()


def _apply(name: str) -> None:
    with _state.lock:
        if name in _state.patched:
            return
        _state.patched.add(name)
        try:
            _PATCHERS[name]()
        except Exception:  # noqa: BLE001 - a framework version we cannot patch: training still runs
            _log.warning("tracklog: autolog could not patch %s", name, exc_info=True)
            return
    if not _state.options.get("silent"):
        _log.info("tracklog: autologging enabled for %s", name)


class _PostImportHook(importlib.abc.MetaPathFinder):
    """Patches a framework right after its first import (so autolog() imports nothing)."""

    def __init__(self) -> None:
        self.pending: set[str] = set()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.pending:
            return None
        self.pending.discard(fullname)
        spec = importlib.util.find_spec(fullname)  # the real one, by the other finders
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            _apply(fullname)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_HOOK = _PostImportHook()


# ---- scikit-learn ----------------------------------------------------------------------------


def _patch_sklearn() -> None:
    from sklearn.utils import all_estimators

    for _, cls in all_estimators():
        if "fit" in vars(cls):
            _patch(cls, "fit", _sklearn_fit)


def _fit_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    x = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    return x, y


def _sklearn_fit(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _in_fit.get():
            return original(self, *args, **kwargs)
        token = _in_fit.set(True)
        run = RunHandle()
        try:
            run.log_params(self.get_params(deep=False))
            assert run.client is not None
            run.client.set_tag(run.run_id, "estimator_name", type(self).__name__)
            run.client.set_tag(run.run_id, "estimator_class", f"{type(self).__module__}.{type(self).__name__}")
            result = original(self, *args, **kwargs)
        except BaseException:
            _in_fit.reset(token)
            run.end(failed=True)
            raise
        try:  # still "in fit": the training metrics fit helpers (LabelBinarizer…) that are not the user's
            _after_sklearn_fit(self, run, *_fit_data(args, kwargs))
        except Exception:  # noqa: BLE001 - the model is trained: a logging failure must not lose it
            _log.warning("tracklog: autolog could not log the fit of %s", type(self).__name__, exc_info=True)
        finally:
            _in_fit.reset(token)
            run.end()
        return result

    return fit


def _after_sklearn_fit(estimator: Any, run: RunHandle, x: Any, y: Any) -> None:
    assert run.client is not None
    client, run_id = run.client, run.run_id
    dataset = _dataset(x, y) if _state.options.get("log_datasets") else None
    if dataset is not None:
        client.log_inputs(run_id, [DatasetInput(dataset=dataset, tags=[InputTag("mlflow.data.context", "train")])])
    model_id = None
    if _state.options.get("log_models"):
        model_id = _log_sklearn_model(estimator, run_id)
    metrics = _training_metrics(estimator, x, y) if x is not None else {}
    if metrics:
        client.log_metrics(run_id, metrics, model_id=model_id, dataset_name=dataset.name if dataset else None,
                           dataset_digest=dataset.digest if dataset else None)


def _log_sklearn_model(estimator: Any, run_id: str) -> str:
    from tracklog.models import _store  # heavy (pandas): loaded with the first model logged
    from tracklog.models import sklearn as flavor

    def save(fmt: str) -> Any:
        return _store.log_model(lambda path, **kw: flavor.save_model(estimator, path, serialization_format=fmt, **kw),
                                name="model", artifact_path=None, registered_model_name=None, run_id=run_id)

    try:
        info = save(flavor.SERIALIZATION_FORMAT_SKOPS)
    except InvalidInputError:  # types skops does not trust: MLflow's other format
        info = save(flavor.SERIALIZATION_FORMAT_CLOUDPICKLE)
    return str(info.model_id)


def _dataset(x: Any, y: Any) -> Dataset | None:
    """The training data as MLflow records an in-memory dataset (name, digest, shape profile)."""
    import numpy as np

    try:
        arrays = [np.asarray(a) for a in (x, y) if a is not None]
    except Exception:  # noqa: BLE001 - sparse or exotic inputs: no dataset record
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for array in arrays:
        digest.update(np.ascontiguousarray(array[:10_000]).tobytes() if array.dtype != object else repr(array[:100]).encode())
    profile = {"features_shape": list(arrays[0].shape)} if arrays else {}
    if len(arrays) > 1:
        profile["targets_shape"] = list(arrays[1].shape)
    return Dataset(name="dataset", digest=digest.hexdigest()[:8], source_type="code", source="{}",
                   profile=json.dumps(profile))


def _training_metrics(estimator: Any, x: Any, y: Any) -> dict[str, float]:
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}

    def put(name: str, compute: Callable[[], Any]) -> None:
        try:
            out[f"training_{name}"] = float(compute())
        except Exception:  # noqa: BLE001 - a metric that does not apply to this estimator or data
            return

    if y is not None and is_classifier(estimator):
        predicted = estimator.predict(x)
        put("accuracy_score", lambda: metrics.accuracy_score(y, predicted))
        put("precision_score", lambda: metrics.precision_score(y, predicted, average="weighted", zero_division=0))
        put("recall_score", lambda: metrics.recall_score(y, predicted, average="weighted", zero_division=0))
        put("f1_score", lambda: metrics.f1_score(y, predicted, average="weighted", zero_division=0))
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(x)
            put("log_loss", lambda: metrics.log_loss(y, proba, labels=estimator.classes_))
            put("roc_auc", lambda: metrics.roc_auc_score(y, proba[:, 1]) if proba.shape[1] == 2
                else metrics.roc_auc_score(y, proba, multi_class="ovr", average="weighted", labels=estimator.classes_))
    elif y is not None and is_regressor(estimator):
        predicted = estimator.predict(x)
        put("mean_squared_error", lambda: metrics.mean_squared_error(y, predicted))
        put("root_mean_squared_error", lambda: metrics.mean_squared_error(y, predicted) ** 0.5)
        put("mean_absolute_error", lambda: metrics.mean_absolute_error(y, predicted))
        put("r2_score", lambda: metrics.r2_score(y, predicted))
    if hasattr(estimator, "score"):
        put("score", lambda: estimator.score(x, y) if y is not None else estimator.score(x))
    return out


# ---- XGBoost, LightGBM -----------------------------------------------------------------------


def _patch_xgboost() -> None:
    import xgboost
    import xgboost.sklearn
    import xgboost.training

    for owner in {xgboost, xgboost.training, xgboost.sklearn}:
        if hasattr(owner, "train"):
            _patch(owner, "train", _xgboost_train)


def _xgboost_train(original: Any) -> Any:
    @functools.wraps(original)
    def train(params: Any, dtrain: Any, *args: Any, **kwargs: Any) -> Any:
        from tracklog.integrations.xgboost import TracklogCallback

        callbacks = list(kwargs.get("callbacks") or [])
        if _in_fit.get() or any(isinstance(c, TracklogCallback) for c in callbacks):
            return original(params, dtrain, *args, **kwargs)
        callback = TracklogCallback(params=dict(params or {}), log_model=bool(_state.options.get("log_models")))
        kwargs["callbacks"] = [*callbacks, callback]
        token = _in_fit.set(True)
        try:
            return original(params, dtrain, *args, **kwargs)
        except BaseException:
            callback.run.end(failed=True)
            raise
        finally:
            _in_fit.reset(token)

    return train


def _patch_lightgbm() -> None:
    import lightgbm
    import lightgbm.engine
    import lightgbm.sklearn

    for owner in {lightgbm, lightgbm.engine, lightgbm.sklearn}:
        if hasattr(owner, "train"):
            _patch(owner, "train", _lightgbm_train)


def _lightgbm_train(original: Any) -> Any:
    @functools.wraps(original)
    def train(params: Any, train_set: Any, *args: Any, **kwargs: Any) -> Any:
        from tracklog.integrations.lightgbm import TracklogCallback

        callbacks = list(kwargs.get("callbacks") or [])
        if _in_fit.get() or any(isinstance(c, TracklogCallback) for c in callbacks):
            return original(params, train_set, *args, **kwargs)
        callback = TracklogCallback(log_model=False, end_run=False)
        kwargs["callbacks"] = [*callbacks, callback]
        token = _in_fit.set(True)
        try:
            booster = original(params, train_set, *args, **kwargs)
        except BaseException:
            callback.finish(None, failed=True)
            raise
        finally:
            _in_fit.reset(token)
        callback.log_model, callback.end_run = bool(_state.options.get("log_models")), True
        callback.finish(booster)
        return booster

    return train


# ---- Lightning, Transformers, Keras: their callbacks attached -----------------------------------


def _patch_lightning(package: str) -> None:
    trainer = importlib.import_module(f"{package}.pytorch" if package == "lightning" else package).Trainer

    def make(original: Any) -> Any:
        @functools.wraps(original)
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            from tracklog.integrations.lightning import TracklogLogger

            logger = kwargs.get("logger", True)
            if logger is True or logger is None:
                kwargs["logger"] = [TracklogLogger(log_model=bool(_state.options.get("log_models")))]
            elif logger is not False:
                loggers = list(logger) if isinstance(logger, list | tuple) else [logger]
                if not any(isinstance(x, TracklogLogger) for x in loggers):
                    kwargs["logger"] = [*loggers, TracklogLogger(log_model=bool(_state.options.get("log_models")))]
            original(self, *args, **kwargs)

        return init

    _patch(trainer, "__init__", make)


def _patch_transformers() -> None:
    import transformers

    def make(original: Any) -> Any:
        @functools.wraps(original)
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            from tracklog.integrations.transformers import TracklogCallback

            callbacks = list(kwargs.get("callbacks") or [])
            if not any(isinstance(c, TracklogCallback) for c in callbacks):
                kwargs["callbacks"] = [*callbacks, TracklogCallback(log_checkpoints=bool(_state.options.get("log_models")))]
            original(self, *args, **kwargs)

        return init

    def make_train(original: Any) -> Any:
        @functools.wraps(original)
        def train(self: Any, *args: Any, **kwargs: Any) -> Any:
            from tracklog.integrations.transformers import TracklogCallback

            with _failing_ends([c for c in self.callback_handler.callbacks if isinstance(c, TracklogCallback)]):
                return original(self, *args, **kwargs)

        return train

    _patch(transformers.Trainer, "__init__", make)
    _patch(transformers.Trainer, "train", make_train)


@contextlib.contextmanager
def _failing_ends(callbacks: list[Any]) -> Iterator[None]:
    """A fit that raises ends the runs its callbacks started, FAILED: Keras and Transformers call
    no callback then, and the run would stay active (and the next fit would log into it)."""
    try:
        yield
    except BaseException:
        for callback in callbacks:
            callback.run.end(failed=True)
        raise


def _patch_keras() -> None:
    import keras

    def make(original: Any) -> Any:
        @functools.wraps(original)
        def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
            from tracklog.integrations.keras import TracklogCallback

            callbacks = list(kwargs.get("callbacks") or [])
            ours = [c for c in callbacks if isinstance(c, TracklogCallback)]
            if not ours:
                batch_size = kwargs.get("batch_size", args[2] if len(args) > 2 else None)  # fit(x, y, batch_size, …)
                ours = [TracklogCallback(log_model=bool(_state.options.get("log_models")),
                                         fit_params={"batch_size": batch_size})]
                kwargs["callbacks"] = [*callbacks, *ours]
            with _failing_ends(ours):
                return original(self, *args, **kwargs)

        return fit

    _patch(keras.Model, "fit", make)


_PATCHERS: dict[str, Callable[[], None]] = {
    "sklearn": _patch_sklearn,
    "xgboost": _patch_xgboost,
    "lightgbm": _patch_lightgbm,
    "lightning": lambda: _patch_lightning("lightning"),
    "pytorch_lightning": lambda: _patch_lightning("pytorch_lightning"),
    "transformers": _patch_transformers,
    "keras": _patch_keras,
}
