"""The ASGI app: MLflow's REST API, the artifact proxy, tracklog's endpoints and the web UI.

    /api/2.0/mlflow/…            MLflow's tracking, logged-model and registry API (and /ajax-api/…)
    /api/2.0/mlflow-artifacts/…  the artifact proxy
    /api/3.0/mlflow/server-info  what an MLflow 3 client asks first
    /api/2.0/tracklog/sql        read-only SQL;  /api/2.0/tracklog/events  live events (SSE)
    /api/2.0/tracklog/…          the UI's reads (`tracklog.server.ui_api`)
    /health, /version            liveness
    /                            the web UI (``ui/dist``), or how to build it

The MLflow endpoints go through one dispatcher: a dict from (method, path) to a `Route`, the body
decoded into the route's msgspec Struct, access checked, the handler called with a `Call`, and
the reply Struct encoded. Handlers that touch the in-memory fold run on the event loop (they
take microseconds); slow reads (DuckDB, files) await worker threads. Every error becomes
MLflow's ``{"error_code", "message"}`` with MLflow's HTTP status (`tracklog.server.errors`);
an unexpected one is logged with its traceback and answered ``INTERNAL_ERROR``.
"""

from __future__ import annotations

import inspect
import logging
import os
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import anyio
import msgspec

from eventlog.writer import ACTOR
from projections.scope import Scope
from query.sandbox import Sandbox
from tracklog.server import artifacts, auth, logged_models, registry, tracking
from tracklog.server import messages as m
from tracklog.server._body import decode_json, read_body, validation_message
from tracklog.server.artifacts import PROXY_SCHEME
from tracklog.server.errors import ApiError, status_and_code

__all__ = ["Call", "Route", "Server", "create_app", "serve"]

_log = logging.getLogger("tracklog.server")
_encode = msgspec.json.Encoder().encode
API_PREFIXES = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/")
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts/artifacts", "/ajax-api/2.0/mlflow-artifacts/artifacts")
TRACKLOG_PREFIXES = ("/api/2.0/tracklog/", "/ajax-api/2.0/tracklog/")
DEFAULT_MAX_BODY = 16 << 20  # JSON bodies: MLflow's largest batch (1000 metrics, 100 params) is well under 2 MB
DEFAULT_SQL_MAX_ROWS = 100_000
DEFAULT_SQL_MEMORY = 256 << 20
JSON = [(b"content-type", b"application/json")]
INLINE_DECODE = 1 << 20  # bodies larger than this decode on a worker thread


class Access(NamedTuple):
    """What a route needs: `kind` of resource (experiment, run, model, logged_model; or create,
    any, admin, handler: the handler checks), the `level`, and the body field naming it."""

    kind: str
    level: str = "READ"
    field: str = ""


class Route(NamedTuple):
    method: str
    path: str  # under the API prefix; ``{name}`` segments are path parameters
    body: type[msgspec.Struct] | None
    handler: Callable[..., Any]
    access: Access | None  # None: public


