"""Shared fixtures: stores on every backend (a local folder, memory://, a real S3 server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# a 2-core CI box has slow first calls (pyarrow warms up); time limits belong in benchmarks/
settings.register_profile("tracklog", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tracklog")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """A moto S3 server in its own process on loopback; the AWS env points every client at it."""
    pytest.importorskip("s3fs")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto server did not start")
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "TRACKLOG_CACHE_DIR")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1",
        TRACKLOG_CACHE_DIR=str(tmp_path_factory.mktemp("tracklog-cache")),  # WALs and catalogs of S3 stores
    )
    import boto3

    boto3.client("s3").create_bucket(Bucket="tracklog-tests")
    yield endpoint
    proc.kill()
    proc.wait()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(params=["local", "memory", "s3"])
def store_uri(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, empty store URI on each backend."""
    if request.param == "local":
        return str(tmp_path / "store")
    if request.param == "memory":
        return f"memory://tracklog-{uuid.uuid4().hex}"
    request.getfixturevalue("s3_endpoint")
    return f"s3://tracklog-tests/{uuid.uuid4().hex}"


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch) -> Iterator[str]:
    """A fresh, empty local tracking store (its folder exists) set as the fluent API's URI;
    active runs are cleared after."""
    import tracklog
    from tracklog._config import settings

    uri = str(tmp_path / "tracking")
    os.mkdir(uri)
    monkeypatch.delenv("TRACKLOG_TRACKING_URI", raising=False)
    for var in ("TRACKLOG_RUN_ID", "MLFLOW_RUN_ID", "TRACKLOG_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID",
                "TRACKLOG_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    tracklog.set_tracking_uri(uri)
    yield uri
    while tracklog.active_run() is not None:
        tracklog.end_run()
    settings.tracking_uri = None
    settings.experiment_id = None


_ISOLATED_ENV = ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "TRACKLOG_EXPERIMENT_ID", "TRACKLOG_EXPERIMENT_NAME",
                 "MLFLOW_RUN_ID", "TRACKLOG_RUN_ID", "MLFLOW_TRACKING_URI", "TRACKLOG_TRACKING_URI")


@pytest.fixture(autouse=True)
def _isolate_tracking_state() -> Iterator[None]:
    """Each test starts from the process's tracking settings and env, whatever the last one set."""
    from tracklog._config import settings

    saved_env = {k: os.environ.get(k) for k in _ISOLATED_ENV}
    saved = dict(vars(settings))
    yield
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for key, value in saved.items():
        setattr(settings, key, value)


class Listener:
    """A TCP port that counts the connections made to it (an outbound request would show here)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()
