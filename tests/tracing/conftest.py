"""Real `tracklog server` processes for the tracing tests (the server tests' fixtures)."""

from tests.server.conftest import mlflow_client_env, server, shared_server, start_server  # noqa: F401 - fixtures
