"""Models in MLflow's format: the MLmodel file, signatures, flavors, logged models, serving.

A flavor is one module with ``save_model``, ``log_model`` and ``load_model`` (and a private
``_load_pyfunc`` for the generic ``python_function`` loader): `tracklog.models.pyfunc` and
`tracklog.models.sklearn`. Adding a flavor is adding such a module and, if MLflow has the
same flavor, mapping MLflow's loader module to it in ``pyfunc._LOADERS``.
"""

from __future__ import annotations

from typing import Any

from tracklog.models import pyfunc
from tracklog.models._store import local_model_path
from tracklog.models.model import Model, ModelInfo
from tracklog.models.signature import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    SchemaEnforcementError,
    TensorSpec,
    infer_signature,
)
from tracklog.tracking.fluent import register_model

__all__ = [
    "ColSpec",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "SchemaEnforcementError",
    "TensorSpec",
    "get_model_info",
    "infer_signature",
    "register",
    "set_model",
]

def register(model_uri: str, name: str) -> int:
    """Register `model_uri` as a new version of `name` (what ``registered_model_name=`` does)."""
    return int(register_model(model_uri, name).version)


def get_model_info(model_uri: str) -> ModelInfo:
    """The `ModelInfo` of a saved or logged model, from its MLmodel file."""
    path = local_model_path(model_uri)
    model = Model.load(path)
    return ModelInfo(
        artifact_path=model.artifact_path or str(path), flavors=model.flavors, model_uri=model_uri,
        model_uuid=model.model_uuid, run_id=model.run_id, saved_input_example_info=model.saved_input_example_info,
        signature=model.signature, utc_time_created=model.utc_time_created, model_id=model.model_id,
        metadata=model.metadata,
    )


def set_model(model: Any) -> None:
    """For a models-from-code file: hand `model` (a PythonModel or a function) to the loader."""
    pyfunc.set_model(model)