def _routes() -> list[Route]:
    t, r, lm = tracking, registry, logged_models
    exp, run, model, logged = (_access(k) for k in ("experiment", "run", "model", "logged_model"))
    read_exp, edit_exp = exp("READ", "experiment_id"), exp("EDIT", "experiment_id")
    any_user, create = Access("any"), Access("create")
    return [
        Route("POST", "experiments/create", m.CreateExperiment, t.create_experiment, create),
        Route("GET", "experiments/get", m.ExperimentId, t.get_experiment, read_exp),
        Route("GET", "experiments/get-by-name", m.GetExperimentByName, t.get_experiment_by_name, Access("handler")),
        Route("POST", "experiments/search", m.SearchExperiments, t.search_experiments_, any_user),
        Route("GET", "experiments/search", m.SearchExperiments, t.search_experiments_, any_user),
        Route("POST", "experiments/delete", m.ExperimentId, t.delete_experiment, exp("MANAGE", "experiment_id")),
        Route("POST", "experiments/restore", m.ExperimentId, t.restore_experiment, exp("MANAGE", "experiment_id")),
        Route("POST", "experiments/update", m.UpdateExperiment, t.update_experiment, edit_exp),
        Route("POST", "experiments/set-experiment-tag", m.SetExperimentTag, t.set_experiment_tag, edit_exp),
        Route("POST", "experiments/delete-experiment-tag", m.DeleteExperimentTag, t.delete_experiment_tag, edit_exp),
        Route("POST", "runs/create", m.CreateRun, t.create_run, edit_exp),
        Route("GET", "runs/get", m.RunRef, t.get_run, run("READ")),
        Route("POST", "runs/update", m.UpdateRun, t.update_run, run("EDIT")),
        Route("POST", "runs/delete", m.RunRef, t.delete_run, run("MANAGE")),
        Route("POST", "runs/restore", m.RunRef, t.restore_run, run("MANAGE")),
        Route("POST", "runs/log-metric", m.LogMetric, t.log_metric, run("EDIT")),
        Route("POST", "runs/log-parameter", m.LogParam, t.log_param, run("EDIT")),
        Route("POST", "runs/set-tag", m.SetTag, t.set_tag, run("EDIT")),
        Route("POST", "runs/delete-tag", m.DeleteTag, t.delete_tag, run("EDIT")),
        Route("POST", "runs/log-batch", m.LogBatch, t.log_batch, run("EDIT")),
        Route("POST", "runs/log-inputs", m.LogInputs, t.log_inputs, run("EDIT")),
        Route("POST", "runs/outputs", m.LogOutputs, t.log_outputs, run("EDIT")),
        Route("POST", "runs/search", m.SearchRuns, t.search_runs_, any_user),
        Route("GET", "metrics/get-history", m.GetMetricHistory, t.get_metric_history, run("READ")),
        Route("GET", "metrics/get-history-bulk", m.GetMetricHistoryBulk, t.get_metric_history_bulk, Access("handler")),
        Route("GET", "metrics/get-history-bulk-interval", m.GetMetricHistoryBulkInterval,
              t.get_metric_history_bulk_interval, Access("handler")),
        Route("GET", "artifacts/list", m.ListArtifacts, t.list_artifacts, run("READ")),
        Route("POST", "logged-models", m.CreateLoggedModel, lm.create, edit_exp),
        Route("POST", "logged-models/search", m.SearchLoggedModels, lm.search, any_user),
        Route("GET", "logged-models/{model_id}", m.Body, lm.get, logged("READ")),
        Route("PATCH", "logged-models/{model_id}", m.FinalizeLoggedModel, lm.finalize, logged("EDIT")),
        Route("DELETE", "logged-models/{model_id}", m.Body, lm.delete, logged("MANAGE")),
        Route("PATCH", "logged-models/{model_id}/tags", m.SetLoggedModelTags, lm.set_tags, logged("EDIT")),
        Route("DELETE", "logged-models/{model_id}/tags/{tag_key}", m.Body, lm.delete_tag, logged("EDIT")),
        Route("POST", "logged-models/{model_id}/params", m.LogLoggedModelParams, lm.log_params, logged("EDIT")),
        Route("GET", "logged-models/{model_id}/artifacts/directories", m.ListLoggedModelArtifacts,
              lm.list_artifacts, logged("READ")),
        Route("GET", "logged-models/{model_id}/artifacts/files", m.LoggedModelFile, artifacts.logged_model_file,
              logged("READ")),
        Route("POST", "registered-models/create", m.CreateRegisteredModel, r.create_registered_model, create),
        Route("POST", "registered-models/rename", m.RenameRegisteredModel, r.rename_registered_model, model("EDIT", "name")),
        Route("PATCH", "registered-models/update", m.UpdateRegisteredModel, r.update_registered_model, model("EDIT", "name")),
        Route("DELETE", "registered-models/delete", m.NameRef, r.delete_registered_model, model("MANAGE", "name")),
        Route("GET", "registered-models/get", m.NameRef, r.get_registered_model, model("READ", "name")),
        Route("GET", "registered-models/search", m.SearchRegisteredModels, r.search_registered_models, any_user),
        Route("POST", "registered-models/get-latest-versions", m.GetLatestVersions, r.get_latest_versions, model("READ", "name")),
        Route("GET", "registered-models/get-latest-versions", m.GetLatestVersions, r.get_latest_versions, model("READ", "name")),
        Route("POST", "registered-models/set-tag", m.SetRegisteredModelTag, r.set_registered_model_tag, model("EDIT", "name")),
        Route("DELETE", "registered-models/delete-tag", m.DeleteRegisteredModelTag, r.delete_registered_model_tag,
              model("EDIT", "name")),
        Route("POST", "registered-models/alias", m.SetRegisteredModelAlias, r.set_registered_model_alias, model("EDIT", "name")),
        Route("DELETE", "registered-models/alias", m.AliasRef, r.delete_registered_model_alias, model("EDIT", "name")),
        Route("GET", "registered-models/alias", m.AliasRef, r.get_model_version_by_alias, model("READ", "name")),
        Route("POST", "model-versions/create", m.CreateModelVersion, r.create_model_version, model("EDIT", "name")),
        Route("PATCH", "model-versions/update", m.UpdateModelVersion, r.update_model_version, model("EDIT", "name")),
        Route("POST", "model-versions/transition-stage", m.TransitionModelVersionStage, r.transition_model_version_stage,
              model("EDIT", "name")),
        Route("DELETE", "model-versions/delete", m.VersionRef, r.delete_model_version, model("MANAGE", "name")),
        Route("GET", "model-versions/get", m.VersionRef, r.get_model_version, model("READ", "name")),
        Route("GET", "model-versions/search", m.SearchModelVersions, r.search_model_versions, any_user),
        Route("GET", "model-versions/get-download-uri", m.VersionRef, r.get_model_version_download_uri, model("READ", "name")),
        Route("POST", "model-versions/set-tag", m.SetModelVersionTag, r.set_model_version_tag, model("EDIT", "name")),
        Route("DELETE", "model-versions/delete-tag", m.DeleteModelVersionTag, r.delete_model_version_tag, model("EDIT", "name")),
        Route("GET", "server-info", None, server_info, Access("any")),
        *auth.routes(),
    ]


