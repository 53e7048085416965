"""Real `tracklog server` processes for the tracing tests (the server tests' fixtures)."""

from collections.abc import Iterator
from typing import Any

from tests.server.conftest import mlflow_client_env, server, shared_server, start_server  # noqa: F401 - fixtures


def mlflow_sending_spans_at_once(mlflow: Any, url: str, monkeypatch: Any) -> Iterator[Any]:
    """MLflow's client (`mlflow_client_env`) tracing to the server at `url`, each span sent when it
    ends (not from a background thread): a read right after a trace sees it."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    mlflow.set_tracking_uri(url)
    yield mlflow
    mlflow.flush_trace_async_logging()
