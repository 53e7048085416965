"""``PUT /api/2.0/tracklog/segments/<segment path>``: events a client logged while this server was away.

    GET /api/2.0/tracklog/segments-namespace         {"namespace": "rest.<digest>."}: the caller's writer ids
    PUT /api/2.0/tracklog/segments/events/stream=<metric|control>/date=<day>/<writer_id>-<seq>.parquet
                                                     one Parquet segment -> {"created": true|false}

A client whose server went away logs to its own writer and WAL (`tracklog.tracking.offline`);
its flusher publishes each batch here once the server is back. The segment is stored
put-if-absent at the path its name gives, and that name depends only on its events, so a
replay of the same segment (a retry whose answer was lost, the next process republishing a
WAL) stores nothing: exactly once by construction (the catalog also folds each
``(writer_id, writer_seq)`` once).

The body is treated as hostile. It must fit ``--max-body-size``, decode as a segment of its
stream (`eventlog.codec.read_segment`), hold only what a logging call for an existing run
produces (metric points, params, tags, tag deletes, run status and name changes, heartbeats),
come from a writer id in the caller's namespace (`tracklog.tracking.offline.namespace_for`:
one client cannot take another's segment names), be named as its events name it, and carry
keys and values the REST handlers would take, with event times no more than a day ahead of
this server's clock. Every run must exist and be active, and the
caller needs EDIT on it. The events are recorded as the caller's (the ``actor`` column is set
to the signed-in user, as the REST handlers record it). Anything else is a 4xx and nothing is
stored.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import anyio

from eventlog.codec import (
    control_schema,
    events_from_table,
    metric_schema,
    read_segment,
    write_parquet,
)
from eventlog.errors import (
    CorruptFileError,
    InvalidInputError,
    MalformedRequestError,
    PermissionDeniedError,
)
from eventlog.events import (
    MetricLogged,
    ParamLogged,
    RunEnded,
    RunHeartbeatSent,
    RunRenamed,
    RunResumed,
    RunTagDeleted,
    RunTagSet,
)
from eventlog.validation import (
    MAX_PARAM_VAL_LENGTH,
    MAX_TAG_VAL_LENGTH,
    check_key,
    check_run_id,
    check_string_value,
)
from eventlog.writer import ACTOR, segment_path
from projections.entities import RunStatus
from tracklog.server._body import read_request
from tracklog.server.routing import Call
from tracklog.tracking.offline import namespace_for

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["namespace", "put_segment"]

_NAME = re.compile(r"events/stream=(?P<stream>metric|control)/date=\d{4}-\d{2}-\d{2}/"
                   r"(?P<writer>[A-Za-z0-9][A-Za-z0-9_.\-]{0,127})-(?P<seq>\d{12})\.parquet")
# what a logging call for an existing run appends (`tracklog.tracking.rest.RestStore`, offline)
ALLOWED = (ParamLogged, RunTagSet, RunTagDeleted, RunEnded, RunResumed, RunRenamed, RunHeartbeatSent)
_ALLOWED_KINDS = {cls.__name__ for cls in ALLOWED}
_MAX_SKEW_NS = 86_400 * 10**9  # how far a client's clock may run ahead of the server's
_MAX_RUN_NAME = 500  # longer than MLflow's UI shows; a run name is a tag value too


def _username(call: Call) -> str | None:
    return None if call.server.auth is None or call.user is None else str(call.user.username)


def namespace(call: Call, body: Any) -> dict[str, str]:
    """The writer-id prefix of the caller's segments."""
    return {"namespace": namespace_for(_username(call))}


async def put_segment(call: Call, body: Any) -> dict[str, bool]:
    """Check one segment a client's writer wrote, and store it put-if-absent at its name."""
    assert call.request is not None
    data = await read_request(call.request, call.server.max_body)
    actor = ACTOR.get()
    return await anyio.to_thread.run_sync(_publish, call, call.params["path"], data, actor)


def _publish(call: Call, relpath: str, data: bytes, actor: str) -> dict[str, bool]:
    token = ACTOR.set(actor)
    try:
        table, runs = _checked(call, relpath, data)
        local = call.client.store
        for run_id in sorted(runs):  # every run exists, is active, and the caller may edit it
            call.require("run", run_id, "EDIT")
            local.require_active_run(run_id)
        table = _normalised(table, relpath, actor or local.log.writer.actor)
        created = local.log.store.publish(relpath, write_parquet(table), durable=True)
        for run_id in runs:  # its params are checked against the catalog (which folds them) from now on
            local._new_run_params.pop(run_id, None)
        call.store.refresh()  # reads right after this see the segment's events
        return {"created": bool(created)}
    finally:
        ACTOR.reset(token)


def _normalised(table: pa.Table, relpath: str, actor: str) -> pa.Table:
    """The segment as this server's writer would have written it: only the stream's columns,
    rows in the stream's order (metric points by run, key, step, seq; control events by seq),
    every event recorded as `actor`."""
    import pyarrow as pa

    stream = "metric" if "/stream=metric/" in "/" + relpath else "control"
    known = metric_schema().names if stream == "metric" else control_schema().names
    table = table.select([name for name in table.column_names if name in known and name != "actor"])
    table = table.append_column("actor", pa.array([actor] * table.num_rows, pa.string()))
    table = table.select([name for name in known if name in table.column_names])  # the writer's column order
    order = [("run_id", "ascending"), ("key", "ascending"), ("step", "ascending")] if stream == "metric" else []
    return table.sort_by([*order, ("writer_seq", "ascending")])


