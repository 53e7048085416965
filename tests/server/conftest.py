"""A real `tracklog server` process on a free loopback port, per test (or per module)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`python -m tracklog.cli server …` running; `.url`, `.log()` (its output so far), `.stop()`."""

    def __init__(self, store: str, artifacts: str | None, log_path: Path, *extra: str,
                 env: dict[str, str] | None = None, wait: bool = True, command: str = "server") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = store
        self.log_path = log_path
        args = [sys.executable, "-m", "tracklog.cli", command, "--store", store, "--port", str(self.port),
                "--log-level", "warning", *extra]
        if artifacts is not None:
            args += ["--artifacts-destination", artifacts]
        self._out = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        if wait:
            try:
                self.wait_ready()
            except BaseException:  # a server that never came up must not outlive the test
                self.proc.kill()
                self.proc.wait()
                self._out.close()
                raise

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not come up:\n{self.log()}")

    def log(self) -> str:
        self._out.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers (store and artifacts default to fresh folders); all are stopped after the test."""
    started: list[ServerProcess] = []

    def start(store: str | None = None, artifacts: str | None = "", *extra: str, **kw) -> ServerProcess:
        n = len(started)
        store = store or str(tmp_path / f"store{n}")
        if artifacts == "":
            artifacts = str(tmp_path / f"artifacts{n}")
        server = ServerProcess(store, artifacts, tmp_path / f"server{n}.log", *extra, **kw)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server) -> ServerProcess:
    return start_server()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """One server for a module whose tests do not disturb each other (saves a start per test)."""
    root = tmp_path_factory.mktemp("shared-server")
    server = ServerProcess(str(root / "store"), str(root / "artifacts"), root / "server.log")
    yield server
    server.stop()


@pytest.fixture
def mlflow_client_env(monkeypatch):
    """MLflow's client fails fast against a test server (no retries, short timeouts), and its
    process-wide state (tracking URI, active runs) is put back after the test."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    import mlflow.tracking.fluent as fluent

    previous = mlflow.get_tracking_uri()
    monkeypatch.setattr(fluent, "_active_experiment_id", None)  # it names an experiment of another server
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)  # set_experiment exports the id; put it back after
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)
