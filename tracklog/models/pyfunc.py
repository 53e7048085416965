"""The ``python_function`` flavor: any model behind one ``predict(data, params=None)``.

Save a `PythonModel` subclass (``load_context`` once, ``predict`` per call), and load any
model whose MLmodel has a ``python_function`` flavor — saved by tracklog or by MLflow — as a
`PyFuncModel` that enforces the model's signature before calling it.

The MLmodel keys are MLflow's (``loader_module: mlflow.pyfunc.model``, ``python_model:
python_model.pkl``, ``cloudpickle_version``…), so ``mlflow.pyfunc.load_model`` opens a model
saved here; tracklog maps MLflow's loader modules to its own flavors, so the reverse holds
without MLflow installed (except for a pickled class that itself subclasses MLflow's).

>>> import tempfile, pandas as pd
>>> class AddOne(PythonModel):
...     def predict(self, context, model_input, params=None):
...         return model_input["x"] + 1
>>> path = tempfile.mkdtemp() + "/m"
>>> save_model(path, python_model=AddOne(), input_example=pd.DataFrame({"x": [1.0]}))
>>> load_model(path).predict(pd.DataFrame({"x": [2.0, 3.0]})).tolist()
[3.0, 4.0]
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import re
import shutil
import sys
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eventlog.errors import (
    InvalidInputError,
    ModelLoadError,  # the one error tree
    )
from tracklog.artifacts import download, resolve_artifact_uri
from tracklog.models import _store
from tracklog.models.model import (
    Model,
    ModelInfo,
    folder_size,
    python_function_env,
    save_input_example,
    signature_from_example,
    write_environment,
)
from tracklog.models.signature import ModelSignature, enforce_params, enforce_schema

__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "get_model_dependencies",
    "load_model",
    "log_model",
    "save_model",
]

FLAVOR_NAME = "python_function"
_MLFLOW_PYTHON_MODEL_LOADER = "mlflow.pyfunc.model"
# MLflow's loader modules, served by tracklog's own flavors (MLflow need not be installed).
_LOADERS = {
    _MLFLOW_PYTHON_MODEL_LOADER: "tracklog.models.pyfunc",
    "mlflow.sklearn": "tracklog.models.sklearn",
    "mlflow.xgboost": "tracklog.models.xgboost",
    "mlflow.lightgbm": "tracklog.models.lightgbm",
    "tracklog.models.xgboost": "tracklog.models.xgboost",
    "tracklog.models.lightgbm": "tracklog.models.lightgbm",
    "tracklog.models.sklearn": "tracklog.models.sklearn",
    "tracklog.models.pyfunc": "tracklog.models.pyfunc",
}

_TypeHints = namedtuple("_TypeHints", ["input", "output"])


class PythonModelContext:
    """What `PythonModel.load_context` and ``predict`` receive: local artifact paths and config."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any] | None = None) -> None:
        self._artifacts = artifacts
        self._model_config = model_config or {}

    @property
    def artifacts(self) -> dict[str, str]:
        return self._artifacts

    @property
    def model_config(self) -> dict[str, Any]:
        return self._model_config


