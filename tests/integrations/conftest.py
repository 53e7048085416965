"""Fixtures for the integrations: tracklog installed as a package (its entry points), MLflow's
client pointed at a ``tracklog:`` store, and small training data."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def installed_tracklog(tmp_path_factory) -> Path:
    """This checkout installed by pip (a wheel built from pyproject.toml, no dependencies) into a
    folder of its own: what `pip install tracklog` puts on a machine, entry points included."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(target),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    return target


@pytest.fixture(scope="session")
def _entry_points(installed_tracklog, tmp_path_factory) -> None:
    """MLflow finds tracklog's stores through the installed package's metadata (whatever the
    environment's own install of tracklog declares): only the dist-info goes on sys.path, so
    the code is this checkout's."""
    meta = tmp_path_factory.mktemp("meta")
    for info in installed_tracklog.glob("tracklog-*.dist-info"):
        shutil.copytree(info, meta / info.name)
    sys.path.insert(0, str(meta))
    importlib.invalidate_caches()
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    _tracking_store_registry.register_entrypoints()
    if registry_utils._model_registry_store_registry is not None:  # else built (with entry points) on first use
        registry_utils._model_registry_store_registry.register_entrypoints()


@pytest.fixture
def mlflow(_entry_points, monkeypatch, tmp_path) -> Iterator[object]:
    """MLflow's fluent API with its process-wide state put back after the test."""
    mlflow = pytest.importorskip("mlflow")
    import mlflow.tracking.fluent as fluent

    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI",
                 "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.autolog(disable=True)
    for flavor in ("sklearn", "xgboost", "lightgbm"):  # a flavor's own autolog() is not undone by the above
        if flavor in sys.modules:
            getattr(mlflow, flavor).autolog(disable=True)
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(None)


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.random((120, 4))
    return x, (x[:, 0] + 0.3 * x[:, 1] > 0.6).astype(int)


def tracklog_env(site: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process that imports the installed tracklog first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRACKLOG_"))}
    env.update(PYTHONPATH=str(site), MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", **extra)
    return env
