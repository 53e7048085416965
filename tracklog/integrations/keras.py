"""Keras: `TracklogCallback`, a ``keras.callbacks.Callback`` that logs training to a tracklog run.

``model.fit(x, y, callbacks=[TracklogCallback()])`` logs the fit's settings (epochs, batch
size, steps) and the optimizer's config as params, every value Keras reports at the end of an
epoch (``loss``, ``accuracy``, ``val_loss``…) at step = epoch, each batch's values too with
``log_every_n_steps`` (at step = the global batch count), and (``log_model=True``) the trained
model as the artifact ``model/model.keras`` (Keras's own format) when training ends.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import keras

from tracklog.integrations._run import RunHandle

__all__ = ["TracklogCallback"]


class TracklogCallback(keras.callbacks.Callback):
    """Log a Keras ``fit`` to tracklog.

    Args:
        log_every_n_steps: also log the batch metrics every n batches (0: per epoch only).
        log_model: save the trained model as the artifact ``model/model.keras``.
        run_id: log to this run (default: the active run, else a new one, ended with training).
        fit_params: more params to log (Keras 3 tells callbacks no ``batch_size``; autolog
            passes the fit's).
    """

    def __init__(self, log_every_n_steps: int = 0, log_model: bool = False, run_id: str | None = None,
                 fit_params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.log_every_n_steps = log_every_n_steps
        self.log_model = log_model
        self.run = RunHandle(run_id)
        self.fit_params = fit_params or {}  # what Keras 3 keeps from the callbacks (batch_size): autolog passes it
        self._step = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        params = {k: v for k, v in {**(self.params or {}), **self.fit_params}.items() if v is not None}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            config = optimizer.get_config()
            params.update({f"optimizer.{k}": _float32(v) for k, v in config.items()
                           if v is not None and not isinstance(v, dict)})
        self.run.log_params(params)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._step += 1
        if self.log_every_n_steps and self._step % self.log_every_n_steps == 0 and logs:
            self.run.log_metrics({f"batch_{k}": v for k, v in logs.items()}, self._step)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs:
            self.run.log_metrics(logs, epoch)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        try:
            if self.log_model:
                with tempfile.TemporaryDirectory(prefix="tracklog-keras-") as tmp:
                    path = os.path.join(tmp, "model.keras")
                    self.model.save(path)
                    self.run.log_artifacts([path], "model")
        finally:
            self.run.end()


def _float32(value: Any) -> Any:
    """An optimizer setting Keras keeps as a float32 variable, as it was written: ``0.01``, not
    ``0.009999999776482582``."""
    return float(f"{value:.7g}") if isinstance(value, float) else value
