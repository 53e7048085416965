"""XGBoost: `TracklogCallback`, a ``TrainingCallback`` that logs training to a tracklog run.

>>> import numpy as np, xgboost as xgb, tempfile, tracklog
>>> tracklog.set_tracking_uri(tempfile.mkdtemp())
>>> data = xgb.DMatrix(np.arange(20.0).reshape(-1, 1), label=np.arange(20.0) % 2)
>>> with tracklog.start_run() as run:
...     _ = xgb.train({"max_depth": 2}, data, 3, evals=[(data, "train")],
...                   callbacks=[TracklogCallback(params={"max_depth": 2})], verbose_eval=False)
>>> sorted(tracklog.get_run(run.info.run_id).data.metrics)
['train-rmse']

Params (those given, else the booster's own training parameters), every evaluation result as
``<data>-<metric>`` at the iteration's step, and (``log_model=True``) the trained Booster as a
logged model in the ``xgboost`` flavor (MLflow's format) when training ends.
"""

from __future__ import annotations

import json
from typing import Any

import xgboost as xgb

from tracklog.integrations._run import RunHandle, safe_key
from tracklog.models import _store
from tracklog.models import xgboost as flavor

__all__ = ["TracklogCallback", "booster_params"]


def booster_params(booster: xgb.Booster) -> dict[str, str]:
    """The training parameters a Booster holds (its config's ``*_param`` sections, and objective)."""
    config = json.loads(booster.save_config())
    out: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("_param") and isinstance(value, dict):
                    out.update({k: str(v) for k, v in value.items() if not isinstance(v, dict | list)})
                else:
                    walk(value)

    walk(config.get("learner", {}))
    objective = config.get("learner", {}).get("objective", {}).get("name")
    if objective:
        out["objective"] = objective
    return out


class TracklogCallback(xgb.callback.TrainingCallback):
    """Log an XGBoost training to tracklog: params, each iteration's evaluation metrics, the model.

    Args:
        params: the hyperparameters to log (default: the Booster's own, read when training starts).
        log_model: log the trained model (``xgboost`` flavor) as a logged model named ``model``.
        run_id: log to this run (default: the active run, else a new one, ended with training).
    """

    def __init__(self, params: dict[str, Any] | None = None, log_model: bool = False, run_id: str | None = None,
                 model_name: str = "model") -> None:
        super().__init__()
        self.params = params
        self.log_model = log_model
        self.model_name = model_name
        self.run = RunHandle(run_id)
        self.model_info: Any = None

    def before_training(self, model: Any) -> Any:
        params = self.params if self.params is not None else booster_params(model) if isinstance(model, xgb.Booster) else {}
        self.run.log_params(params)
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, Any]]) -> bool:
        run = self.run
        run_id, log = run.run_id, run.client.log_metric  # type: ignore[union-attr]
        for data, metrics in evals_log.items():
            for name, history in metrics.items():
                value = history[-1]
                if isinstance(value, tuple):  # (mean, std) of a cross-validation
                    value = value[0]
                log(run_id, safe_key(f"{data}-{name}"), float(value), None, epoch)
        return False

    def after_training(self, model: Any) -> Any:
        try:
            if self.log_model and isinstance(model, xgb.Booster):
                self.model_info = _store.log_model(lambda path, **kw: flavor.save_model(model, path, **kw),
                                                   name=self.model_name, artifact_path=None,
                                                   registered_model_name=None, run_id=self.run.run_id)
        finally:
            self.run.end()
        return model

