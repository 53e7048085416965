"""The server's vocabulary: a `Route` (one row of the route table), its `Access` rule, and the
`Call` a handler receives. Handlers import this module, never the app.

A handler is ``handler(call, body)``: `body` is the request decoded into the route's msgspec
Struct (JSON for POST/PATCH/PUT/DELETE, the query string for GET), or None for a route without
one. It returns a Struct or dict (sent as JSON) or an ASGI response (a file, a stream). A plain
function runs in a worker thread (reads query DuckDB); a coroutine function runs on the event
loop and must not block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from eventlog.writer import ACTOR

if TYPE_CHECKING:
    from starlette.requests import Request

    from projections.scope import Scope

__all__ = ["ARTIFACTS", "MLFLOW", "ROOT", "TRACKLOG", "Access", "Call", "Route"]

MLFLOW = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/")
ARTIFACTS = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")
TRACKLOG = ("/api/2.0/tracklog/", "/ajax-api/2.0/tracklog/")
ROOT = ("/",)


class Access(NamedTuple):
    """What a route needs: the `kind` of resource (experiment, run, model, logged_model, artifact;
    or create, any, sql, events, ui, admin, handler: the handler checks), the `level` (READ, EDIT,
    MANAGE), and the body field or path parameter naming the resource."""

    kind: str
    level: str = "READ"
    field: str = ""


class Route(NamedTuple):
    """One endpoint: served under each prefix of `family`; ``{name}`` path segments are
    parameters (``{name:path}`` takes the rest of the path)."""

    method: str
    path: str
    body: type[msgspec.Struct] | None
    handler: Callable[..., Any]
    access: Access | None  # None: public
    family: tuple[str, ...] = MLFLOW


class Call:
    """One request as a handler sees it: the server, the caller, the path parameters, and the
    raw request (for handlers that stream a body)."""

    __slots__ = ("params", "request", "server", "user")

    def __init__(self, server: Any, user: Any, params: dict[str, str], request: Request | None = None) -> None:
        self.server = server
        self.user = user
        self.params = params
        self.request = request

    @property
    def client(self) -> Any:
        """The store's `tracklog.Client`: every read and write goes through it."""
        return self.server.client

    @property
    def store(self) -> Any:
        """The server's `ServerStore` (the catalog, kept warm in the background)."""
        return self.server.store

    def require(self, kind: str, ref: str, level: str) -> None:
        if self.server.auth is not None:
            self.server.auth.require(self, kind, ref, level)

    def readable_experiments(self, scope: set[str] | None = None) -> Callable[[str], bool]:
        if self.server.auth is None:
            return _everything
        return self.server.auth.readable(self, "experiment")  # type: ignore[no-any-return]

    def readable_models(self) -> Callable[[str], bool]:
        if self.server.auth is None:
            return _everything
        return self.server.auth.readable(self, "model")  # type: ignore[no-any-return]

    def read_scope(self) -> Scope | None:
        """The experiments and models the caller may read, for reads that span many (SQL, the UI's
        tables, the event stream); None: everything (no auth, an admin, nothing hidden)."""
        if self.server.auth is None:
            return None
        return self.server.auth.read_scope(self)  # type: ignore[no-any-return]

    def granted(self, kind: str, ref: str) -> None:
        """The caller created `ref`: it may manage it."""
        if self.server.auth is not None:
            self.server.auth.grant_creator(self, kind, ref)

    def renamed(self, kind: str, old: str, new: str) -> None:
        if self.server.auth is not None:
            self.server.auth.renamed(kind, old, new)

    def deleted(self, kind: str, ref: str) -> None:
        """`ref` is gone for good (a registered model: its name is free again): so are its grants."""
        if self.server.auth is not None:
            self.server.auth.revoke_all(kind, ref)

    def act_as(self, user_id: str) -> None:
        """Without auth, a run's creator is the ``user_id`` its client sent (MLflow's rule)."""
        if self.server.auth is None and user_id:
            ACTOR.set(user_id)

    def experiment_of(self, kind: str, ref: str) -> str | None:
        """The experiment a run or logged model belongs to (None: no such one)."""
        return self.server.experiment_of(kind, ref)  # type: ignore[no-any-return]


def _everything(ref: str) -> bool:
    return True
