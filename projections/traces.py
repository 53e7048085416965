"""MLflow 3 traces as entities: `Trace` (its `TraceInfo` and `TraceData`), `Span`, `Assessment`,
read from the catalog's ``traces``, ``spans`` and ``assessments`` views (`projections.views`).

Names follow MLflow 3's entities (``trace.info.trace_id``, ``info.state``, ``info.request_time``,
``info.execution_duration``, ``data.spans``, ``span.parent_id``, ``span.inputs``…); inputs,
outputs, attribute values and assessment values come back decoded from their JSON.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from eventlog.errors import CorruptEventError, TraceNotFoundError

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "Assessment",
    "Span",
    "SpanStatusCode",
    "SpanType",
    "Trace",
    "TraceData",
    "TraceInfo",
    "TraceState",
    "load_json",
    "read_trace_infos",
    "read_traces",
]


class TraceState(enum.StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    IN_PROGRESS = "IN_PROGRESS"


class SpanStatusCode(enum.StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    UNSET = "UNSET"


class SpanType:
    """MLflow's span types (any string is accepted)."""

    LLM = "LLM"
    CHAIN = "CHAIN"
    AGENT = "AGENT"
    TOOL = "TOOL"
    CHAT_MODEL = "CHAT_MODEL"
    RETRIEVER = "RETRIEVER"
    PARSER = "PARSER"
    EMBEDDING = "EMBEDDING"
    RERANKER = "RERANKER"
    UNKNOWN = "UNKNOWN"


def load_json(text: str | None) -> Any:
    """A JSON text as its value; text that is not JSON stays as it is (OTLP senders may send any)."""
    if text is None or text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class Span(msgspec.Struct, frozen=True, kw_only=True):
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    span_type: str | None
    start_time_ns: int
    end_time_ns: int
    status: str
    status_message: str | None = None
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = {}
    events: list[dict[str, Any]] = []

    @property
    def duration_ms(self) -> float:
        return (self.end_time_ns - self.start_time_ns) / 1e6


class Assessment(msgspec.Struct, frozen=True, kw_only=True):
    """Feedback (``kind='feedback'``) on a trace or span, or an expectation of it."""

    assessment_id: str
    trace_id: str
    name: str
    kind: str
    value: Any
    rationale: str | None = None
    source_type: str = "CODE"
    source_id: str | None = None
    span_id: str | None = None
    error: dict[str, Any] | None = None
    metadata: dict[str, str] = {}
    create_time_ms: int = 0
    last_update_time_ms: int = 0
    overrides: str | None = None  # the assessment this one corrects
    valid: bool = True  # False while a live assessment overrides this one


class TraceInfo(msgspec.Struct, frozen=True, kw_only=True):
    trace_id: str
    experiment_id: str
    request_time: int  # ms since the epoch
    execution_duration: int | None  # ms
    state: str
    name: str = ""
    request_preview: str | None = None
    response_preview: str | None = None
    client_request_id: str | None = None
    tags: dict[str, str] = {}
    trace_metadata: dict[str, str] = {}
    assessments: list[Assessment] = []

    @property
    def request_id(self) -> str:  # MLflow 2's name
        return self.trace_id

    @property
    def status(self) -> str:  # MLflow 2's name
        return self.state

    @property
    def timestamp_ms(self) -> int:
        return self.request_time

    @property
    def execution_time_ms(self) -> int | None:
        return self.execution_duration


class TraceData(msgspec.Struct, frozen=True, kw_only=True):
    spans: list[Span] = []

    @property
    def request(self) -> Any:
        """The root span's inputs."""
        return next((s.inputs for s in self.spans if s.parent_id is None), None)

    @property
    def response(self) -> Any:
        return next((s.outputs for s in self.spans if s.parent_id is None), None)


class Trace(msgspec.Struct, frozen=True, kw_only=True):
    info: TraceInfo
    data: TraceData

    def search_spans(self, name: str | None = None, span_type: str | None = None) -> list[Span]:
        return [s for s in self.data.spans if (name is None or s.name == name)
                and (span_type is None or s.span_type == span_type)]


_INFO_COLUMNS = ("trace_id, experiment_id, name, state, request_time_ms, execution_time_ms, request_preview, "
                 "response_preview, client_request_id, tags, metadata")
_SPAN_COLUMNS = ("trace_id, span_id, parent_span_id, name, span_type, start_time_ns, end_time_ns, status, "
                 "status_message, inputs, outputs, attributes, events")
_ASSESSMENT_COLUMNS = ("trace_id, assessment_id, name, kind, value, rationale, source_type, source_id, span_id, error, "
                       "metadata, create_time_ms, last_update_time_ms, overrides, valid")


def read_trace_infos(cur: duckdb.DuckDBPyConnection, trace_ids: Sequence[str]) -> list[TraceInfo]:
    """The infos of these traces (with their assessments), in this order; missing ones raise."""
    if not trace_ids:
        return []
    ids = list(trace_ids)
    rows = cur.execute(f"SELECT {_INFO_COLUMNS} FROM traces WHERE trace_id IN (SELECT unnest($ids))", {"ids": ids}).fetchall()
    found = {row[0]: row for row in rows}
    missing = [t for t in ids if t not in found]
    if missing:
        raise TraceNotFoundError(f"Trace with ID {missing[0]} not found: no trace has that id in this store")
    assessments = _assessments(cur, ids)
    return [_info(found[t], assessments.get(t, [])) for t in ids]


