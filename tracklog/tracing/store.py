"""`TraceStore`: traces on a local store's event log — writes are events, reads are the catalog's views.

Every writer of traces goes through it: the Python API (`tracklog.tracing.fluent`), the REST
server's trace endpoints and its OTLP endpoint (`tracklog.server.traces`), and MLflow's own client
on a ``tracklog:`` store (`tracklog.integrations.mlflow_plugin`). Logging a span is one
`EventLog.append` (the writer's buffer and WAL; no read, no I/O beyond the WAL append).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from eventlog.errors import AssessmentNotFoundError, InvalidValueError
from eventlog.events import (
    AssessmentDeleted,
    AssessmentLogged,
    Event,
    TraceDeleted,
    TraceEnded,
    TraceLinked,
    TraceStarted,
    TraceTagDeleted,
    TraceTagSet,
)
from projections.entities import PagedList
from projections.traces import Assessment, Trace, TraceInfo, read_trace_infos, read_traces
from query.traces import search_trace_ids

if TYPE_CHECKING:
    from tracklog.tracking.local import LocalStore

__all__ = ["MAX_TAG_KEY", "MAX_TAG_VALUE", "MAX_TIME", "TraceStore", "check_time", "new_assessment_id", "new_trace_id",
           "trace_id_of"]

MAX_TAG_KEY = 250  # MLflow's limits for trace tags
MAX_TAG_VALUE = 8000
MAX_LINKED_TRACES = 100  # MLflow's limit for one link_traces_to_run call
MAX_TIME = 2**63 - 1  # the event log stores times and durations as signed 64-bit integers
_HEX = frozenset("0123456789abcdef")


def check_link_count(count: int) -> None:
    """Refuse more trace ids than one ``link_traces_to_run`` takes (MLflow's limit)."""
    if count > MAX_LINKED_TRACES:
        raise InvalidValueError(f"link_traces_to_run takes at most {MAX_LINKED_TRACES} trace ids, got {count}")


def check_time(value: int, what: str) -> int:
    """`value` (a time or duration in ns or ms), refused unless it fits the event log's signed 64-bit
    columns and is not negative: one event that does not fit could never be published, and every
    later write would wait behind it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TIME:
        raise InvalidValueError(f"{what} must be a whole number from 0 to {MAX_TIME} (64 bits), got {value!r}")
    return value


def new_trace_id() -> str:
    """A new OpenTelemetry trace id (32 hex) in MLflow 3's form, ``tr-<hex>``: from `random`, as
    OpenTelemetry's SDK makes them (``os.urandom`` costs a system call each; `random` is reseeded
    after fork)."""
    return f"tr-{random.getrandbits(128) or 1:032x}"


def new_assessment_id() -> str:
    return "a-" + secrets.token_hex(16)


def trace_id_of(otel_trace_id: str) -> str:
    """MLflow's trace id of an OpenTelemetry trace id (32 lowercase hex digits)."""
    if len(otel_trace_id) != 32 or not _HEX.issuperset(otel_trace_id):
        raise InvalidValueError(f"a trace id must be 32 lowercase hex digits, got {otel_trace_id!r}")
    return "tr-" + otel_trace_id


_encode = msgspec.json.Encoder(enc_hook=str).encode


def _dumps(value: Any) -> str:
    return _encode(value).decode()


def _check_tag(key: Any, value: Any) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY:
        raise InvalidValueError(f"a trace tag key must be a string of 1 to {MAX_TAG_KEY} characters, got {key!r}")
    if any(ch < " " or ch == "\x7f" for ch in key):  # NUL and other control characters: no UI or SQL shows them
        raise InvalidValueError(f"a trace tag key must not contain control characters, got {key!r}")
    if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
        raise InvalidValueError(f"the value of trace tag {key!r} must be a string of at most {MAX_TAG_VALUE} "
                                f"characters, got {type(value).__name__} of length {len(str(value))}")


