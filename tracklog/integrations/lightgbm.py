"""LightGBM: `TracklogCallback`, a training callback that logs to a tracklog run.

>>> import numpy as np, lightgbm as lgb, tempfile, tracklog
>>> tracklog.set_tracking_uri(tempfile.mkdtemp())
>>> data = lgb.Dataset(np.arange(40.0).reshape(-1, 1), label=np.arange(40.0) % 2)
>>> with tracklog.start_run() as run:
...     _ = lgb.train({"verbose": -1, "min_data_in_leaf": 1}, data, 3, valid_sets=[data], valid_names=["train"],
...                   callbacks=[TracklogCallback()])
>>> sorted(tracklog.get_run(run.info.run_id).data.metrics)
['train-l2']

The training params (once, at the first iteration), every evaluation result as
``<data>-<metric>`` at the iteration's step (``@`` written ``_at_``, as MLflow's), and
(``log_model=True``) the Booster as a logged model in the ``lightgbm`` flavor after the last
iteration (a training stopped early has no last iteration: log it with
``tracklog.lightgbm.log_model``, or use `tracklog.autolog`, which does).
"""

from __future__ import annotations

from typing import Any

from tracklog.integrations._run import RunHandle, safe_key
from tracklog.models import _store
from tracklog.models import lightgbm as flavor

__all__ = ["TracklogCallback"]


class TracklogCallback:
    """A LightGBM callback (``lgb.train(..., callbacks=[TracklogCallback()])``).

    Args:
        log_model: log the Booster (``lightgbm`` flavor) as a logged model named ``model`` after
            the last iteration.
        run_id: log to this run (default: the active run, else a new one, ended with training).
    """

    order = 25  # after LightGBM's own recording callbacks (record_evaluation is 20)
    before_iteration = False

    def __init__(self, log_model: bool = False, run_id: str | None = None, model_name: str = "model",
                 end_run: bool = True) -> None:
        self.log_model = log_model
        self.model_name = model_name
        self.end_run = end_run
        self.run = RunHandle(run_id)
        self._started = False
        self.model_info: Any = None

    def __call__(self, env: Any) -> None:
        run = self.run
        if not self._started:
            self._started = True
            run.log_params(env.params)
        run_id, log = run.run_id, run.client.log_metric  # type: ignore[union-attr]
        for data_name, eval_name, value, *_ in env.evaluation_result_list or ():
            log(run_id, safe_key(f"{data_name}-{eval_name}"), float(value), None, env.iteration)
        if env.iteration + 1 >= env.end_iteration:
            self.finish(env.model)

    def finish(self, booster: Any, failed: bool = False) -> None:
        """Training ended: log the model (if asked) and end the run this callback started."""
        try:
            if self.log_model and booster is not None and not failed and self.model_info is None:
                self.model_info = _store.log_model(lambda path, **kw: flavor.save_model(booster, path, **kw),
                                                   name=self.model_name, artifact_path=None,
                                                   registered_model_name=None, run_id=self.run.run_id)
        finally:
            if self.end_run:
                self.run.end(failed)
