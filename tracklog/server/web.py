"""The Starlette side of the server: artifact transfers, SQL, the live event stream, the UI.

These endpoints stream (files up and down, server-sent events, CSV) or are not MLflow's, so
they are Starlette routes rather than entries of the API dispatcher; they share its auth and
its error JSON.

    POST /api/2.0/tracklog/sql     {"query", "as_of"?, "limit"?, "format"?: json|csv|parquet}
    GET  /api/2.0/tracklog/sql?query=…&format=csv
         read-only SQL over the views, sandboxed (no files, no settings) and time-limited
    GET  /api/2.0/tracklog/events  server-sent events: ``data: [{kind, experiment_id, run_id, …}]``
         for every change to the store, as it is folded (metric points summed per run and key)
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from eventlog.writer import ACTOR
from query.sql import SqlResult
from tracklog.server import artifacts, auth
from tracklog.server import messages as m
from tracklog.server._body import decode_json, read_request, validation_message
from tracklog.server.app import INLINE_DECODE, Call, error_reply
from tracklog.server.errors import ApiError
from tracklog.server.ui_api import SCOPE_KEY

if TYPE_CHECKING:
    from tracklog.server.app import Server

__all__ = ["EventFeed", "create"]

_encode = msgspec.json.Encoder().encode
Endpoint = Callable[[Call, Request], Awaitable[Response]]


def create(server: Server, artifact_prefixes: tuple[str, ...], tracklog_prefixes: tuple[str, ...]) -> Starlette:
    routes: list[Any] = [
        Route("/health", health, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/get-artifact", wrap(server, get_artifact), methods=["GET"]),
    ]
    for prefix in artifact_prefixes:
        routes.append(Route(prefix, wrap(server, artifact_list), methods=["GET"]))
        routes.append(Route(prefix + "/{path:path}", wrap(server, artifact_file), methods=["GET", "PUT", "DELETE"]))
    feed = EventFeed(server)
    for prefix in tracklog_prefixes:
        routes.append(Route(prefix + "sql", wrap(server, sql), methods=["GET", "POST"]))
        routes.append(Route(prefix + "events", wrap(server, feed.stream), methods=["GET"]))
        routes.append(Route(prefix + "tokens/create", wrap(server, _json(auth.TokenBody, auth.create_token)), methods=["POST"]))
        routes.append(Route(prefix + "tokens/list", wrap(server, _json(None, auth.list_tokens)), methods=["GET"]))
        routes.append(Route(prefix + "tokens/delete", wrap(server, _json(auth.TokenBody, auth.delete_token)),
                            methods=["DELETE"]))
    routes += _ui_api_routes(server)
    routes.append(Mount("/", app=_ui_app(server)))
    return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})


def wrap(server: Server, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint: authenticate, call, and answer errors with MLflow's JSON."""

    async def handle(request: Request) -> Response:
        try:
            user = None
            if server.auth is not None:
                user = await server.auth.authenticate(request.scope)
                ACTOR.set(user.username)
            return await endpoint(Call(server, user, dict(request.path_params)), request)
        except Exception as exc:  # every failure is MLflow's error JSON
            status, body, extra = error_reply(server, exc, f"{request.method} {request.url.path}")
            return Response(body, status_code=status, media_type="application/json",
                            headers={k.decode(): v.decode() for k, v in extra})

    return handle


