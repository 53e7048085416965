"""The ASGI app: one route table (`tracklog.server.routes.ROUTES`), one dispatcher, the web UI.

    /api/2.0/mlflow/…            MLflow's tracking, logged-model and registry API (and /api/3.0, /ajax-api/…)
    /api/2.0/mlflow-artifacts/…  the artifact proxy
    /api/2.0/tracklog/…          read-only SQL, live events, tokens, the UI's reads
    /health, /version            liveness
    /                            the web UI (``ui/dist``), or how to build it

The dispatcher finds the route by method and path, authenticates the caller, decodes the body
into the route's Struct, checks access, calls the handler (a plain function in a worker thread,
a coroutine on the event loop) and encodes the reply. Every error becomes MLflow's
``{"error_code", "message"}`` with MLflow's status (`tracklog.server.errors`); nothing escapes
to uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import msgspec
from starlette.requests import Request

from eventlog.errors import EndpointNotFoundError, RunNotFoundError
from eventlog.writer import ACTOR
from projections.entities import encode_hook
from query.sandbox import Sandbox
from tracklog._config import get_artifact_root, set_artifact_root
from tracklog.server import ui
from tracklog.server._body import decode_json, read_body, validation_message
from tracklog.server.artifacts import PROXY_SCHEME, ArtifactDestination, as_uri
from tracklog.server.errors import ApiError, error_body
from tracklog.server.events import EventFeed
from tracklog.server.routes import ROUTES
from tracklog.server.routing import MLFLOW, Call, Route
from tracklog.server.store import ServerStore
from tracklog.tracking.client import Client
from tracklog.tracking.local import LocalStore

__all__ = ["App", "Server", "create_app", "serve"]

_log = logging.getLogger("tracklog.server")
_encode = msgspec.json.Encoder(enc_hook=encode_hook).encode
DEFAULT_MAX_BODY = 16 << 20  # JSON bodies: MLflow's largest batch (1000 metrics, 100 params) is well under 2 MB
DEFAULT_SQL_MAX_ROWS = 100_000
DEFAULT_SQL_MEMORY = 256 << 20
INLINE_DECODE = 1 << 20  # bodies larger than this decode on a worker thread
JSON = [(b"content-type", b"application/json")]


class Server:
    """What the app serves: one store, its artifact destination, auth and limits.

    A server owns its process: it sets the process's artifact root (`tracklog.set_artifact_root`)
    to the destination, so experiments created through it keep their files there.

    Args:
        store_uri: the tracking store (a folder, ``file://…``, ``s3://…``, ``memory://…``).
        artifacts_destination: where proxied artifacts live (default: the store's ``artifacts/``).
        auth: an `Auth`, or None for an open server.
        max_body: the largest JSON body accepted, in bytes (larger: 413).
        max_upload: the largest artifact upload accepted, in bytes (None: no limit).
        ui_dir: the built web UI (default ``ui/dist`` next to the package, if present).
        sql_timeout: seconds an SQL query may run.
        sql_max_rows: the most rows one SQL request answers (JSON, CSV or Parquet).
        sql_memory_limit: bytes of memory one SQL query may use (DuckDB's ``memory_limit``).
        sql_temp_limit: bytes of temporary files one SQL query may spill (0: none).
        sql_concurrency: SQL queries run at once (the others wait): memory is at most this many
            times `sql_memory_limit`.
        allowed_artifact_roots: other locations API callers may put experiments' artifacts at
            (the destination and the store's ``artifacts/`` always are).
        default_artifact_root: where new experiments keep their artifacts (MLflow's
            ``--default-artifact-root``): default the destination, shown as ``mlflow-artifacts:/``;
            another location is used and shown as it is (and allowed).
        serve_artifacts: False (``--no-serve-artifacts``): no artifact proxy; clients are shown
            real artifact URIs and read and write them themselves.
        refresh_interval: seconds between folds of other processes' events.
    """

    def __init__(self, store_uri: str, artifacts_destination: str | None = None, *, auth: Any = None,
                 max_body: int = DEFAULT_MAX_BODY, max_upload: int | None = None, ui_dir: str | None = None,
                 sql_timeout: float = 30.0, sql_max_rows: int = DEFAULT_SQL_MAX_ROWS,
                 sql_memory_limit: int = DEFAULT_SQL_MEMORY, sql_temp_limit: int = 0, sql_concurrency: int = 2,
                 allowed_artifact_roots: Sequence[str] = (), refresh_interval: float = 1.0,
                 default_artifact_root: str | None = None, serve_artifacts: bool = True) -> None:
        self.client = Client(store_uri)
        if not isinstance(self.client.store, LocalStore):
            raise ApiError("INVALID_PARAMETER_VALUE", f"a tracking server serves a store, not another server: {store_uri!r}")
        local: LocalStore = self.client.store
        local.create_store()  # a server takes writes: it serves a new store from the start
        self.on_stop: list[Callable[[], None]] = []  # asked to stop: end what would hold the stop up (live streams)
        store_artifacts = local.log.artifact_root  # where local clients of the store keep theirs
        default_root = None if (default_artifact_root or PROXY_SCHEME).startswith(PROXY_SCHEME) else default_artifact_root
        self.destination = ArtifactDestination(
            artifacts_destination or store_artifacts, serving=serve_artifacts,
            allowed=[store_artifacts, *allowed_artifact_roots, *([default_root] if default_root else [])])
        set_artifact_root(default_root or self.destination.uri)  # experiments created here keep artifacts there
        self.default_root = as_uri(get_artifact_root() or self.destination.uri)
        self.store = ServerStore(self.client, refresh_interval=refresh_interval)
        self.feed = EventFeed(self.store)
        self.on_stop.append(self.feed.close)
        self.auth = auth
        self.max_body = max_body
        self.max_upload = max_upload
        self.ui_dir = ui_dir if ui_dir is not None else _default_ui_dir()
        self.sql_timeout = sql_timeout
        self.sql_max_rows = sql_max_rows
        self._scrub = [(s, "<store>") for s in {local.log.uri, local.uri} if len(s) > 1]
        if self.destination.local_root:
            self._scrub.append((self.destination.local_root, "<artifacts>"))
        self.sandbox = Sandbox(memory_limit=sql_memory_limit, temp_limit=sql_temp_limit, timeout=sql_timeout,
                               hide=self._hidden_paths())
        self.sql_slots = anyio.CapacityLimiter(sql_concurrency)

    def _hidden_paths(self) -> list[tuple[str, str]]:
        """What SQL results show instead of the server's paths: the destination as the proxy's
        ``mlflow-artifacts:/`` URIs, the store as ``<store>``."""
        hide = [(self.destination.uri + "/", f"{PROXY_SCHEME}/")]
        if self.destination.local_root:
            hide.append((self.destination.local_root.rstrip("/") + "/", f"{PROXY_SCHEME}/"))
        for path, name in self._scrub:
            if name == "<store>":
                hide += [(path.rstrip("/") + "/", "<store>/"), ("file://" + path.rstrip("/") + "/", "<store>/")]
        return hide

    def experiment_location(self, experiment_id: str, location: str) -> str:
        """Where an experiment's artifacts are: the implicit experiment 0 follows the default root."""
        return f"{self.default_root}/0" if experiment_id == "0" else location

    def experiment_of(self, kind: str, ref: str) -> str | None:
        """The experiment a run or logged model belongs to (None: no such one)."""
        try:
            if kind == "run":
                return str(self.client.get_run(ref).info.experiment_id)
            if kind == "logged_model":
                return str(self.client.get_logged_model(ref).experiment_id)
        except (RunNotFoundError, LookupError):
            return None
        raise AssertionError(kind)

    def scrub(self, message: str) -> str:
        """An error message without the server's own paths in it."""
        for path, name in self._scrub:
            message = message.replace(path, name)
        return message


def _default_ui_dir() -> str:
    """``TRACKLOG_UI_DIR``, else ``ui/dist`` of the source tree (where ``npm run build`` writes)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("TRACKLOG_UI_DIR") or os.path.join(os.path.dirname(os.path.dirname(here)), "ui", "dist")


class _Decoder:
    """Turns a request into a route's body Struct: JSON for POST/PATCH/PUT/DELETE, the query
    string for GET; lax about number spellings, as protobuf's JSON parser is."""

    def __init__(self, body: type[msgspec.Struct]) -> None:
        self.type = body
        self.json = msgspec.json.Decoder(body, strict=False)
        self.lists = {f.name for f in msgspec.structs.fields(body) if _is_list(f.type)}

    async def from_json(self, data: bytes) -> Any:
        """Within the nesting limit (`tracklog.server._body`); a big body decodes on a worker
        thread, so the loop keeps serving."""
        if len(data) > INLINE_DECODE:
            return await anyio.to_thread.run_sync(decode_json, self.json, data)
        return decode_json(self.json, data)

    def from_query(self, query: bytes) -> Any:
        values: dict[str, Any] = {}
        for key, value in urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if key in self.lists:
                values.setdefault(key, []).append(value)
            else:
                values.setdefault(key, value)
        try:
            return msgspec.convert(values, self.type, strict=False)
        except msgspec.ValidationError as exc:
            raise ApiError("INVALID_PARAMETER_VALUE", validation_message(exc, values)) from exc


def _is_list(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return getattr(annotation, "__origin__", None) is list or text.startswith("list[")


class _Table:
    """The route table as lookups: exact paths in a dict, parameterised ones in a list."""

    def __init__(self, routes: list[Route]) -> None:
        self.exact: dict[tuple[str, str], Route] = {}
        self.patterns: list[tuple[Route, list[str]]] = []
        self.paths: set[str] = set()
        self.decoders = {r: _Decoder(r.body) for r in routes if r.body is not None}
        self.is_async = {r.handler: inspect.iscoroutinefunction(r.handler) for r in routes}
        for route in routes:
            for prefix in route.family:
                path = prefix + route.path if prefix != "/" else "/" + route.path
                if "{" in path:
                    self.patterns.append((route, path.split("/")))
                else:
                    self.exact[(route.method, path)] = route
                    self.paths.add(path)
        self.prefixes = tuple(sorted({p for r in routes for p in r.family if p != "/"}))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        found = self.exact.get((method, path))
        if found is not None:
            return found, {}
        parts = path.split("/")
        known = path in self.paths
        for route, pattern in self.patterns:
            params = _bind(pattern, parts)
            if params is None:
                continue
            if route.method != method:
                known = True
                continue
            return route, params
        if known:
            raise ApiError("BAD_REQUEST", f"{method} is not allowed on {path}", status=405)
        if path.startswith(self.prefixes):
            raise EndpointNotFoundError(f"No API endpoint {method} {path}")
        return None


def _bind(pattern: list[str], parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, p in enumerate(pattern):
        if p.endswith(":path}"):
            rest = "/".join(parts[i:])
            if not rest:
                return None
            params[p[1:-6]] = urllib.parse.unquote(rest)
            return params
        if i >= len(parts):
            return None
        if p.startswith("{"):
            if not parts[i]:
                return None
            params[p[1:-1]] = urllib.parse.unquote(parts[i])
        elif p != parts[i]:
            return None
    return params if len(pattern) == len(parts) else None


class App:
    """The ASGI callable; see the module docstring for what it serves."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.table = _Table(ROUTES)
        self.ui = ui.app(server)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        method, path = scope["method"], scope["path"]
        try:
            found = self.table.match("GET" if method == "HEAD" else method, path)
            if found is None:  # not an API path: the web UI
                await self.ui(scope, receive, send)
                return
            await self._call(scope, receive, send, *found)
        except Exception as exc:  # every failure is MLflow's error JSON; nothing escapes to uvicorn
            status, body = error_body(exc, f"{method} {path}", self.server.scrub)
            await _send(send, status, body, getattr(exc, "headers", None))

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await anyio.to_thread.run_sync(self.server.store.start)
                except Exception as exc:  # the server cannot serve this store: say why, once
                    _log.exception("tracklog server: cannot open the store")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await anyio.to_thread.run_sync(self.server.store.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _call(self, scope: dict[str, Any], receive: Any, send: Any, route: Route, params: dict[str, str]) -> None:
        request = Request(scope, receive)
        user = None if route.access is None else await self._authenticate(scope)  # public: liveness
        call = Call(self.server, user, params, request)
        decoder = self.table.decoders.get(route)
        body = None if decoder is None else await self._body(scope, receive, route, decoder)
        if self.table.is_async[route.handler]:
            self._check(call, route, body)
            reply = await route.handler(call, body)
        else:  # in a worker thread, access check included (it may look the run up)
            reply = await anyio.to_thread.run_sync(_in_context(self._checked(route)), call, body)
        if isinstance(reply, msgspec.Struct | dict):
            await _send(send, 200, _encode(reply))
        else:  # a file or a stream
            await reply(scope, receive, send)

    def _check(self, call: Call, route: Route, body: Any) -> None:
        if route.access is not None and self.server.auth is not None:
            self.server.auth.check(call, route.access, body)

    def _checked(self, route: Route) -> Any:
        def run(call: Call, body: Any) -> Any:
            self._check(call, route, body)
            return route.handler(call, body)

        return run

    async def _authenticate(self, scope: dict[str, Any]) -> Any:
        if self.server.auth is None:
            return None
        user = await self.server.auth.authenticate(scope)
        ACTOR.set(user.username)  # the events of this request are recorded as this user's
        return user

    async def _body(self, scope: dict[str, Any], receive: Any, route: Route, decoder: _Decoder) -> Any:
        method = route.method
        if method == "GET":
            return decoder.from_query(scope.get("query_string", b""))
        data = await read_body(scope, receive, self.server.max_body)
        if method in ("POST", "PUT") and data and route.family is MLFLOW:  # MLflow's server insists; ours reads JSON
            content_type = _header(scope, b"content-type").split(";")[0].strip()
            if content_type != "application/json":
                raise ApiError("INVALID_PARAMETER_VALUE",
                               f"Bad Request. Content-Type must be one of ['application/json'], got {content_type!r}.")
        if not data and scope.get("query_string"):
            data = msgspec.json.encode(dict(urllib.parse.parse_qsl(scope["query_string"].decode("latin-1"))))
        return await decoder.from_json(data)


def _in_context(handler: Any) -> Any:
    """`handler` for a worker thread, with the request's actor (a ContextVar) set there too."""
    actor = ACTOR.get()

    def run(call: Call, body: Any) -> Any:
        token = ACTOR.set(actor)
        try:
            return handler(call, body)
        finally:
            ACTOR.reset(token)

    return run


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


async def _send(send: Any, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
    headers = [*JSON, (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]  # Retry-After on a 429
    if status == 401:
        headers.append((b"www-authenticate", b'Basic realm="tracklog"'))
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(store_uri: str, artifacts_destination: str | None = None, **options: Any) -> App:
    """The ASGI app serving `store_uri` (see `Server` for the options); uvicorn runs it."""
    return App(Server(store_uri, artifacts_destination, **options))


def serve(store_uri: str, artifacts_destination: str | None = None, *, host: str = "127.0.0.1", port: int = 5000,
          log_level: str = "info", access_log: bool = True, **options: Any) -> None:
    """Serve `store_uri` with uvicorn until interrupted (one process: the store's one writer here)."""
    import uvicorn

    app = create_app(store_uri, artifacts_destination, **options)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log,
                                           lifespan="on"))
    exit_now = server.handle_exit

    def handle_exit(sig: int, frame: Any) -> None:
        """Ctrl-C or SIGTERM: end the UI's live streams too, which uvicorn would otherwise wait for."""
        with contextlib.suppress(RuntimeError):  # no loop running yet: nothing is streaming
            loop = asyncio.get_running_loop()
            for stop in app.server.on_stop:
                loop.call_soon_threadsafe(stop)
        exit_now(sig, frame)

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled: a clean stop
        server.run()