class PythonModel:
    """Subclass and implement ``predict(self, context, model_input, params=None)``."""

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after loading: open files from ``context.artifacts`` here."""

    def predict(self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict(self, context, model_input, params=None)")

    @property
    def predict_type_hints(self) -> Any:
        # MLflow's pyfunc wrapper reads this when MLflow loads a tracklog model; no type-hint
        # driven conversion is wanted, so both hints are absent.
        return _TypeHints(None, None)


class PyFuncModel:
    """A loaded model: ``predict(data, params=None)`` with the signature enforced first."""

    def __init__(self, model_meta: Model, impl: Any, path: Path, loader_module: str) -> None:
        self._model_meta = model_meta
        self._impl = impl
        self._path = path
        self.loader_module = loader_module

    @property
    def metadata(self) -> Model:
        return self._model_meta

    @property
    def model_id(self) -> str | None:
        return self._model_meta.model_id

    @property
    def model_config(self) -> dict[str, Any]:
        return dict(self._model_meta.flavors.get(FLAVOR_NAME, {}).get("config") or {})

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        signature = self._model_meta.signature
        if signature is not None and signature.inputs is not None:
            data = enforce_schema(data, signature.inputs)
        if signature is not None:
            params = enforce_params(params, signature.params)
        return self._impl.predict(data, params=params)

    def unwrap_python_model(self) -> Any:
        inner = getattr(self._impl, "python_model", None)
        if inner is None:
            raise InvalidInputError("this model was not saved from a PythonModel; it has no python model to unwrap")
        return inner

    def get_raw_model(self) -> Any:
        return getattr(self._impl, "raw_model", self._impl)

    def __repr__(self) -> str:
        flavors = ", ".join(self._model_meta.flavors)
        return f"<PyFuncModel {self._model_meta.model_id or self._model_meta.model_uuid} flavors=[{flavors}] from {self._path}>"


# ---- loading ------------------------------------------------------------------------------


def _allow_pickle() -> bool:
    value = os.environ.get("TRACKLOG_ALLOW_PICKLE_DESERIALIZATION", "true").strip().lower()
    return value not in ("0", "false", "no", "off")


def require_pickle_allowed(path: Path) -> None:
    if not _allow_pickle():
        raise ModelLoadError(
            f"{path} would be unpickled, which can run arbitrary code, and TRACKLOG_ALLOW_PICKLE_DESERIALIZATION "
            "is false: load only models you trust, and set it to true to allow")


def model_file(path: Path, rel: Any, what: str, *, kind: str = "file") -> Path:
    """`rel`, a name an MLmodel gives (a data file, a folder of code, an artifact), inside the model
    folder `path`. An MLmodel comes from a store: a name that would leave the folder (absolute,
    ``..``) is a `ModelLoadError`, and so is one missing (`kind`: ``file``, ``folder`` or ``any``)."""
    parts = re.split(r"[\\/]", rel) if isinstance(rel, str) else []
    if not rel or not parts or not parts[0] or ".." in parts:
        raise ModelLoadError(f"{path}/MLmodel: {what} {rel!r} must name a path inside the model folder")
    target = path / rel
    present = {"file": target.is_file, "folder": target.is_dir, "any": target.exists}[kind]()
    if not present:
        raise ModelLoadError(f"{target} is missing: the model folder is incomplete")
    return target


@contextlib.contextmanager
def saving(target: Path) -> Iterator[None]:
    """A save into the new folder `target`: if anything fails, the half-written folder goes."""
    try:
        yield
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


@contextlib.contextmanager
def loading(target: Path, what: str) -> Iterator[None]:
    """Turn whatever loading `target` raises into a `ModelLoadError` naming it (`what`: how it was
    being loaded); a missing module is named as such."""
    try:
        yield
    except ModelLoadError:
        raise
    except ModuleNotFoundError as exc:
        raise ModelLoadError(f"{target} needs module {exc.name!r}, which is not installed here") from exc
    except Exception as exc:
        raise ModelLoadError(f"{target} could not be loaded {what}: {type(exc).__name__}: {exc}") from exc


def flavor_model(model_uri: str, dst_path: str | None, flavor: str) -> tuple[Path, Model]:
    """The local folder and MLmodel of the model at `model_uri`, which must have `flavor`."""
    path = _store.local_model_path(model_uri, dst_path)
    model = Model.load(path)
    if flavor not in model.flavors:
        raise InvalidInputError(f"the model at {model_uri} has no {flavor} flavor (it has: {', '.join(model.flavors)})")
    return path, model


def load_pickled(target: Path, fmt: str, skops_trusted_types: list[str] | None = None) -> Any:
    """The object pickled at `target`: with skops (only its trusted types), else with cloudpickle
    (which runs code: `require_pickle_allowed`)."""
    if fmt == "skops":
        import skops.io

        return skops.io.load(target, trusted=skops_trusted_types)
    require_pickle_allowed(target)
    import cloudpickle

    with target.open("rb") as f:
        return cloudpickle.load(f)


def _add_code_paths(path: Path, conf: dict[str, Any]) -> None:
    code = conf.get("code")
    if code:
        folder = str(model_file(path, code, "code", kind="folder"))
        if folder not in sys.path:
            sys.path.insert(0, folder)


class _PythonModelWrapper:
    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        parameters = inspect.signature(python_model.predict).parameters
        self._with_context = "context" in parameters or len(parameters) >= 2 and "model_input" in parameters \
            and list(parameters).index("model_input") == 1
        self._with_params = "params" in parameters

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        kwargs = {"params": params} if self._with_params else {}
        if self._with_context:
            return self.python_model.predict(self.context, data, **kwargs)
        return self.python_model.predict(data, **kwargs)


_MODEL_FROM_CODE: list[Any] = []


def _load_python_model(path: Path, conf: dict[str, Any], model_config: dict[str, Any] | None) -> Any:
    subpath = conf.get("python_model")
    if not subpath:
        raise ModelLoadError(f"{path}/MLmodel: the python_function flavor names no python_model")
    target = model_file(path, subpath, "python_model")
    if target.suffix == ".py":  # a model from code: the file calls set_model(...)
        _MODEL_FROM_CODE.clear()
        namespace: dict[str, Any] = {"__name__": "__tracklog_model__", "__file__": str(target)}
        exec(compile(target.read_text(), str(target), "exec"), namespace)  # noqa: S102 - the user's own model file
        if not _MODEL_FROM_CODE:
            raise ModelLoadError(f"{target} did not call tracklog.models.set_model(model)")
        model = _MODEL_FROM_CODE.pop()
        return _FunctionModel(model) if callable(model) and not hasattr(model, "predict") else model
    with loading(target, "(unpickling)"):
        return load_pickled(target, "cloudpickle")


class _FunctionModel(PythonModel):
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return self.fn(model_input)


def _load_pyfunc(path: Path, model: Model, model_config: dict[str, Any] | None = None) -> _PythonModelWrapper:
    conf = model.flavors[FLAVOR_NAME]
    python_model = _load_python_model(path, conf, model_config)
    artifacts = {name: str(model_file(path, info.get("path"), f"artifact {name!r}", kind="any"))
                 for name, info in (conf.get("artifacts") or {}).items()}
    config = {**(conf.get("config") or {}), **(model_config or {})}
    context = PythonModelContext(artifacts, config)
    if hasattr(python_model, "load_context"):
        python_model.load_context(context)
    return _PythonModelWrapper(python_model, context)


def load_model(model_uri: str, suppress_warnings: bool = False, dst_path: str | None = None,
               model_config: dict[str, Any] | None = None) -> PyFuncModel:
    """Load any model with a ``python_function`` flavor: ``runs:/``, ``models:/``, a path or a URL."""
    path = _store.local_model_path(model_uri, dst_path)
    model = Model.load(path)
    conf = model.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidInputError(
            f"the model at {model_uri} has no python_function flavor (it has: {', '.join(model.flavors) or 'none'}); "
            "load it with its own flavor's load_model")
    _add_code_paths(path, conf)
    loader = conf.get("loader_module")
    if not loader:
        raise ModelLoadError(f"{path}/MLmodel: the python_function flavor names no loader_module")
    module_name = _LOADERS.get(loader, loader)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(f"the model's loader module {loader!r} cannot be imported here: {exc}") from exc
    if module_name.startswith("tracklog."):
        impl = module._load_pyfunc(path, model, model_config)
    else:  # a third-party flavor, MLflow's convention: _load_pyfunc(data_path)
        data_path = str(model_file(path, conf["data"], "data", kind="any")) if conf.get("data") else str(path)
        impl = module._load_pyfunc(data_path)
    return PyFuncModel(model, impl, path, loader)


def get_model_dependencies(model_uri: str, format: str = "pip") -> str:  # noqa: A002 - MLflow's name
    """The path of the model's ``requirements.txt`` (``format="pip"``) or ``conda.yaml``."""
    path = _store.local_model_path(model_uri, None)
    name = {"pip": "requirements.txt", "conda": "conda.yaml"}.get(format)
    if name is None:
        raise InvalidInputError(f"format must be 'pip' or 'conda', got {format!r}")
    return str(path / name)


