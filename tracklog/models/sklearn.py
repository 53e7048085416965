"""The ``sklearn`` flavor: scikit-learn estimators, in either format current MLflow writes.

``serialization_format="skops"`` (the default, as in MLflow 3) stores ``model.skops``: loading
it runs no arbitrary code, only types skops trusts (plus ``skops_trusted_types``).
``"cloudpickle"`` / ``"pickle"`` store ``model.pkl``. The MLmodel names ``mlflow.sklearn`` as
the pyfunc loader, exactly as MLflow does, so MLflow loads these models with its own code.

>>> import tempfile, numpy as np
>>> from sklearn.linear_model import LinearRegression
>>> est = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([0.0, 2.0]))
>>> path = tempfile.mkdtemp() + "/m"
>>> save_model(est, path)
>>> round(float(load_model(path).predict(np.array([[2.0]]))[0]), 6)
4.0
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eventlog.errors import InvalidInputError
from tracklog.models import _store
from tracklog.models.model import Model, ModelInfo, python_function_env
from tracklog.models.pyfunc import FLAVOR_NAME as PYFUNC
from tracklog.models.pyfunc import (
    ModelLoadError,
    _copy_code,
    _prepare,
    finish_save,
    flavor_model,
    load_pickled,
    loading,
    model_file,
    saving,
)
from tracklog.models.signature import ModelSignature

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_CLOUDPICKLE",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_SKOPS",
    "load_model",
    "log_model",
    "save_model",
]

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SERIALIZATION_FORMAT_SKOPS = "skops"
SUPPORTED_SERIALIZATION_FORMATS = (SERIALIZATION_FORMAT_PICKLE, SERIALIZATION_FORMAT_CLOUDPICKLE, SERIALIZATION_FORMAT_SKOPS)
_LOADER = "mlflow.sklearn"  # MLflow's module name, so MLflow loads our models with its own loader


def _file_name(serialization_format: str) -> str:
    return "model.skops" if serialization_format == SERIALIZATION_FORMAT_SKOPS else "model.pkl"


def _dump(sk_model: Any, target: Path, serialization_format: str, trusted: list[str] | None) -> None:
    if serialization_format == SERIALIZATION_FORMAT_SKOPS:
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        skops.io.dump(sk_model, target)
        try:  # a model skops would refuse to load is refused now, not at load time
            skops.io.load(target, trusted=trusted)
        except UntrustedTypesFoundException as exc:
            raise InvalidInputError(
                f"the model uses types skops does not trust ({exc}); pass skops_trusted_types=[...] naming them "
                "if they are safe, or serialization_format='cloudpickle'") from exc
    elif serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE:
        import cloudpickle

        with target.open("wb") as f:
            cloudpickle.dump(sk_model, f)
    else:
        import pickle

        with target.open("wb") as f:
            pickle.dump(sk_model, f)


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    serialization_format: str = SERIALIZATION_FORMAT_SKOPS,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    skops_trusted_types: list[str] | None = None,
) -> None:
    """Save a fitted estimator as an MLflow-format model folder at `path`."""
    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise InvalidInputError(f"serialization_format must be one of {', '.join(SUPPORTED_SERIALIZATION_FORMATS)}, "
                                f"got {serialization_format!r}")
    if not callable(getattr(sk_model, pyfunc_predict_fn, None)):
        raise InvalidInputError(f"{type(sk_model).__name__} has no method {pyfunc_predict_fn!r} (pyfunc_predict_fn)")
    import sklearn

    target = _prepare(path)
    model = mlflow_model or Model()
    with saving(target):  # a failed save leaves no half-written folder
        file_name = _file_name(serialization_format)
        _dump(sk_model, target / file_name, serialization_format, skops_trusted_types)
        code = _copy_code(target, code_paths)
        model.add_flavor(PYFUNC, loader_module=_LOADER, model_path=file_name, predict_fn=pyfunc_predict_fn,
                         **python_function_env())
        model.add_flavor(FLAVOR_NAME, pickled_model=file_name, sklearn_version=sklearn.__version__,
                         serialization_format=serialization_format, code=code,
                         skops_trusted_types=skops_trusted_types)
        packages = ["scikit-learn"] + (["skops"] if serialization_format == SERIALIZATION_FORMAT_SKOPS else
                                       ["cloudpickle"] if serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE else [])
        finish_save(target, model, signature=signature, input_example=input_example,
                    predict=getattr(sk_model, pyfunc_predict_fn), packages=packages,
                    pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements, metadata=metadata)


def _load(path: Path, model: Model) -> Any:
    conf = model.flavors.get(FLAVOR_NAME)
    if conf is None:
        conf = {"pickled_model": model.flavors[PYFUNC].get("model_path", "model.pkl"), "serialization_format": "cloudpickle"}
    target = model_file(path, conf.get("pickled_model"), "pickled_model")
    fmt = conf.get("serialization_format", SERIALIZATION_FORMAT_CLOUDPICKLE)
    if fmt not in SUPPORTED_SERIALIZATION_FORMATS:
        raise ModelLoadError(f"{path}/MLmodel: unknown sklearn serialization_format {fmt!r}")
    with loading(target, f"({fmt})"):
        return load_pickled(target, fmt, conf.get("skops_trusted_types"))


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The fitted estimator saved at `model_uri` (``runs:/``, ``models:/``, a path or a URL)."""
    return _load(*flavor_model(model_uri, dst_path, FLAVOR_NAME))


class _SklearnWrapper:
    def __init__(self, raw_model: Any, predict_fn: str) -> None:
        self.raw_model = raw_model
        self._predict = getattr(raw_model, predict_fn)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self._predict(data)


def _load_pyfunc(path: Path, model: Model, model_config: dict[str, Any] | None = None) -> _SklearnWrapper:
    predict_fn = model.flavors[PYFUNC].get("predict_fn", "predict")
    return _SklearnWrapper(_load(path, model), predict_fn)


def log_model(
    sk_model: Any,
    name: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    serialization_format: str = SERIALIZATION_FORMAT_SKOPS,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    skops_trusted_types: list[str] | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Save and upload an estimator as a logged model of the active run (or of no run)."""
    return _store.log_model(
        lambda path, **kw: save_model(sk_model, path, **kw), name=name, artifact_path=artifact_path,
        registered_model_name=registered_model_name, code_paths=code_paths,
        serialization_format=serialization_format, signature=signature, input_example=input_example,
        pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        pyfunc_predict_fn=pyfunc_predict_fn, metadata=metadata, skops_trusted_types=skops_trusted_types,
    )