def read_traces(cur: duckdb.DuckDBPyConnection, trace_ids: Sequence[str]) -> list[Trace]:
    """These traces whole (info and spans, spans by start time), in this order."""
    infos = read_trace_infos(cur, trace_ids)
    spans: dict[str, list[Span]] = {}
    rows = cur.execute(f"SELECT {_SPAN_COLUMNS} FROM spans WHERE trace_id IN (SELECT unnest($ids)) "
                       "ORDER BY trace_id, start_time_ns, span_id", {"ids": list(trace_ids)}).fetchall()
    for row in rows:
        spans.setdefault(row[0], []).append(_span(row))
    return [Trace(info=i, data=TraceData(spans=spans.get(i.trace_id, []))) for i in infos]


def _info(row: tuple[Any, ...], assessments: list[Assessment]) -> TraceInfo:
    trace_id, experiment_id, name, state, request_time, duration, request, response, client_id, tags, metadata = row
    return TraceInfo(trace_id=trace_id, experiment_id=experiment_id, name=name, state=state,
                     request_time=int(request_time or 0), execution_duration=None if duration is None else int(duration),
                     request_preview=request, response_preview=response, client_request_id=client_id,
                     tags=dict(tags), trace_metadata=dict(metadata), assessments=assessments)


_HEX = re.compile(r"[0-9a-f]+")


def _span(row: tuple[Any, ...]) -> Span:
    """A row of the ``spans`` view as a `Span`, its stored fields checked first: ids are OpenTelemetry's
    (lowercase hex, 16 bytes a trace, 8 a span), attributes a JSON object, events a JSON list of
    objects — what every writer of spans writes (OTLP and the API check them on the way in). Anything
    else is a damaged or foreign segment, a `CorruptEventError` naming the span and field, never a
    span that fails later where it is sent out as OTLP."""
    (trace_id, span_id, parent, name, span_type, start, end, status, message, inputs, outputs, attributes,
     events) = row
    where = f"span {span_id!r} of trace {trace_id!r}"
    _check_hex(trace_id.removeprefix("tr-") if trace_id.startswith("tr-") else "", 32, "its trace id", trace_id, where)
    _check_hex(span_id, 16, "its span id", span_id, where)
    if parent is not None:
        _check_hex(parent, 16, "its parent span id", parent, where)
    return Span(trace_id=trace_id, span_id=span_id, parent_id=parent, name=name, span_type=span_type,
                start_time_ns=start, end_time_ns=end, status=status, status_message=message,
                inputs=load_json(inputs), outputs=load_json(outputs),
                attributes=_stored_object(attributes, "attributes", where), events=_stored_events(events, where))


def _corrupt(where: str, what: str, value: Any, expected: str) -> CorruptEventError:
    shown = value if len(str(value)) <= 80 else f"{str(value)[:80]}…"
    return CorruptEventError(f"{where}: {what} as stored is {shown!r}, not {expected}: a span tracklog never writes "
                             "(a damaged or foreign segment in the store), so the trace cannot be read whole; its rows "
                             "are in SQL's spans view")


def _check_hex(text: str, size: int, what: str, value: Any, where: str) -> None:
    if len(text) != size or not _HEX.fullmatch(text):
        raise _corrupt(where, what, value, f"{size} lowercase hex digits" + (" after 'tr-'" if size == 32 else ""))


def _stored_json(text: str, what: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise _corrupt(where, what, text, "JSON") from None


def _stored_object(text: str, what: str, where: str) -> dict[str, Any]:
    value = _stored_json(text, what, where)
    if not isinstance(value, dict):
        raise _corrupt(where, what, text, "a JSON object")
    return value


def _event_shaped(event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    stamp = event.get("timestamp_ns", 0)
    return (isinstance(event.get("name", ""), str) and isinstance(stamp, int) and 0 <= stamp < 2**64  # OTLP's fixed64
            and isinstance(event.get("attributes") or {}, dict))


def _stored_events(text: str, where: str) -> list[dict[str, Any]]:
    events = _stored_json(text, "events", where)
    if not isinstance(events, list) or not all(map(_event_shaped, events)):
        raise _corrupt(where, "events", text, "a JSON list of {name, timestamp_ns, attributes} objects")
    return events


def _assessments(cur: duckdb.DuckDBPyConnection, trace_ids: list[str]) -> dict[str, list[Assessment]]:
    rows = cur.execute(f"SELECT {_ASSESSMENT_COLUMNS} FROM assessments WHERE trace_id IN (SELECT unnest($ids)) "
                       "ORDER BY create_time_ms, assessment_id", {"ids": trace_ids}).fetchall()
    out: dict[str, list[Assessment]] = {}
    for (trace_id, aid, name, kind, value, rationale, source_type, source_id, span_id, error, metadata, created,
         updated, overrides, valid) in rows:
        out.setdefault(trace_id, []).append(Assessment(
            assessment_id=aid, trace_id=trace_id, name=name, kind=kind, value=load_json(value), rationale=rationale,
            source_type=source_type or "CODE", source_id=source_id, span_id=span_id, error=load_json(error),
            metadata=dict(metadata), create_time_ms=int(created), last_update_time_ms=int(updated),
            overrides=overrides, valid=bool(valid)))
    return out