# ---- saving -------------------------------------------------------------------------------


def _prepare(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInputError(f"cannot save a model to {target}: it already exists and is not an empty folder")
    target.mkdir(parents=True, exist_ok=True)
    return target


def finish_save(target: Path, model: Model, *, signature: ModelSignature | None, input_example: Any,
                predict: Any, packages: list[str], pip_requirements: list[str] | None,
                extra_pip_requirements: list[str] | None, metadata: dict[str, Any] | None) -> None:
    """What every flavor does last: example, signature, environment files, MLmodel."""
    if input_example is not None:
        example = save_input_example(model, target, input_example)
        if signature is None and predict is not None:
            signature = signature_from_example(predict, example)
    model.signature = signature
    model.metadata = metadata
    write_environment(target, packages, extra_pip_requirements, pip_requirements)
    model.model_size_bytes = folder_size(target)
    model.save(target)


def save_model(
    path: str | os.PathLike[str],
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: list[str] | None = None,
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Save a `PythonModel` (or a path to a models-from-code ``.py`` file) as a pyfunc model."""
    if python_model is None and loader_module is None:
        raise InvalidInputError("save_model needs python_model (a PythonModel, or a .py file) or a loader_module")
    if python_model is not None and loader_module is not None:
        raise InvalidInputError("give python_model or loader_module, not both")
    target = _prepare(path)
    model = mlflow_model or Model()
    with saving(target):  # a failed save leaves no half-written folder
        conf: dict[str, Any] = {}
        if python_model is not None:
            conf["loader_module"] = _MLFLOW_PYTHON_MODEL_LOADER
            if isinstance(python_model, str | os.PathLike):
                source = Path(python_model)
                if not source.is_file() or source.suffix != ".py":
                    raise InvalidInputError(f"python_model {source} must be an existing .py file (a model from code)")
                shutil.copy(source, target / source.name)
                conf["python_model"] = source.name
                predict = None
            else:
                if not callable(getattr(python_model, "predict", None)):
                    raise InvalidInputError(f"python_model must have a predict method; got {type(python_model).__name__}")
                import cloudpickle

                with (target / "python_model.pkl").open("wb") as f:
                    cloudpickle.dump(python_model, f)
                conf["python_model"] = "python_model.pkl"
                conf["cloudpickle_version"] = cloudpickle.__version__
                wrapper = _PythonModelWrapper(python_model, PythonModelContext({}, model_config))
                predict = wrapper.predict
        else:
            conf["loader_module"] = loader_module
            predict = None
        if data_path is not None:
            shutil.copytree(data_path, target / "data") if Path(data_path).is_dir() else shutil.copy(data_path, target)
            conf["data"] = "data" if Path(data_path).is_dir() else Path(data_path).name
        if artifacts:
            conf["artifacts"] = _copy_artifacts(target, artifacts)
        conf["code"] = _copy_code(target, code_paths)
        if model_config:
            conf["config"] = model_config
        conf.update(python_function_env())
        conf["streamable"] = False
        model.add_flavor(FLAVOR_NAME, **conf)
        finish_save(target, model, signature=signature, input_example=input_example, predict=predict,
                    packages=["cloudpickle", "pandas"], pip_requirements=pip_requirements,
                    extra_pip_requirements=extra_pip_requirements, metadata=metadata)


def _copy_artifacts(target: Path, artifacts: dict[str, str]) -> dict[str, dict[str, str]]:
    out = {}
    folder = target / "artifacts"
    folder.mkdir()
    for name, uri in artifacts.items():
        local = download(resolve_artifact_uri(uri), folder)
        out[name] = {"path": str(local.relative_to(target)), "uri": uri}
    return out


def _copy_code(target: Path, code_paths: list[str] | None) -> str | None:
    if not code_paths:
        return None
    folder = target / "code"
    folder.mkdir()
    for item in code_paths:
        source = Path(item)
        if not source.exists():
            raise InvalidInputError(f"code path {source} does not exist")
        if source.is_dir():
            shutil.copytree(source, folder / source.name)
        else:
            shutil.copy(source, folder / source.name)
    return "code"


def log_model(
    name: str | None = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    code_paths: list[str] | None = None,
    loader_module: str | None = None,
    data_path: str | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Save and upload a pyfunc model as a logged model of the active run (or of no run)."""
    return _store.log_model(
        save_model, name=name, artifact_path=artifact_path, registered_model_name=registered_model_name,
        python_model=python_model, artifacts=artifacts, signature=signature, input_example=input_example,
        pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements, metadata=metadata,
        model_config=model_config, code_paths=code_paths, loader_module=loader_module, data_path=data_path,
    )


def set_model(model: Any) -> None:
    """Called by a models-from-code file to hand over its model."""
    _MODEL_FROM_CODE.append(model)
