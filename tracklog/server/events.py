"""``/api/2.0/tracklog/events``: what changes in the store, as server-sent events.

    GET /api/2.0/tracklog/events   ``data: [{kind, experiment_id, run_id, …}]`` per batch of changes

One poller serves every subscriber: after each background fold of the catalog it reads the
control events and metric points the fold added — rows of the catalog's append-only tables
past the last row it read, so each is sent once, wherever and whenever it was written — and
fans them out, each subscriber seeing the experiments it may read. Metric points are summed per
run and key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import msgspec
from starlette.responses import StreamingResponse

from tracklog.server.routing import Call

__all__ = ["EventFeed", "events"]

_encode = msgspec.json.Encoder().encode


class EventFeed:
    """The server's one poller and its subscribers' queues."""

    PING_S = 15.0

    def __init__(self, store: Any) -> None:
        self.store = store
        self.subscribers: set[asyncio.Queue[list[dict[str, Any]] | None]] = set()
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._after: tuple[int, int] | None = None  # the last control and metric rows sent

    def stream(self, call: Call, visible: Callable[[dict[str, Any]], bool]) -> StreamingResponse:
        """A stream of the feed's batches, each narrowed to the events `visible` keeps."""
        queue: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue(maxsize=100)
        self.subscribers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b": tracklog events\n\n"
                while True:
                    try:
                        events = await asyncio.wait_for(queue.get(), self.PING_S)
                    except TimeoutError:
                        events = []
                        yield b": ping\n\n"
                    if events is None or self.closed:
                        return
                    shown = [e for e in events if visible(e)]
                    if shown:
                        yield b"data: " + _encode(shown) + b"\n\n"
            finally:
                self.subscribers.discard(queue)

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def close(self) -> None:
        """End every stream: the server is stopping, and an open stream would hold it up."""
        self.closed = True
        for queue in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):  # a full queue's stream ends at its next ping
                queue.put_nowait(None)

    async def _poll(self) -> None:
        last_refresh = 0.0
        if self._after is None:
            self._after = await anyio.to_thread.run_sync(self._ends)
        while self.subscribers:
            await asyncio.sleep(0.25)
            if self.store.refreshed_at == last_refresh:
                continue
            last_refresh = self.store.refreshed_at
            try:
                events = await anyio.to_thread.run_sync(self._changes)
            except Exception:  # a failed look is retried at the next refresh
                continue
            for queue in list(self.subscribers):
                with contextlib.suppress(asyncio.QueueFull):  # a stalled subscriber misses a batch, not the server
                    if events:
                        queue.put_nowait(events)

    def _ends(self) -> tuple[int, int]:
        cur = self.store.cursor()
        try:
            control = cur.execute("SELECT coalesce(max(rowid), -1) FROM control").fetchall()[0][0]
            metric = cur.execute("SELECT coalesce(max(rowid), -1) FROM metric_points").fetchall()[0][0]
        finally:
            cur.close()
        return int(control), int(metric)

    def _changes(self) -> list[dict[str, Any]]:
        after_control, after_metric = self._after or (-1, -1)
        cur = self.store.cursor()
        try:
            control = cur.execute(
                "SELECT c.rowid, c.kind, coalesce(c.experiment_id, r.experiment_id, lm.experiment_id), c.run_id, c.model_id, "
                "c.model_name, c.key, c.ts, c.actor FROM control c LEFT JOIN runs r USING (run_id) "
                "LEFT JOIN logged_models lm ON lm.model_id = c.model_id WHERE c.rowid > ? ORDER BY c.rowid",
                [after_control]).fetchall()
            metrics = cur.execute(
                "SELECT max(p.rowid), p.run_id, any_value(r.experiment_id), p.key, count(*), max(p.step), max(p.ts) "
                "FROM metric_points p LEFT JOIN runs r USING (run_id) WHERE p.rowid > ? GROUP BY p.run_id, p.key "
                "ORDER BY 1", [after_metric]).fetchall()
        finally:
            cur.close()
        out: list[dict[str, Any]] = []
        for rowid, kind, exp, run, model_id, model_name, key, ts, actor in control:
            after_control = rowid
            event = {"kind": kind, "experiment_id": exp, "run_id": run, "model_id": model_id, "name": model_name,
                     "key": key, "time": ts // 1_000_000, "actor": actor}
            out.append({k: v for k, v in event.items() if v is not None})
        for rowid, run, exp, key, count, step, ts in metrics:
            after_metric = max(after_metric, rowid)
            event = {"kind": "MetricLogged", "experiment_id": exp, "run_id": run, "key": key, "count": count,
                     "step": step, "time": ts // 1_000_000}
            out.append({k: v for k, v in event.items() if v is not None})
        self._after = (after_control, after_metric)
        return out


async def events(call: Call, body: Any) -> StreamingResponse:
    """The route's handler: this caller's stream of the server's feed, showing only what the
    caller may read."""
    call.require("events", "", "READ")
    visible = await anyio.to_thread.run_sync(_visibility, call)
    return call.server.feed.stream(call, visible)


_REGISTRY_KINDS = ("RegisteredModel", "ModelVersion", "ModelAlias")


def _visibility(call: Call) -> Callable[[dict[str, Any]], bool]:
    """Whether the caller may see an event of the stream: registry events by their model's
    permission, the others by their experiment's (a run's or logged model's, looked up when the
    feed reads them); an event of no experiment is shown only to a caller who may read every one."""
    scope = call.read_scope()
    if scope is None:
        return lambda event: True
    experiment_ok, model_ok = call.readable_experiments(), call.readable_models()

    def visible(event: dict[str, Any]) -> bool:
        if str(event.get("kind", "")).startswith(_REGISTRY_KINDS):
            return model_ok(str(event.get("name") or ""))
        exp = event.get("experiment_id")
        return experiment_ok(exp) if exp is not None else scope.experiments is None

    return visible