# handlers that tell the store about what they append themselves (metric points, mostly)
_METRICS_ONLY = {tracking.log_metric, tracking.log_batch}


def _access(kind: str) -> Callable[..., Access]:
    def make(level: str, field: str = "") -> Access:
        return Access(kind, level, field)

    return make


def server_info(call: Call, body: Any) -> dict[str, Any]:
    """What an MLflow 3 client asks before multipart transfers: this server does none."""
    return {"store_type": "TracklogStore", "workspaces_enabled": False, "trace_archival_enabled": False,
            "multipart_uploads_enabled": False, "multipart_downloads_enabled": False,
            "presigned_upload_run_id_supported": False, "presigned_upload_model_id_supported": False}


# ---- requests -----------------------------------------------------------------------------------------


class Call:
    """One request as a handler sees it: the server, the caller and the path parameters."""

    __slots__ = ("params", "server", "user")

    def __init__(self, server: Server, user: Any, params: dict[str, str]) -> None:
        self.server = server
        self.user = user
        self.params = params

    @property
    def store(self) -> Any:
        return self.server.store

    @property
    def client(self) -> Any:
        """The store's `tracklog.Client`; using it may append events, so reads fold again after."""
        self.server.store.touched()
        return self.server.client

    def require(self, kind: str, ref: str, level: str) -> None:
        if self.server.auth is not None:
            self.server.auth.require(self, kind, ref, level)

    def readable_experiments(self, scope: set[str] | None) -> Callable[[str], bool]:
        if self.server.auth is None:
            return _everything
        return self.server.auth.readable(self, "experiment")

    def read_scope(self) -> Scope | None:
        """The experiments and models the caller may read, for reads that span many (SQL, the UI's
        tables, the event stream); None: everything (no auth, an admin, nothing hidden)."""
        if self.server.auth is None:
            return None
        return self.server.auth.read_scope(self)  # type: ignore[no-any-return]

    def readable_models(self) -> Callable[[str], bool]:
        if self.server.auth is None:
            return _everything
        return self.server.auth.readable(self, "model")

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


def _everything(ref: str) -> bool:
    return True


class _Decoder:
    """Turns a request into a route's body Struct: JSON for POST/PATCH/PUT/DELETE, the query
    string for GET; lax about number spellings, as protobuf's JSON parser is."""

    def __init__(self, body: type[msgspec.Struct]) -> None:
        self.type = body
        self.json = msgspec.json.Decoder(body, strict=False)
        self.lists = {f.name for f in msgspec.structs.fields(body) if _is_list(f.type)}

    async def from_json(self, data: bytes) -> Any:
        if len(data) > INLINE_DECODE:  # a big body decodes on a worker thread: the loop keeps serving
            return await anyio.to_thread.run_sync(decode_json, self.json, data)
        return decode_json(self.json, data)

    def from_query(self, query: bytes) -> Any:
        values: dict[str, Any] = {}
        for key, value in urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if key in self.lists:
                values.setdefault(key, []).append(value)
            else:
                values.setdefault(key, value)
        return msgspec.convert(values, self.type, strict=False)


