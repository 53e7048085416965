"""MLflow sources built by MLflow itself in a process of its own, and helpers comparing stores."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def mlflow_env(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRACKLOG_"))}
    env.update(MLFLOW_ALLOW_FILE_STORE="true", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", PYTHONPATH=str(HERE.parents[1]))
    return env


@pytest.fixture(scope="session", params=["sqlite", "file"])
def mlflow_source(request, tmp_path_factory) -> str:
    """An MLflow tracking URI (sqlite database, or mlruns folder) with one of everything."""
    folder = tmp_path_factory.mktemp(f"mlflow-{request.param}")
    uri = f"sqlite:///{folder}/mlflow.db" if request.param == "sqlite" else str(folder / "mlruns")
    subprocess.run([sys.executable, str(HERE / "make_mlflow_source.py"), uri], cwd=folder, env=mlflow_env(folder),
                   check=True, capture_output=True, timeout=300)
    return uri


@pytest.fixture(autouse=True)
def _mlflow_state(monkeypatch) -> Iterator[None]:
    """MLflow's process-wide tracking URI is put back after each test."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield
    import mlflow

    mlflow.set_tracking_uri(None)


def bulk_sqlite_source(path: Path, runs: int, points_per_run: int) -> list[str]:
    """An MLflow sqlite database with `runs` finished runs of `points_per_run` points each (runs
    made by MLflow's client; points inserted into its ``metrics`` table as MLflow stores them)."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{path}")
    exp = client.create_experiment("bulk")
    ids = []
    for i in range(runs):
        run = client.create_run(exp, run_name=f"r{i}")
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    con = sqlite3.connect(path)
    for run_id in ids:
        con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)",
                        [(f"k{s % 3}", s * 0.5, 1_700_000_000_000 + s, run_id, s) for s in range(points_per_run)])
    con.commit()
    con.close()
    return ids


def copy_tree(src: str, dest: str) -> None:
    shutil.copytree(src, dest)