async def _not_found(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith(("/api/", "/ajax-api/")):
        return Response(_encode({"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API endpoint {request.method} "
                                 f"{request.url.path}"}), status_code=404, media_type="application/json")
    return PlainTextResponse("Not Found", status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return Response(_encode({"error_code": "BAD_REQUEST", "message": f"{request.method} is not allowed on "
                             f"{request.url.path}"}), status_code=405, media_type="application/json")


async def health(request: Request) -> Response:
    return PlainTextResponse("OK")


async def version(request: Request) -> Response:
    from tracklog import __version__

    return PlainTextResponse(__version__)


def _json(body_type: type[msgspec.Struct] | None, handler: Callable[[Call, Any], Any]) -> Endpoint:
    """A JSON endpoint: the body decoded into `body_type`, the handler's dict encoded."""

    decoder = msgspec.json.Decoder(body_type, strict=False) if body_type is not None else None

    async def endpoint(call: Call, request: Request) -> Response:
        body = None
        if decoder is not None:
            body = await json_body(call, request, decoder)
        return Response(_encode(handler(call, body)), media_type="application/json")

    return endpoint


async def json_body(call: Call, request: Request, decoder: msgspec.json.Decoder[Any]) -> Any:
    """The request's JSON body decoded by `decoder`, within the server's body and nesting limits."""
    data = await read_request(request, call.server.max_body)
    if len(data) > INLINE_DECODE:
        return await anyio.to_thread.run_sync(decode_json, decoder, data)
    return decode_json(decoder, data)


def _query(request: Request, body: type[msgspec.Struct]) -> Any:
    try:
        return msgspec.convert(dict(request.query_params), body, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError("INVALID_PARAMETER_VALUE", validation_message(exc)) from exc


# ---- the artifact proxy -------------------------------------------------------------------------------


def _experiment_of(path: str) -> str:
    return path.split("/", 1)[0]


async def artifact_list(call: Call, request: Request) -> Response:
    body = _query(request, m.ProxyList)
    call.require("artifact", _experiment_of(body.path), "READ")
    reply = await anyio.to_thread.run_sync(artifacts.list_files, call, body)
    return Response(_encode(reply), media_type="application/json")


async def artifact_file(call: Call, request: Request) -> Response:
    path = call.params["path"]
    if request.method == "GET":
        call.require("artifact", _experiment_of(path), "READ")
        return await artifacts.download(call, path)  # type: ignore[no-any-return]
    if request.method == "PUT":
        call.require("artifact", _experiment_of(path), "EDIT")
        await artifacts.upload_stream(call, path, request.stream(), call.server.max_upload)
        return Response(b"{}", media_type="application/json")
    call.require("artifact", _experiment_of(path), "MANAGE")
    await anyio.to_thread.run_sync(artifacts.delete, call, path)
    return Response(b"{}", media_type="application/json")


async def get_artifact(call: Call, request: Request) -> Response:
    return await artifacts.run_file(call, _query(request, m.RunFile))  # type: ignore[no-any-return]


# ---- SQL ------------------------------------------------------------------------------------------------


_SQL_QUERY = msgspec.json.Decoder(m.SqlQuery, strict=False)
_SQL_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


async def sql(call: Call, request: Request) -> Response:
    """Read-only SQL over the store's views, as an untrusted caller (`query.sandbox`): only the
    views, only the rows the caller may read, at most `limit` rows (the server's
    ``--sql-max-rows`` at most), within the server's time and memory limits. The query, and the
    conversion of its rows to JSON, CSV or Parquet, run on a worker thread."""
    body = _query(request, m.SqlQuery) if request.method == "GET" else await json_body(call, request, _SQL_QUERY)
    call.require("sql", "", "READ")
    server = call.server
    if body.format not in _SQL_TYPES:
        raise ApiError("INVALID_PARAMETER_VALUE", f"format must be json, csv or parquet, got {body.format!r}")
    limit = body.limit if body.limit is not None else (10_000 if body.format == "json" else server.sql_max_rows)
    if not 1 <= limit <= server.sql_max_rows:
        raise ApiError("INVALID_PARAMETER_VALUE",
                       f"limit must be a number of rows from 1 to {server.sql_max_rows} (this server's --sql-max-rows), "
                       f"got {limit}")
    scope = call.read_scope()

    def run() -> tuple[bytes, bool]:
        if body.as_of is None:
            cur = server.store.fresh_cursor(scope)
        else:
            cur = server.store.backend.catalog().connect(body.as_of, scope=scope)
        try:
            result = server.sandbox.run(cur, body.query, limit)
        finally:
            cur.close()
        return _sql_bytes(result, body.format), result.truncated

    async with server.sql_slots:  # each query may hold its memory limit: a few at a time
        content, truncated = await anyio.to_thread.run_sync(run)
    headers = {"X-Tracklog-Truncated": "true" if truncated else "false"}
    if body.format != "json":
        headers["Content-Disposition"] = f'attachment; filename="query.{body.format}"'
    return Response(content, media_type=_SQL_TYPES[body.format], headers=headers)


def _sql_bytes(result: SqlResult, fmt: str) -> bytes:
    """The rows as the response body: MLflow-style JSON, CSV or Parquet."""
    table = result.table
    out = io.BytesIO()
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, out)
        return out.getvalue()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, out)
        return out.getvalue()
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    reply = m.SqlReply(columns=table.column_names, types=[str(t) for t in table.schema.types],
                       rows=[list(r) for r in zip(*columns, strict=True)] if columns else [],
                       truncated=result.truncated)
    return _encode_sql(reply)


def _encode_sql(reply: m.SqlReply) -> bytes:
    def default(value: Any) -> Any:  # dates, decimals, bytes, NaN: as text
        return str(value)

    return msgspec.json.Encoder(enc_hook=default).encode(reply)


# ---- live events -------------------------------------------------------------------------------------------


class EventFeed:
    """Server-sent events: what changed in the store since the last refresh of the catalog.

    One poller serves every subscriber: after each catalog refresh it reads the control events
    and metric points the refresh added — rows of the catalog's append-only tables past the last
    row it read, so each is sent once, wherever and whenever it was written — and fans them out,
    filtered by what each subscriber may read.
    """

    PING_S = 15.0

    def __init__(self, server: Server) -> None:
        self.server = server
        self.subscribers: set[asyncio.Queue[list[dict[str, Any]]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._after: tuple[int, int] | None = None  # the last control and metric rows sent

    async def stream(self, call: Call, request: Request) -> Response:
        call.require("events", "", "READ")
        queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(maxsize=100)
        self.subscribers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        visible = _visibility(call)

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b": tracklog events\n\n"
                while True:
                    try:
                        events = await asyncio.wait_for(queue.get(), self.PING_S)
                    except TimeoutError:
                        yield b": ping\n\n"
                        continue
                    shown = [e for e in events if visible(e)]
                    if shown:
                        yield b"data: " + _encode(shown) + b"\n\n"
            finally:
                self.subscribers.discard(queue)

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _poll(self) -> None:
        last_refresh = 0.0
        if self._after is None:
            self._after = await anyio.to_thread.run_sync(self._ends)
        while self.subscribers:
            await asyncio.sleep(0.25)
            if self.server.store.refreshed_at == last_refresh:
                continue
            last_refresh = self.server.store.refreshed_at
            try:
                events = await anyio.to_thread.run_sync(self._changes)
            except Exception:  # a failed look is retried at the next refresh
                continue
            for queue in list(self.subscribers):
                with contextlib.suppress(asyncio.QueueFull):  # a stalled subscriber misses a batch, not the server
                    if events:
                        queue.put_nowait(events)

    def _ends(self) -> tuple[int, int]:
        cur = self.server.store.cursor()
        try:
            control = cur.execute("SELECT coalesce(max(rowid), -1) FROM control").fetchall()[0][0]
            metric = cur.execute("SELECT coalesce(max(rowid), -1) FROM metric_points").fetchall()[0][0]
        finally:
            cur.close()
        return int(control), int(metric)

    def _changes(self) -> list[dict[str, Any]]:
        after_control, after_metric = self._after or (-1, -1)
        cur = self.server.store.cursor()
        try:
            control = cur.execute(
                "SELECT rowid, kind, experiment_id, run_id, model_id, model_name, key, ts, actor FROM control "
                "WHERE rowid > ? ORDER BY rowid", [after_control]).fetchall()
            metrics = cur.execute(
                "SELECT max(rowid), run_id, key, count(*), max(step), max(ts) FROM metric_points WHERE rowid > ? "
                "GROUP BY run_id, key ORDER BY 1", [after_metric]).fetchall()
        finally:
            cur.close()
        out: list[dict[str, Any]] = []
        for rowid, kind, exp, run, model_id, model_name, key, ts, actor in control:
            after_control = rowid
            event = {"kind": kind, "experiment_id": exp, "run_id": run, "model_id": model_id, "name": model_name,
                     "key": key, "time": ts // 1_000_000, "actor": actor}
            out.append({k: v for k, v in event.items() if v is not None})
        for rowid, run, key, count, step, ts in metrics:
            after_metric = max(after_metric, rowid)
            out.append({"kind": "MetricLogged", "run_id": run, "key": key, "count": count, "step": step,
                        "time": ts // 1_000_000})
        self._after = (after_control, after_metric)
        return out


_REGISTRY_KINDS = ("RegisteredModel", "ModelVersion", "ModelAlias")


def _visibility(call: Call) -> Callable[[dict[str, Any]], bool]:
    """Whether the caller may see an event of the stream: registry events by their model's
    permission, the others by their experiment's (a run's or logged model's experiment, looked
    up; one not known yet is shown only to a caller who may read everything)."""
    scope = call.read_scope()
    if scope is None:
        return lambda event: True
    experiment_ok, model_ok = call.readable_experiments(None), call.readable_models()
    state = call.store.state

    def visible(event: dict[str, Any]) -> bool:
        if str(event.get("kind", "")).startswith(_REGISTRY_KINDS):
            return model_ok(str(event.get("name") or ""))
        exp = event.get("experiment_id")
        if exp is None and event.get("run_id"):
            run = state().run(event["run_id"])
            exp = run.experiment_id if run is not None else None
        if exp is None and event.get("model_id"):
            logged = state().models.get(event["model_id"])
            exp = logged.experiment_id if logged is not None else None
        return experiment_ok(exp) if exp is not None else scope.experiments is None

    return visible


# ---- the UI ---------------------------------------------------------------------------------------------


def _ui_api_routes(server: Server) -> list[Any]:
    """The web UI's reads (`tracklog.server.ui_api`), behind the same auth as everything else."""
    from tracklog.server import ui_api

    out = []
    for route in ui_api.routes(server):
        out.append(Route(route.path, _guarded(server, route.endpoint), methods=list(route.methods or ())))
    return out


def _guarded(server: Server, endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def inner(call: Call, request: Request) -> Response:
        call.require("ui", "", "READ")
        request.scope[SCOPE_KEY] = call.read_scope()  # the UI's reads show only what the caller may read
        return await endpoint(request)

    return wrap(server, inner)


_NO_UI = """<!doctype html><meta charset="utf-8"><title>tracklog</title>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>tracklog server</h1>
<p>The tracking API is up (MLflow's REST API under <code>/api/2.0/mlflow/</code>; point MLflow at
this address with <code>mlflow.set_tracking_uri(…)</code>).</p>
<p>The web UI is not built. Build it once with:</p>
<pre>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>then restart the server (it serves <code>ui/dist</code>).</p>
</body>"""


def _ui_app(server: Server) -> Any:
    import os

    if server.ui_dir and os.path.isfile(os.path.join(server.ui_dir, "index.html")):
        from starlette.staticfiles import StaticFiles

        return StaticFiles(directory=server.ui_dir, html=True)

    async def no_ui(request: Request) -> Response:
        if request.url.path in ("/", "/index.html"):
            return HTMLResponse(_NO_UI)
        return await _not_found(request, Exception())

    return Starlette(routes=[Route("/{path:path}", no_ui, methods=["GET", "HEAD"])])
