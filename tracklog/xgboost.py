"""``tracklog.xgboost`` — MLflow's ``mlflow.xgboost`` names (implemented in `tracklog.models.xgboost`)."""

from tracklog.models.xgboost import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]
