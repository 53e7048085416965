"""``tracklog.lightgbm`` — MLflow's ``mlflow.lightgbm`` names (implemented in `tracklog.models.lightgbm`)."""

from tracklog.models.lightgbm import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]