class TraceStore:
    """The traces of one `LocalStore`."""

    def __init__(self, local: LocalStore) -> None:
        self.local = local
        self.log = local.log

    # ---- writing --------------------------------------------------------------------------

    def append(self, event: Event) -> None:
        self.log.append(event)

    def start_trace(self, trace_id: str, experiment_id: str, request_time_ms: int, *, name: str = "",
                    client_request_id: str = "", metadata: Mapping[str, str] | None = None,
                    tags: Mapping[str, str] | None = None) -> None:
        check_time(request_time_ms, f"the request time of trace {trace_id} (ms since the epoch)")
        for key, value in (tags or {}).items():
            _check_tag(key, value)
        for key, value in (tags or {}).items():
            self.log.append(TraceTagSet(trace_id=trace_id, experiment_id=experiment_id, key=key, value=value))
        self.log.append(TraceStarted(trace_id=trace_id, experiment_id=experiment_id, request_time=request_time_ms,
                                     trace_name=name, client_request_id=client_request_id,
                                     metadata=_dumps(dict(metadata)) if metadata else ""))

    def end_trace(self, trace_id: str, experiment_id: str, state: str, execution_time_ms: int, *,
                  request_preview: str = "", response_preview: str = "", metadata: Mapping[str, str] | None = None,
                  tags: Mapping[str, str] | None = None) -> None:
        check_time(execution_time_ms, f"the execution time of trace {trace_id} (ms)")
        for key, value in (tags or {}).items():
            _check_tag(key, value)
        for key, value in (tags or {}).items():
            self.log.append(TraceTagSet(trace_id=trace_id, experiment_id=experiment_id, key=key, value=value))
        self.log.append(TraceEnded(trace_id=trace_id, experiment_id=experiment_id, state=state,
                                   execution_time_ms=execution_time_ms, request_preview=request_preview,
                                   response_preview=response_preview, metadata=_dumps(dict(metadata)) if metadata else ""))

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        _check_tag(key, value)
        self.log.append(TraceTagSet(trace_id=trace_id, experiment_id=self.experiment_of(trace_id), key=key, value=value))

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        info = self.get_trace_info(trace_id)
        if key not in info.tags:
            raise InvalidValueError(f"No trace tag with key {key!r} on trace {trace_id}")
        self.log.append(TraceTagDeleted(trace_id=trace_id, experiment_id=info.experiment_id, key=key))

    def log_assessment(self, trace_id: str, name: str, kind: str, value: Any = None, *, rationale: str | None = None,
                       source_type: str = "CODE", source_id: str | None = None, span_id: str | None = None,
                       error: Mapping[str, Any] | None = None, metadata: Mapping[str, str] | None = None,
                       assessment_id: str | None = None, overrides: str | None = None) -> Assessment:
        """Record feedback or an expectation (`kind`) on a trace; with `assessment_id`, update that one.
        With `overrides` (another assessment's id on the same trace), this one corrects that one,
        which reads as invalid (``valid=False``) until this one is deleted."""
        if kind not in ("feedback", "expectation"):
            raise InvalidValueError(f"an assessment is 'feedback' or 'expectation', got {kind!r}")
        if not isinstance(name, str) or not name:
            raise InvalidValueError(f"an assessment needs a name (a non-empty string), got {name!r}")
        experiment_id = self.experiment_of(trace_id)
        created = int(time.time() * 1000)
        if assessment_id is not None:
            created = self.get_assessment(trace_id, assessment_id).create_time_ms
        if overrides:
            self.get_assessment(trace_id, overrides)  # 404 for one that is not on this trace
        aid = assessment_id or new_assessment_id()
        self.log.append(AssessmentLogged(
            trace_id=trace_id, experiment_id=experiment_id, assessment_id=aid, assessment_name=name,
            assessment_kind=kind, assessment_value=_dumps(value), rationale=rationale or "",
            source_type=(source_type or "CODE").upper(), source_id=source_id or "", span_id=span_id or "",
            error=_dumps(dict(error)) if error else "", metadata=_dumps(dict(metadata)) if metadata else "",
            created_time=created, overrides=overrides or ""))
        return self.get_assessment(trace_id, aid)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        self.get_assessment(trace_id, assessment_id)
        self.log.append(AssessmentDeleted(trace_id=trace_id, experiment_id=self.experiment_of(trace_id),
                                          assessment_id=assessment_id))

    def link_traces_to_run(self, trace_ids: Sequence[str], run_id: str) -> None:
        """Link these traces to a run (each must exist, as must the run): a search with
        ``attributes.run_id = '<run>'`` finds them, as it finds the traces recorded under the run."""
        check_link_count(len(trace_ids))
        self.local.get_run(run_id)  # RunNotFoundError
        infos = read_trace_infos(self.local.cursor(), list(trace_ids))  # TraceNotFoundError
        for info in infos:
            self.log.append(TraceLinked(trace_id=info.trace_id, experiment_id=info.experiment_id, run_id=run_id))

    def delete_traces(self, experiment_id: str, *, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None, trace_ids: Iterable[str] | None = None) -> int:
        """Delete traces of an experiment: these ids, or the oldest up to `max_traces` before
        `max_timestamp_millis`. Returns how many were deleted."""
        cur = self.local.cursor()
        if trace_ids is not None:
            ids = list(trace_ids)
            rows = cur.execute("SELECT trace_id FROM traces WHERE experiment_id = $e AND trace_id IN (SELECT unnest($ids))",
                               {"e": experiment_id, "ids": ids}).fetchall()
        else:
            if max_timestamp_millis is None:
                raise InvalidValueError("delete_traces needs trace_ids or max_timestamp_millis")
            if max_traces is not None:
                check_time(max_traces, "max_traces")  # a LIMIT: not negative, within 64 bits
            limit = "" if max_traces is None else f" LIMIT {int(max_traces)}"
            rows = cur.execute("SELECT trace_id FROM traces WHERE experiment_id = $e AND request_time_ms <= $t "
                               f"ORDER BY request_time_ms{limit}", {"e": experiment_id, "t": max_timestamp_millis}).fetchall()
        for (trace_id,) in rows:
            self.log.append(TraceDeleted(trace_id=trace_id, experiment_id=experiment_id))
        return len(rows)

    # ---- reading --------------------------------------------------------------------------

    def experiment_of(self, trace_id: str) -> str:
        return self.get_trace_info(trace_id).experiment_id

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        return read_trace_infos(self.local.cursor(), [trace_id])[0]

    def get_trace(self, trace_id: str) -> Trace:
        return read_traces(self.local.cursor(), [trace_id])[0]

    def get_traces(self, trace_ids: Sequence[str], *, include_spans: bool = True) -> list[Trace] | list[TraceInfo]:
        """The traces of these ids that exist (others are left out), in this order; without
        `include_spans`, their infos (no span is read)."""
        cur = self.local.cursor()
        present = {t for (t,) in cur.execute("SELECT trace_id FROM traces WHERE trace_id IN (SELECT unnest($ids))",
                                             {"ids": list(trace_ids)}).fetchall()}
        ids = [t for t in trace_ids if t in present]
        return read_traces(cur, ids) if include_spans else read_trace_infos(cur, ids)

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        for assessment in self.get_trace_info(trace_id).assessments:
            if assessment.assessment_id == assessment_id:
                return assessment
        raise AssessmentNotFoundError(f"Assessment with ID {assessment_id} not found on trace {trace_id}")

    def search(self, experiment_ids: Sequence[str] | None = None, filter_string: str | None = None,
               max_results: int | None = 100, order_by: Sequence[str] | None = None, page_token: str | None = None,
               *, include_spans: bool = True) -> PagedList[Trace] | PagedList[TraceInfo]:
        """One page of the traces matching a filter (MLflow's trace grammar, `query.traces`)."""
        cur = self.local.cursor()
        page = search_trace_ids(cur, experiment_ids, filter_string, max_results, order_by, page_token)
        ids = [row[0] for row in page.rows]
        if include_spans:
            return PagedList(read_traces(cur, ids), page.token)
        return PagedList(read_trace_infos(cur, ids), page.token)

