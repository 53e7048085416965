"""The ``xgboost`` flavor: XGBoost Boosters and scikit-learn-API models, in MLflow's format.

The model is saved with XGBoost's own ``save_model`` (``model.ubj`` by default, or ``json`` /
``xgb``), never pickled; the MLmodel names ``mlflow.xgboost`` as the pyfunc loader with MLflow's
keys (``data``, ``model_class``, ``model_format``, ``xgb_version``), so ``mlflow.xgboost``
loads these models and tracklog loads MLflow's.

>>> import tempfile, numpy as np, xgboost as xgb
>>> booster = xgb.train({"max_depth": 2}, xgb.DMatrix(np.array([[0.0], [1.0]]), label=[0.0, 1.0]), 2)
>>> path = tempfile.mkdtemp() + "/m"
>>> save_model(booster, path)
>>> type(load_model(path)).__name__
'Booster'
"""

from __future__ import annotations

import importlib
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
    loading,
    model_file,
    saving,
)
from tracklog.models.signature import ModelSignature

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "xgboost"
_LOADER = "mlflow.xgboost"  # MLflow's module name, so MLflow loads our models with its own loader
_FORMATS = ("ubj", "json", "xgb")


def _class_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__name__}"


def save_model(
    xgb_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    model_format: str = "ubj",
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save an XGBoost ``Booster`` or ``XGBModel`` (``XGBClassifier``…) as a model folder at `path`."""
    import xgboost as xgb

    if not isinstance(xgb_model, xgb.Booster | xgb.XGBModel):
        raise InvalidInputError(f"xgb_model must be an xgboost Booster or XGBModel, got {type(xgb_model).__name__}")
    if model_format not in _FORMATS:
        raise InvalidInputError(f"model_format must be one of {', '.join(_FORMATS)}, got {model_format!r}")
    target = _prepare(path)
    model = mlflow_model or Model()
    with saving(target):  # a failed save leaves no half-written folder
        data = f"model.{model_format}"
        xgb_model.save_model(str(target / data))
        code = _copy_code(target, code_paths)
        model.add_flavor(PYFUNC, loader_module=_LOADER, data=data, code=code, **python_function_env())
        model.add_flavor(FLAVOR_NAME, xgb_version=xgb.__version__, data=data, model_class=_class_name(xgb_model),
                         model_format=model_format, code=code)
        finish_save(target, model, signature=signature, input_example=input_example,
                    predict=_XGBWrapper(xgb_model).predict, packages=["xgboost"], pip_requirements=pip_requirements,
                    extra_pip_requirements=extra_pip_requirements, metadata=metadata)


def _load(path: Path, model: Model) -> Any:
    conf = model.flavors.get(FLAVOR_NAME) or {}
    class_name = conf.get("model_class", "xgboost.core.Booster")
    module_name, _, name = class_name.rpartition(".")
    if not module_name.startswith("xgboost"):  # the MLmodel names the class: only XGBoost's are built
        raise ModelLoadError(f"{path}/MLmodel: model_class {class_name!r} is not an XGBoost class")
    target = model_file(path, conf.get("data", model.flavors.get(PYFUNC, {}).get("data", "model.xgb")), "data")
    with loading(target, f"as {class_name}"):
        xgb_model = getattr(importlib.import_module(module_name), name)()
        xgb_model.load_model(str(target))
    return xgb_model


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The XGBoost model saved at `model_uri` (``runs:/``, ``models:/``, a path or a URL), of
    the class it was saved as."""
    return _load(*flavor_model(model_uri, dst_path, FLAVOR_NAME))


class _XGBWrapper:
    def __init__(self, xgb_model: Any) -> None:
        self.xgb_model = xgb_model

    def get_raw_model(self) -> Any:
        return self.xgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import xgboost as xgb

        if isinstance(self.xgb_model, xgb.Booster):
            return self.xgb_model.predict(xgb.DMatrix(data))
        return self.xgb_model.predict(data)


def _load_pyfunc(path: Path, model: Model, model_config: dict[str, Any] | None = None) -> _XGBWrapper:
    return _XGBWrapper(_load(path, model))


def log_model(
    xgb_model: Any,
    name: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    model_format: str = "ubj",
    metadata: dict[str, Any] | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Save and upload an XGBoost model as a logged model of the active run (or of no run)."""
    return _store.log_model(
        lambda path, **kw: save_model(xgb_model, path, **kw), name=name, artifact_path=artifact_path,
        registered_model_name=registered_model_name, code_paths=code_paths, signature=signature,
        input_example=input_example, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, model_format=model_format, metadata=metadata,
    )
