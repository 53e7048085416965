"""MLflow 3 tracing on the event log: spans are events, traces are the catalog's views.

`trace` and `start_span` record spans (`tracklog.tracing.fluent`); `get_trace` and
`search_traces` read them back; `log_feedback` and `log_expectation` assess them. A tracking
server takes the same spans from MLflow's client and any OpenTelemetry exporter
(`tracklog.server.traces`). SQL: the views ``traces``, ``spans`` and ``assessments``.
"""

from projections.traces import (
    Assessment,
    Span,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)
from tracklog.tracing.fluent import (
    LiveSpan,
    get_current_active_span,
    get_last_active_trace_id,
    get_trace,
    log_expectation,
    log_feedback,
    search_traces,
    start_span,
    trace,
    update_current_trace,
)
from tracklog.tracing.store import TraceStore

__all__ = [
    "Assessment",
    "LiveSpan",
    "Span",
    "SpanStatusCode",
    "SpanType",
    "Trace",
    "TraceData",
    "TraceInfo",
    "TraceState",
    "TraceStore",
    "get_current_active_span",
    "get_last_active_trace_id",
    "get_trace",
    "log_expectation",
    "log_feedback",
    "search_traces",
    "start_span",
    "trace",
    "update_current_trace",
]
