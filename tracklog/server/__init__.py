"""The tracking server: MLflow's REST API over a tracklog store, with an artifact proxy and auth.

``tracklog server --store URI --artifacts-destination URI`` serves it; MLflow's own client,
pointed at it with ``mlflow.set_tracking_uri("http://…")``, works unchanged, and so does
tracklog's (``tracklog.set_tracking_uri("http://…")``). See ``docs/server.md``.
"""

from tracklog.server.app import Server, create_app, serve

__all__ = ["Server", "create_app", "serve"]
