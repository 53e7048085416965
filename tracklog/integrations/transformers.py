"""Hugging Face Transformers: `TracklogCallback`, a ``TrainerCallback`` that logs to tracklog.

``Trainer(..., callbacks=[TracklogCallback()])``: the ``TrainingArguments`` and the model's
config as params (flattened, as MLflow's callback logs them), every value the trainer logs
(``loss``, ``learning_rate``, ``eval_loss``…) as a metric point at ``state.global_step``, and
(``log_checkpoints=True``) each checkpoint folder the trainer saves as artifacts under
``checkpoints/checkpoint-<step>/``.
"""

from __future__ import annotations

import os
from typing import Any

from transformers import TrainerCallback

from tracklog.integrations._run import RunHandle

__all__ = ["TracklogCallback"]


class TracklogCallback(TrainerCallback):
    """Log a Transformers ``Trainer`` run to tracklog (on the main process only).

    Args:
        log_checkpoints: upload each saved checkpoint folder as artifacts.
        run_id: log to this run (default: the active run, else a new one, ended with training).
    """

    def __init__(self, log_checkpoints: bool = False, run_id: str | None = None) -> None:
        self.log_checkpoints = log_checkpoints
        self.run = RunHandle(run_id)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        params = dict(args.to_dict())
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            params = {**config.to_dict(), **params}
        self.run.log_params({k: v for k, v in params.items() if v is not None and not isinstance(v, list | dict)})

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if state.is_world_process_zero and logs:
            self.run.log_metrics(logs, state.global_step)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not (self.log_checkpoints and state.is_world_process_zero):
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(folder):
            run_id = self.run.run_id
            client = self.run.client
            assert client is not None
            client.log_artifacts(run_id, folder, f"checkpoints/checkpoint-{state.global_step}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.run.end()
