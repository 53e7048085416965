"""``tracklog.pyfunc`` — MLflow's ``mlflow.pyfunc`` names (implemented in `tracklog.models.pyfunc`)."""

from tracklog.models.pyfunc import (
    FLAVOR_NAME,
    PyFuncModel,
    PythonModel,
    PythonModelContext,
    get_model_dependencies,
    load_model,
    log_model,
    save_model,
)

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
