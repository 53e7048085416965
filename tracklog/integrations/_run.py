"""What every callback does: find its run, log params, metrics and artifacts to it, end it.

A callback logs to the active run (`tracklog.start_run`) if there is one, else to a run it
starts itself, which it ends when training ends (FINISHED, or FAILED). Metrics go straight to
the run's `tracklog.Client` — a metric point is a buffer append — and params are stringified,
flattened (``optimizer.lr``) and sent 100 at a time, MLflow's batch limit.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any

from eventlog.errors import InvalidInputError
from eventlog.validation import MAX_PARAM_VAL_LENGTH
from projections.entities import Param, RunStatus
from tracklog.tracking import fluent
from tracklog.tracking.client import Client

__all__ = ["RunHandle", "flatten", "numeric", "safe_key"]

_PARAM_BATCH = 100
_UNSAFE = re.compile(r"[^\w\-. :/]")
_safe: dict[str, str] = {}


def safe_key(name: str) -> str:
    """A framework's metric or param name as a valid tracklog key: ``ndcg@3`` → ``ndcg_at_3``
    (as MLflow's autologging writes it), other characters tracklog refuses → ``_``."""
    found = _safe.get(name)
    if found is None:
        found = _UNSAFE.sub("_", str(name).replace("@", "_at_")).strip("/") or "_"
        if len(_safe) < 100_000:
            _safe[name] = found
    return found


def flatten(params: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts as one level: ``{"opt": {"lr": 0.1}}`` → ``{"opt.lr": 0.1}``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


def numeric(value: Any) -> float | None:
    """`value` as a float if it is a real number (a Python, numpy or 0-d tensor one), else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0 and getattr(value, "size", 1) in (1, None):
        try:
            got = item()
        except (TypeError, ValueError, RuntimeError):
            return None
        return float(got) if isinstance(got, numbers.Real) else None
    return None


class RunHandle:
    """The run a callback logs to: the active run, else one it starts (and ends) itself.

    Args:
        run_id: log to this run (it must exist); default: the active run, else a new one.
        experiment_name / run_name / tags: for a run the handle starts.
    """

    def __init__(self, run_id: str | None = None, experiment_name: str | None = None, run_name: str | None = None,
                 tags: dict[str, Any] | None = None) -> None:
        self._run_id = run_id
        self._experiment_name = experiment_name
        self._run_name = run_name
        self._tags = tags
        self.client: Client | None = None
        self.owned = False  # this handle started the run (and so ends it)
        self._params_seen: dict[str, str] = {}

    @property
    def run_id(self) -> str:
        return self.start()

    def start(self) -> str:
        """The run's id, starting or attaching to the run on first use."""
        if self._run_id is not None and self.client is not None:
            return self._run_id
        active = fluent.active_run()
        if self._run_id is not None:
            self.client = active._client if active is not None and active.run_id == self._run_id else fluent._client()
            self.client.require_active_run(self._run_id)
        elif active is not None:
            self.client, self._run_id = active._client, active.run_id
        else:
            if self._experiment_name:
                fluent.set_experiment(self._experiment_name)
            started = fluent.start_run(run_name=self._run_name, tags=self._tags)
            self.client, self._run_id, self.owned = started._client, started.run_id, True
        return self._run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (flattened, stringified, truncated to MLflow's length); a key already
        logged with the same value is skipped, as is one this run holds with another value."""
        run_id = self.start()
        assert self.client is not None
        fresh = []
        for name, value in flatten(params).items():
            key = safe_key(name)
            text = str(value)[:MAX_PARAM_VAL_LENGTH]
            if key in self._params_seen:
                continue
            self._params_seen[key] = text
            fresh.append(Param(key, text))
        for start in range(0, len(fresh), _PARAM_BATCH):
            batch = fresh[start:start + _PARAM_BATCH]
            try:  # the store checks what the run holds cheaply; reading the whole run costs a fold
                self.client.log_batch(run_id, params=batch)
            except InvalidInputError:  # a key the run holds with another value: keep the run's
                held = self.client.get_run(run_id).data.params
                kept = [p for p in batch if p.key not in held]
                if kept:
                    self.client.log_batch(run_id, params=kept)

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """Numeric values as metric points at `step` (other values are skipped)."""
        run_id = self.start()
        client = self.client
        assert client is not None
        log = client.log_metric
        for key, value in metrics.items():
            number = value if value.__class__ is float else numeric(value)
            if number is not None:
                log(run_id, _safe.get(key) or safe_key(key), number, None, step)

    def log_artifacts(self, paths: Iterable[str], artifact_path: str | None = None) -> None:
        run_id = self.start()
        assert self.client is not None
        for path in paths:
            self.client.log_artifact(run_id, path, artifact_path)

    def end(self, failed: bool = False) -> None:
        """End the run if this handle started it (FAILED if training failed)."""
        if not self.owned or self._run_id is None:
            return
        active = fluent.active_run()
        status = RunStatus.FAILED if failed else RunStatus.FINISHED
        if active is not None and active.run_id == self._run_id:
            fluent.end_run(status)
        elif self.client is not None:
            self.client.set_terminated(self._run_id, status)
        self.owned = False
