"""System metrics: one background thread logs MLflow's ``system/…`` metrics to the runs that ask
(start_run(log_system_metrics=True), enable_system_metrics_logging(), MLflow's env vars)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import tracklog
from eventlog.errors import InvalidValueError
from tracklog.integrations import system_metrics

pytest.importorskip("psutil")


@pytest.fixture(autouse=True)
def _fast_sampling():
    system_metrics.set_system_metrics_sampling_interval(0.1)
    yield
    system_metrics.set_system_metrics_sampling_interval(None)
    system_metrics.set_system_metrics_samples_before_logging(None)
    tracklog.disable_system_metrics_logging()
    from tracklog._config import settings

    settings.system_metrics = None


def _system(run_id: str) -> dict[str, float]:
    tracklog.flush()
    metrics = tracklog.get_run(run_id).data.metrics
    return {k: v for k, v in metrics.items() if k.startswith("system/")}


def _wait_for_points(run_id: str, key: str, count: int, within: float = 30.0) -> int:
    client = tracklog.Client()
    deadline = time.monotonic() + within
    while len(client.get_metric_history(run_id, key)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(client.get_metric_history(run_id, key))


def test_mlflow_names_and_plausible_values(tracking_uri) -> None:
    """The keys are exactly those of MLflow's own CPU, disk and network monitors (no GPU here)."""
    mlflow_monitors = pytest.importorskip("mlflow.system_metrics.metrics.cpu_monitor")
    from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
    from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

    expected = set()
    for monitor in (mlflow_monitors.CPUMonitor(), DiskMonitor(), NetworkMonitor()):
        monitor.collect_metrics()
        expected |= {f"system/{k}" for k in monitor.metrics}
    with tracklog.start_run(log_system_metrics=True) as run:
        assert _wait_for_points(run.info.run_id, "system/cpu_utilization_percentage", 3) >= 3
    got = _system(run.info.run_id)
    assert set(got) == expected
    assert 0 <= got["system/cpu_utilization_percentage"] <= 100
    assert 0 < got["system/system_memory_usage_percentage"] <= 100
    assert got["system/system_memory_usage_megabytes"] > 0 and got["system/disk_available_megabytes"] > 0
    assert got["system/network_receive_megabytes"] >= 0
    steps = [m.step for m in tracklog.Client().get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")]
    assert steps == list(range(len(steps)))


def test_an_ended_run_gets_no_more_points(tracking_uri) -> None:
    with tracklog.start_run(log_system_metrics=True) as run:
        _wait_for_points(run.info.run_id, "system/cpu_utilization_percentage", 2)
    assert system_metrics.MONITOR.watching() == []
    before = len(tracklog.Client().get_metric_history(run.info.run_id, "system/cpu_utilization_percentage"))
    time.sleep(0.5)
    assert len(tracklog.Client().get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")) == before


def test_enable_and_disable(tracking_uri) -> None:
    tracklog.enable_system_metrics_logging()
    with tracklog.start_run() as on:
        assert _wait_for_points(on.info.run_id, "system/cpu_utilization_percentage", 1) >= 1
    tracklog.disable_system_metrics_logging()
    with tracklog.start_run() as off:
        time.sleep(0.4)
    assert _system(off.info.run_id) == {}
    with tracklog.start_run(log_system_metrics=False) as plain:
        time.sleep(0.3)
    assert _system(plain.info.run_id) == {}


def test_mlflow_environment_variables(tmp_path) -> None:
    """MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING, …_SAMPLING_INTERVAL and …_SAMPLES_BEFORE_LOGGING in a fresh process."""
    store = str(tmp_path / "store")
    env = {"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "true", "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "0.1",
           "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING": "3"}
    script = ("import sys, time, tracklog; tracklog.set_tracking_uri(sys.argv[1])\n"
              "with tracklog.start_run() as run: time.sleep(1.5)\n"
              "print(run.info.run_id)")
    done = subprocess.run([sys.executable, "-c", script, store], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    history = tracklog.Client(store).get_metric_history(done.stdout.split()[-1], "system/cpu_utilization_percentage")
    assert 1 <= len(history) <= 5  # 1.5 s at 0.1 s per sample, 3 samples per point: about 5 points, not 15


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "yes please", "must be true, false, 1 or 0, got 'yes please'"),
    ("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "-1", "must be a positive number, got '-1'"),
    ("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "two", "must be a positive integer, got 'two'"),
])
def test_bad_environment_values_are_refused(monkeypatch, name, raw, message) -> None:
    system_metrics.set_system_metrics_sampling_interval(None)
    monkeypatch.setenv(name, raw)
    read = {"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": system_metrics.system_metrics_enabled,
            "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": system_metrics.sampling_interval,
            "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING": system_metrics.samples_before_logging}[name]
    with pytest.raises(InvalidValueError, match=f"{name} {message}"):
        read()


@pytest.mark.parametrize("bad", [0, -2.0, "1", True])
def test_bad_setter_values_are_refused(bad) -> None:
    with pytest.raises(InvalidValueError, match="sampling interval must be a positive number of seconds"):
        tracklog.set_system_metrics_sampling_interval(bad)
