"""PyTorch Lightning: `TracklogLogger`, a Lightning ``Logger`` that writes to a tracklog run.

``Trainer(logger=TracklogLogger())``: hyperparameters (``save_hyperparameters``, flattened:
``optimizer.lr``) as params, every ``self.log(...)`` value as a metric point at the trainer's
step, and (``log_model=True``) each checkpoint the ``ModelCheckpoint`` callback saves as an
artifact under ``checkpoints/``. Works with ``lightning`` and ``pytorch_lightning``.
"""

from __future__ import annotations

import os
from argparse import Namespace
from typing import Any

try:  # the unified package first, then the standalone one
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
    from lightning.pytorch.utilities import rank_zero_only
except ImportError:  # pragma: no cover - only pytorch_lightning installed
    from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment  # type: ignore[no-redef,assignment]
    from pytorch_lightning.utilities import rank_zero_only  # type: ignore[no-redef]

from tracklog.integrations._run import RunHandle
from tracklog.tracking.client import Client

__all__ = ["TracklogLogger"]


class TracklogLogger(Logger):
    """A Lightning logger writing to tracklog.

    Args:
        experiment_name: the experiment of a run this logger starts (default: the current one).
        run_name: its name.
        run_id: log to this existing run (default: the active run, else a new one).
        log_model: log checkpoints as artifacts (``checkpoints/<file>``) as they are saved.
        prefix: put before every metric key (``train/`` …).
    """

    def __init__(self, experiment_name: str | None = None, run_name: str | None = None, run_id: str | None = None,
                 log_model: bool = False, prefix: str = "", tags: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.run = RunHandle(run_id, experiment_name, run_name, tags)
        self._log_model = log_model
        self._prefix = prefix
        self._logged_checkpoints: set[tuple[str, float]] = set()

    @property
    def name(self) -> str:
        return "tracklog"

    @property
    def version(self) -> str:
        return self.run.run_id

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    @rank_zero_experiment
    def experiment(self) -> Client:
        """The `tracklog.Client` of the run (``logger.experiment.log_text(logger.run_id, …)``)."""
        self.run.start()
        assert self.run.client is not None
        return self.run.client

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        values = vars(params) if isinstance(params, Namespace) else dict(params or {})
        self.run.log_params(values)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self._prefix:
            metrics = {f"{self._prefix}{k}": v for k, v in metrics.items()}
        self.run.log_metrics(metrics, 0 if step is None else int(step))

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if not self._log_model:
            return
        paths = [p for p in [getattr(checkpoint_callback, "best_model_path", ""),
                             getattr(checkpoint_callback, "last_model_path", "")] if p and os.path.isfile(p)]
        paths += [p for p in getattr(checkpoint_callback, "best_k_models", {}) if os.path.isfile(p)]
        fresh = sorted({p for p in paths if (p, os.path.getmtime(p)) not in self._logged_checkpoints})
        for path in fresh:
            self._logged_checkpoints.add((path, os.path.getmtime(path)))
        if fresh:
            self.run.log_artifacts(fresh, "checkpoints")

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self.run.client is not None:
            self.run.end(failed=status == "failed")
