"""Fill an MLflow tracking URI with one of everything, through MLflow's own API (run as a script:
``python make_mlflow_source.py URI``, in its own process, as a user of MLflow would)."""

from __future__ import annotations

import sys
import warnings

import mlflow
import pandas as pd
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression


def main(uri: str) -> None:
    warnings.simplefilter("ignore")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("exp-a")
    client = MlflowClient()
    client.set_experiment_tag(mlflow.get_experiment_by_name("exp-a").experiment_id, "owner", "ml-team")
    with mlflow.start_run(run_name="parent"):
        mlflow.log_params({"lr": 0.1, "layers": 3})
        mlflow.set_tag("team", "vision")
        for i in range(50):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            mlflow.log_metric("acc", i / 50, step=i)
        mlflow.log_metric("loss", 0.5, step=3)  # a second point at one step
        mlflow.log_metric("nan_metric", float("nan"))
        mlflow.log_text("hello", "notes/a.txt")
        mlflow.log_dict({"k": [1, 2]}, "config.json")
        mlflow.log_input(mlflow.data.from_pandas(pd.DataFrame({"a": [1, 2]}), name="train"), context="training")
        with mlflow.start_run(run_name="child", nested=True):
            mlflow.log_metric("acc", 0.25)
        model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
        mlflow.sklearn.log_model(model, name="model", registered_model_name="reg-model")
    client.set_registered_model_alias("reg-model", "champion", 1)
    client.set_registered_model_tag("reg-model", "task", "regression")
    client.update_registered_model("reg-model", description="a line")
    client.update_model_version("reg-model", 1, description="first")
    client.set_model_version_tag("reg-model", 1, "validated", "yes")
    client.transition_model_version_stage("reg-model", 1, "Staging")
    b = client.create_experiment("exp-b", tags={"t": "1"})
    run = client.create_run(b, run_name="failed-and-deleted", tags={"mlflow.user": "alice"})
    client.log_metric(run.info.run_id, "m", 3.0, timestamp=1_700_000_000_000, step=7)
    client.set_terminated(run.info.run_id, "FAILED")
    client.delete_run(run.info.run_id)
    running = client.create_run(b, run_name="still-running")
    client.log_param(running.info.run_id, "p", "x")
    gone = client.create_experiment("exp-gone")
    client.delete_experiment(gone)


if __name__ == "__main__":
    main(sys.argv[1])
