"""The ``lightgbm`` flavor: LightGBM Boosters and scikit-learn-API models, in MLflow's format.

A ``Booster`` is saved with LightGBM's own text format (``model.lgb``); an ``LGBMModel``
(``LGBMClassifier``…) with cloudpickle (``model.pkl``, loading it unpickles: see
``TRACKLOG_ALLOW_PICKLE_DESERIALIZATION``). The MLmodel names ``mlflow.lightgbm`` as the pyfunc
loader with MLflow's keys (``data``, ``model_class``, ``lgb_version``, ``serialization_format``),
so ``mlflow.lightgbm`` loads these models and tracklog loads MLflow's (Booster or cloudpickle).

>>> import tempfile, numpy as np, lightgbm as lgb
>>> data = lgb.Dataset(np.arange(40.0).reshape(-1, 1), label=np.arange(40.0) % 2)
>>> booster = lgb.train({"verbose": -1, "min_data_in_leaf": 1}, data, 2)
>>> path = tempfile.mkdtemp() + "/m"
>>> save_model(booster, path)
>>> type(load_model(path)).__name__
'Booster'
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

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "lightgbm"
_LOADER = "mlflow.lightgbm"  # MLflow's module name, so MLflow loads our models with its own loader
_BOOSTER = "lightgbm.basic.Booster"


def save_model(
    lgb_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save a LightGBM ``Booster`` or ``LGBMModel`` as a model folder at `path`."""
    import lightgbm as lgb

    if not isinstance(lgb_model, lgb.Booster | lgb.LGBMModel):
        raise InvalidInputError(f"lgb_model must be a lightgbm Booster or LGBMModel, got {type(lgb_model).__name__}")
    target = _prepare(path)
    model = mlflow_model or Model()
    with saving(target):  # a failed save leaves no half-written folder
        booster = isinstance(lgb_model, lgb.Booster)
        data = "model.lgb" if booster else "model.pkl"
        if booster:
            lgb_model.save_model(str(target / data))
        else:
            import cloudpickle

            with (target / data).open("wb") as f:
                cloudpickle.dump(lgb_model, f)
        code = _copy_code(target, code_paths)
        model.add_flavor(PYFUNC, loader_module=_LOADER, data=data, code=code, **python_function_env())
        model.add_flavor(FLAVOR_NAME, lgb_version=lgb.__version__, data=data,
                         model_class=f"{type(lgb_model).__module__}.{type(lgb_model).__name__}", code=code,
                         serialization_format="cloudpickle", skops_trusted_types=None)
        finish_save(target, model, signature=signature, input_example=input_example, predict=lgb_model.predict,
                    packages=["lightgbm"] + ([] if booster else ["cloudpickle", "scikit-learn"]),
                    pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements, metadata=metadata)


def _load(path: Path, model: Model) -> Any:
    conf = model.flavors.get(FLAVOR_NAME) or {}
    target = model_file(path, conf.get("data", model.flavors.get(PYFUNC, {}).get("data", "model.lgb")), "data")
    class_name = conf.get("model_class", _BOOSTER)
    fmt = conf.get("serialization_format", "cloudpickle")
    with loading(target, f"as {class_name}"):
        if class_name == _BOOSTER:
            import lightgbm as lgb

            return lgb.Booster(model_file=str(target))
        return load_pickled(target, fmt, conf.get("skops_trusted_types"))


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The LightGBM model saved at `model_uri` (``runs:/``, ``models:/``, a path or a URL)."""
    return _load(*flavor_model(model_uri, dst_path, FLAVOR_NAME))


class _LGBWrapper:
    def __init__(self, lgb_model: Any) -> None:
        self.lgb_model = lgb_model

    def get_raw_model(self) -> Any:
        return self.lgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.lgb_model.predict(data)


def _load_pyfunc(path: Path, model: Model, model_config: dict[str, Any] | None = None) -> _LGBWrapper:
    return _LGBWrapper(_load(path, model))


def log_model(
    lgb_model: Any,
    name: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Save and upload a LightGBM model as a logged model of the active run (or of no run)."""
    return _store.log_model(
        lambda path, **kw: save_model(lgb_model, path, **kw), name=name, artifact_path=artifact_path,
        registered_model_name=registered_model_name, code_paths=code_paths, signature=signature,
        input_example=input_example, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, metadata=metadata,
    )