def _is_list(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return getattr(annotation, "__origin__", None) is list or text.startswith("list[")


# ---- the server -------------------------------------------------------------------------------------


class Server:
    """What the app serves: one store, its artifact destination, auth and limits.

    A server owns its process: it sets the process's artifact root (`tracklog.set_artifact_root`)
    to the destination, so experiments created through it keep their files there.

    Args:
        store_uri: the tracking store (a folder, ``file://…``, ``s3://…``, ``memory://…``).
        artifacts_destination: where proxied artifacts live (default: the store's ``artifacts/``).
        allowed_artifact_roots: more locations (URIs) callers may put experiments' artifacts in and
            the proxy may read, besides the destination and the store's ``artifacts/``.
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
    """

    def __init__(self, store_uri: str, artifacts_destination: str | None = None, *, auth: Any = None,
                 max_body: int = DEFAULT_MAX_BODY, max_upload: int | None = None, ui_dir: str | None = None,
                 sql_timeout: float = 30.0, sql_max_rows: int = DEFAULT_SQL_MAX_ROWS,
                 sql_memory_limit: int = DEFAULT_SQL_MEMORY, sql_temp_limit: int = 0, sql_concurrency: int = 2,
                 allowed_artifact_roots: Sequence[str] = (), refresh_interval: float = 1.0) -> None:
        from tracklog._config import set_artifact_root
        from tracklog.client import Client
        from tracklog.server.artifacts import ArtifactDestination
        from tracklog.server.store import ServerStore

        self.client = Client(store_uri)
        store_artifacts = self.client._b.log.artifact_root  # where local clients of the store keep theirs
        self.destination = ArtifactDestination(artifacts_destination or store_artifacts,
                                               allowed=[store_artifacts, *allowed_artifact_roots])
        set_artifact_root(self.destination.uri)  # experiments created here keep artifacts there
        self.store = ServerStore(self.client, refresh_interval=refresh_interval)
        self.auth = auth
        self.max_body = max_body
        self.max_upload = max_upload
        self.ui_dir = ui_dir if ui_dir is not None else _default_ui_dir()
        self.sql_timeout = sql_timeout
        self.sql_max_rows = sql_max_rows
        self._scrub = [(s, "<store>") for s in {self.client._b.log.uri, self.client._b.uri} if len(s) > 1]
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

    def experiment_location(self, exp: Any) -> str:
        """Where an experiment's artifacts are: the implicit experiment 0 follows the destination."""
        if exp.experiment_id == "0":
            return self.destination.join("0")
        return str(exp.artifact_location)

    def scrub(self, message: str) -> str:
        """An error message without the server's own paths in it."""
        for path, name in self._scrub:
            message = message.replace(path, name)
        return message


def _default_ui_dir() -> str:
    """``TRACKLOG_UI_DIR``, else ``ui/dist`` of the source tree (where ``npm run build`` writes)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("TRACKLOG_UI_DIR") or os.path.join(os.path.dirname(os.path.dirname(here)), "ui", "dist")


class App:
    """The ASGI callable; see the module docstring for what it serves."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.exact: dict[tuple[str, str], tuple[Route, _Decoder | None]] = {}
        self.patterns: list[tuple[Route, list[str], _Decoder | None]] = []
        self.paths: set[str] = set()
        routes = _routes()
        for route in routes:
            decoder = _Decoder(route.body) if route.body is not None else None
            if "{" in route.path:
                self.patterns.append((route, route.path.split("/"), decoder))
            else:
                self.exact[(route.method, route.path)] = (route, decoder)
            self.paths.add(route.path)
        self.is_async = {route.handler: inspect.iscoroutinefunction(route.handler) for route in routes}
        self.extras = _extras(server)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        path = scope["path"]
        for prefix in API_PREFIXES:
            if path.startswith(prefix):
                await self._api(scope, receive, send, path[len(prefix):])
                return
        await self.extras(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.server.store.start()
                except Exception as exc:  # the server cannot serve this store: say why, once
                    _log.exception("tracklog server: cannot open the store")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.server.store.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _match(self, method: str, rel: str) -> tuple[Route, _Decoder | None, dict[str, str]]:
        found = self.exact.get((method, rel))
        if found is not None:
            return found[0], found[1], {}
        parts = rel.split("/")
        known = rel in self.paths
        for route, pattern, decoder in self.patterns:
            if len(pattern) != len(parts) or any(p != q and not p.startswith("{") for p, q in zip(pattern, parts, strict=True)):
                continue
            if route.method != method:
                known = True
                continue
            params = {p[1:-1]: urllib.parse.unquote(q) for p, q in zip(pattern, parts, strict=True) if p.startswith("{")}
            if all(params.values()):
                return route, decoder, params
        if known:
            raise ApiError("BAD_REQUEST", f"{method} is not allowed on {rel}", status=405)
        raise ApiError("ENDPOINT_NOT_FOUND", f"No API endpoint {method} {rel}")

    async def _api(self, scope: dict[str, Any], receive: Any, send: Any, rel: str) -> None:
        method = scope["method"]
        try:
            route, decoder, params = self._match(method, rel)
            user = await self._authenticate(scope)
            call = Call(self.server, user, params)
            body: Any = None
            if decoder is not None:
                body = await self._body(scope, receive, method, decoder)
            if route.access is not None and self.server.auth is not None:
                self.server.auth.check(call, route.access, body)
            try:
                if self.is_async[route.handler]:
                    reply = await route.handler(call, body)
                else:
                    reply = route.handler(call, body)
            finally:
                if method != "GET" and route.handler not in _METRICS_ONLY:
                    self.server.store.touched()  # it may have appended: the next read folds
            if isinstance(reply, msgspec.Struct | dict):
                await _send(send, 200, _encode(reply))
            else:  # a file or a stream
                await reply(scope, receive, send)
        except BaseException as exc:  # every failure is MLflow's error JSON; nothing escapes to uvicorn
            if not isinstance(exc, Exception):
                raise
            await self._fail(send, exc, f"{method} {rel}")

    async def _authenticate(self, scope: dict[str, Any]) -> Any:
        if self.server.auth is None:
            return None
        user = await self.server.auth.authenticate(scope)
        ACTOR.set(user.username)  # the events of this request are recorded as this user's
        return user

    async def _body(self, scope: dict[str, Any], receive: Any, method: str, decoder: _Decoder) -> Any:
        if method == "GET":
            try:
                return decoder.from_query(scope.get("query_string", b""))
            except msgspec.ValidationError as exc:
                raise ApiError("INVALID_PARAMETER_VALUE", validation_message(exc)) from exc
        data = await read_body(scope, receive, self.server.max_body)
        if method in ("POST", "PUT") and data:
            content_type = _header(scope, b"content-type").split(";")[0].strip()
            if content_type != "application/json":
                raise ApiError("INVALID_PARAMETER_VALUE",
                               f"Bad Request. Content-Type must be one of ['application/json'], got {content_type!r}.")
        if not data and scope.get("query_string"):
            data = msgspec.json.encode(dict(urllib.parse.parse_qsl(scope["query_string"].decode("latin-1"))))
        return await decoder.from_json(data)

    async def _fail(self, send: Any, exc: Exception, what: str) -> None:
        status, body, extra = error_reply(self.server, exc, what)
        await _send(send, status, body, extra)


def error_reply(server: Server, exc: Exception, what: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """(status, MLflow's error JSON, extra headers) for a failed request; a bug is logged with its
    traceback and answered without it."""
    known = status_and_code(exc)
    if known is None:
        _log.error("tracklog server: %s failed", what, exc_info=exc)
        status, code, message = 500, "INTERNAL_ERROR", f"Internal error while handling {what}; see the server log"
    else:
        (status, code), message = known, server.scrub(str(exc))
        if status >= 500:
            _log.warning("tracklog server: %s: %s %s", what, code, message)
    extra = [(b"www-authenticate", b'Basic realm="tracklog"')] if status == 401 else []
    if isinstance(exc, ApiError):
        extra += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
    return status, _encode({"error_code": code, "message": message}), extra


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


async def _send(send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [*JSON, (b"content-length", str(len(body)).encode()), *(extra or ())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ---- everything that is not the MLflow API ------------------------------------------------------


def _extras(server: Server) -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
    """A Starlette app for the artifact proxy, tracklog's endpoints, liveness and the UI."""
    from tracklog.server import web

    return web.create(server, ARTIFACT_PREFIXES, TRACKLOG_PREFIXES)


def create_app(store_uri: str, artifacts_destination: str | None = None, **options: Any) -> App:
    """The ASGI app serving `store_uri` (see `Server` for the options); uvicorn runs it."""
    return App(Server(store_uri, artifacts_destination, **options))


def serve(store_uri: str, artifacts_destination: str | None = None, *, host: str = "127.0.0.1", port: int = 5000,
          log_level: str = "info", access_log: bool = True, **options: Any) -> None:
    """Serve `store_uri` with uvicorn until interrupted (one process: the store's one writer here)."""
    import uvicorn

    app = create_app(store_uri, artifacts_destination, **options)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log, lifespan="on")