def _checked(call: Call, relpath: str, data: bytes) -> tuple[pa.Table, set[str]]:
    """The segment's rows and the runs they name; a 4xx error for anything a client's writer
    would not have published."""
    import pyarrow.compute as pc

    name = _NAME.fullmatch(relpath)
    if name is None:
        raise InvalidInputError(f"{relpath[:200]!r} is not a segment name: expected "
                                "events/stream=<metric|control>/date=<YYYY-MM-DD>/<writer_id>-<12-digit seq>.parquet")
    stream, writer_id, first_seq = name["stream"], name["writer"], int(name["seq"])
    prefix = namespace_for(_username(call))
    if not writer_id.startswith(prefix) or len(writer_id) == len(prefix):
        raise PermissionDeniedError(f"writer id {writer_id[:80]!r} is not in your namespace {prefix!r} (GET "
                                    "/api/2.0/tracklog/segments-namespace): a client publishes only segments of "
                                    "its own writers")
    if not data:
        raise MalformedRequestError(f"the segment {relpath} has no body")
    try:
        table = read_segment(data, stream, where=f"the segment {relpath}")
    except CorruptFileError as exc:
        raise MalformedRequestError(str(exc)) from exc
    if not table.num_rows:
        raise MalformedRequestError(f"the segment {relpath} holds no events")
    if pc.unique(table["writer_id"]).to_pylist() != [writer_id]:
        raise InvalidInputError(f"the segment {relpath} holds events of other writers than {writer_id!r}")
    seqs = table["writer_seq"]
    if pc.count_distinct(seqs).as_py() != table.num_rows:
        raise InvalidInputError(f"the segment {relpath} holds a writer_seq twice")
    first = pc.index(seqs, pc.min(seqs)).as_py()
    stamps = table["ts"]
    if pc.min(stamps).as_py() <= 0:
        raise InvalidInputError(f"the segment {relpath} has an event time (ts) at or before the epoch")
    if pc.max(stamps).as_py() > time.time_ns() + _MAX_SKEW_NS:  # it would order after every later event,
        raise InvalidInputError(f"the segment {relpath} has an event time (ts) more than a day after this "  # and keep
                                "server's clock: check the client's clock")  # a run alive past its heartbeats
    if segment_path(stream, writer_id, pc.min(seqs).as_py(), stamps[first].as_py()) != relpath \
            or pc.min(seqs).as_py() != first_seq:
        raise InvalidInputError(f"the segment {relpath} is not named as its events name it (its first event "
                                f"is seq {pc.min(seqs).as_py()} at ts {stamps[first].as_py()})")
    if stream == "metric":
        return table, _checked_metrics(table)
    return table, _checked_control(table, relpath)


def _checked_metrics(table: pa.Table) -> set[str]:
    import pyarrow.compute as pc

    if table.num_rows and pc.min(table["timestamp"]).as_py() < 0:
        raise InvalidInputError("a metric point's timestamp is before the epoch: timestamps are ms since the epoch, >= 0")
    for key in pc.unique(table["key"]).to_pylist():
        check_key("metric key", key)
    runs = set(pc.unique(table["run_id"]).to_pylist())
    for run_id in runs:
        check_run_id(run_id)
    return runs


def _checked_control(table: pa.Table, relpath: str) -> set[str]:
    kinds = set(table["kind"].to_pylist())
    refused = sorted(kinds - _ALLOWED_KINDS)
    if refused:
        raise PermissionDeniedError(f"the segment {relpath} holds {', '.join(refused)} event(s): a segment may hold "
                                    f"only what logging to an existing run records ({', '.join(sorted(_ALLOWED_KINDS))})")
    try:
        events = events_from_table(table, where=f"the segment {relpath}")
    except CorruptFileError as exc:
        raise MalformedRequestError(str(exc)) from exc
    runs = set()
    for event in events:
        if isinstance(event, MetricLogged):  # not in a control segment (check_segment keeps its columns)
            raise MalformedRequestError(f"the segment {relpath} holds a metric point in the control stream")
        run_id = check_run_id(event.run_id)  # type: ignore[attr-defined]  # every allowed kind names a run
        runs.add(run_id)
        if isinstance(event, ParamLogged):
            check_key("param key", event.key)
            check_string_value("param value", event.key, event.value, MAX_PARAM_VAL_LENGTH)
        elif isinstance(event, RunTagSet):
            check_key("tag key", event.key)
            check_string_value("tag value", event.key, event.value, MAX_TAG_VAL_LENGTH)
        elif isinstance(event, RunTagDeleted):
            check_key("tag key", event.key)
        elif isinstance(event, RunEnded):
            if event.status not in RunStatus.__members__:
                raise InvalidInputError(f"run status must be one of {', '.join(RunStatus)}, got {event.status[:40]!r}")
            if event.end_time < 0:
                raise InvalidInputError(f"end_time {event.end_time} of run {run_id} is before the epoch")
        elif isinstance(event, RunRenamed):
            check_string_value("run name", "mlflow.runName", event.run_name, _MAX_RUN_NAME)
    return runs
