"""System metrics: CPU, memory, disk, network and GPU use, logged to runs under MLflow's names.

One background thread per process samples the machine every `sampling interval` seconds
(default 10) and, every `samples before logging` samples (default 1), logs their average to
each run that asked for them, at that run's next step (0, 1, 2…), as MLflow does:

- ``system/cpu_utilization_percentage``, ``system/system_memory_usage_megabytes``,
  ``system/system_memory_usage_percentage``;
- ``system/disk_usage_percentage``, ``system/disk_usage_megabytes``,
  ``system/disk_available_megabytes`` (the disk of the root folder);
- ``system/network_receive_megabytes``, ``system/network_transmit_megabytes`` (since the run
  started being monitored);
- per NVIDIA GPU ``i``, through nvidia-ml-py: ``system/gpu_{i}_memory_usage_percentage``,
  ``system/gpu_{i}_memory_usage_megabytes``, ``system/gpu_{i}_utilization_percentage``,
  ``system/gpu_{i}_power_usage_watts``, ``system/gpu_{i}_power_usage_percentage``.

A run asks with ``start_run(log_system_metrics=True)``, or every run does after
`enable_system_metrics_logging` or with ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true``;
``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` and ``MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING``
(or the setters below) change the pace. psutil (and nvidia-ml-py for GPUs) is the
``system-metrics`` extra: ``pip install 'tracklog[system-metrics]'``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from eventlog.errors import InvalidValueError, MissingDependencyError
from tracklog._config import settings
from tracklog.tracking._watch import RunWatcher

__all__ = [
    "SystemMetricsMonitor",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "sample",
    "sampling_interval",
    "samples_before_logging",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "system_metrics_enabled",
]

PREFIX = "system/"
DEFAULT_INTERVAL = 10.0
_log = logging.getLogger("tracklog.system_metrics")
LogMetrics = Callable[[str, dict[str, float], int], None]  # (run_id, metrics, step)


# ---- settings ---------------------------------------------------------------------------------


def enable_system_metrics_logging() -> None:
    """Log system metrics to every run started from now on (as MLflow's function of that name)."""
    settings.system_metrics = True


def disable_system_metrics_logging() -> None:
    """Stop logging system metrics to runs started from now on (unless they ask for them)."""
    settings.system_metrics = False


def system_metrics_enabled() -> bool:
    """`enable_system_metrics_logging` / `disable_…`, else ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``."""
    if settings.system_metrics is not None:
        return settings.system_metrics
    raw = os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "")
    if raw.lower() in ("", "false", "0"):
        return False
    if raw.lower() in ("true", "1"):
        return True
    raise InvalidValueError(f"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING must be true, false, 1 or 0, got {raw!r}")


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Seconds between two samples (None: back to the environment, else 10)."""
    if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0):
        raise InvalidValueError(f"the sampling interval must be a positive number of seconds, got {interval!r}")
    settings.system_metrics_interval = None if interval is None else float(interval)


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """How many samples are averaged into one logged point (None: the environment, else 1)."""
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise InvalidValueError(f"samples before logging must be a positive integer, got {samples!r}")
    settings.system_metrics_samples = samples


def sampling_interval() -> float:
    if settings.system_metrics_interval is not None:
        return settings.system_metrics_interval
    return _env_number("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", float, DEFAULT_INTERVAL)


def samples_before_logging() -> int:
    if settings.system_metrics_samples is not None:
        return settings.system_metrics_samples
    return _env_number("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", int, 1)


def _env_number(name: str, kind: type, default: Any) -> Any:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if not value > 0:
        raise InvalidValueError(f"{name} must be a positive {'integer' if kind is int else 'number'}, got {raw!r}")
    return value


# ---- sampling -----------------------------------------------------------------------------------


def _psutil() -> Any:
    try:
        import psutil
    except ImportError as exc:
        raise MissingDependencyError(
            "system metrics need psutil: pip install 'tracklog[system-metrics]' (psutil, nvidia-ml-py)") from exc
    return psutil


class _Gpus:
    """NVIDIA GPUs through NVML (nvidia-ml-py), if the library and a GPU are there."""

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.nvml: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # noqa: BLE001 - no nvidia-ml-py, no driver or no GPU: no GPU metrics
            self.handles = []

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, handle in enumerate(self.handles):
            for read in (self._memory, self._utilization, self._power):
                try:
                    out.update(read(f"gpu_{i}", handle))
                except Exception:  # noqa: BLE001 - a reading this GPU does not offer
                    continue
        return out

    def _memory(self, gpu: str, handle: Any) -> dict[str, float]:
        info = self.nvml.nvmlDeviceGetMemoryInfo(handle)
        return {f"{gpu}_memory_usage_percentage": info.used / info.total * 100,
                f"{gpu}_memory_usage_megabytes": info.used / 1e6}

    def _utilization(self, gpu: str, handle: Any) -> dict[str, float]:
        return {f"{gpu}_utilization_percentage": float(self.nvml.nvmlDeviceGetUtilizationRates(handle).gpu)}

    def _power(self, gpu: str, handle: Any) -> dict[str, float]:
        used, limit = self.nvml.nvmlDeviceGetPowerUsage(handle), self.nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
        return {f"{gpu}_power_usage_watts": used / 1000, f"{gpu}_power_usage_percentage": used / limit * 100 if limit else 0.0}


def sample(gpus: _Gpus | None = None) -> dict[str, float]:
    """One reading of the machine (without the ``system/`` prefix; network counters are totals
    since boot — a run logs them relative to its start)."""
    psutil = _psutil()
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(os.sep)
    net = psutil.net_io_counters()
    out = {
        "cpu_utilization_percentage": float(psutil.cpu_percent()),
        "system_memory_usage_megabytes": memory.used / 1e6,
        "system_memory_usage_percentage": memory.used / memory.total * 100,  # as MLflow's (not psutil's percent)
        "disk_usage_percentage": float(disk.percent),
        "disk_usage_megabytes": disk.used / 1e6,
        "disk_available_megabytes": disk.free / 1e6,
        "network_receive_megabytes": net.bytes_recv / 1e6 if net else 0.0,
        "network_transmit_megabytes": net.bytes_sent / 1e6 if net else 0.0,
    }
    if gpus is not None:
        out.update(gpus.sample())
    return out


_COUNTERS = ("network_receive_megabytes", "network_transmit_megabytes")


class _Watched:
    __slots__ = ("log", "net_start", "step")

    def __init__(self, log: LogMetrics, step: int, net_start: dict[str, float]) -> None:
        self.log = log
        self.step = step
        self.net_start = net_start


class SystemMetricsMonitor(RunWatcher[_Watched]):
    """The process's one sampling thread and the runs it logs to (`MONITOR`)."""

    thread_name = "tracklog-system-metrics"

    def _reset(self) -> None:
        super()._reset()
        self._gpus: _Gpus | None = None
        self._samples: list[dict[str, float]] = []  # read since the last logging

    def watch(self, run_id: str, log: LogMetrics, first_step: int = 0) -> None:
        """Log system metrics to `run_id` through `log(run_id, metrics, step)` from `first_step` on."""
        psutil = _psutil()
        net = psutil.net_io_counters()
        start = {"network_receive_megabytes": net.bytes_recv / 1e6, "network_transmit_megabytes": net.bytes_sent / 1e6} \
            if net else {k: 0.0 for k in _COUNTERS}
        # the first CPU reading of a process is 0: start its clock as the thread starts
        self.add(run_id, _Watched(log, first_step, start), before_start=psutil.cpu_percent)

    def interval(self) -> float:
        return sampling_interval()

    def tick(self) -> None:
        if self._gpus is None:
            self._gpus = _Gpus()
        try:
            self._samples.append(sample(self._gpus))
            if len(self._samples) >= samples_before_logging():
                samples, self._samples = self._samples, []
                self._publish(samples)
        except Exception:  # noqa: BLE001 - a failed reading or log must not stop the monitor
            _log.warning("tracklog: logging system metrics failed", exc_info=True)

    def _publish(self, samples: list[dict[str, float]]) -> None:
        keys = {k for s in samples for k in s}
        mean = {k: round(sum(s[k] for s in samples if k in s) / sum(k in s for s in samples), 1) for k in keys}
        last = samples[-1]
        for run_id, watched in self.items():
            values = dict(mean)
            for key in _COUNTERS:  # cumulative since the run started being watched, as MLflow's
                values[key] = round(last[key] - watched.net_start[key], 3)
            try:
                watched.log(run_id, {PREFIX + k: v for k, v in sorted(values.items())}, watched.step)
            except Exception:  # noqa: BLE001 - the run ended or was deleted under us
                _log.debug("tracklog: system metrics for run %s not logged", run_id, exc_info=True)
                self.unwatch(run_id)
                continue
            watched.step += 1

MONITOR = SystemMetricsMonitor()
