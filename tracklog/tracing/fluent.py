"""MLflow 3's tracing API: `trace` (a decorator), `start_span` (a context manager), reads and assessments.

The active span lives in a `ContextVar` (per thread and per asyncio task, as OpenTelemetry's
context): a span started inside another is its child; one started with none active starts a
new trace. A span is recorded as one `SpanLogged` event when it ends — one append to the
writer, nothing else on the hot path; a trace adds a `TraceStarted` when its root span starts
and a `TraceEnded` when it ends.

>>> import tempfile, tracklog
>>> tracklog.set_tracking_uri(tempfile.mkdtemp())
>>> @tracklog.trace
... def add(a, b):
...     with tracklog.start_span("double", span_type="TOOL") as span:
...         span.set_inputs({"x": a + b})
...         span.set_outputs(2 * (a + b))
...     return 2 * (a + b)
>>> add(1, 2)
6
>>> trace = tracklog.get_trace(tracklog.get_last_active_trace_id())
>>> [(s.name, s.span_type, s.outputs) for s in trace.data.spans]
[('add', 'UNKNOWN', 6), ('double', 'TOOL', 6)]
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import random
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, overload

import msgspec

from eventlog.errors import InvalidValueError
from eventlog.events import SpanLogged
from projections.traces import Assessment, SpanType, Trace, TraceInfo, load_json
from tracklog.tracing.store import TraceStore, check_time, new_trace_id
from tracklog.tracking.fluent import _client, _experiment_id, active_run
from tracklog.tracking.local import LocalStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LiveSpan",
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

F = TypeVar("F", bound=Callable[..., Any])
PREVIEW_CHARS = 1000  # MLflow's request/response preview length
_current: ContextVar[LiveSpan | None] = ContextVar("tracklog_active_span", default=None)
_stores: dict[str, TraceStore] = {}


class _Last:
    """The id of the last trace that ended in this process (MLflow's is process-wide too)."""

    def __init__(self) -> None:
        self.trace_id: str | None = None
        self.lock = threading.Lock()


_last = _Last()


_encode = msgspec.json.Encoder(enc_hook=str).encode  # what JSON cannot hold is written as its str()


def _dumps(value: Any) -> str:
    """JSON text of a value (None: empty, recorded as nothing)."""
    if value is None:
        return ""
    try:
        return _encode(value).decode()
    except (TypeError, ValueError, OverflowError, RecursionError):  # e.g. unsupported keys, a cycle
        return json.dumps(str(value), ensure_ascii=False)


def _trace_store() -> TraceStore:
    store = _client().store
    if not isinstance(store, LocalStore):
        raise InvalidValueError(
            f"tracklog's tracing API records to a store (a folder, s3://…, memory://…), not to {store.uri}: "
            "send spans to a tracking server with MLflow's client or any OpenTelemetry exporter (POST /v1/traces)")
    found = _stores.get(store.uri)
    if found is None or found.local is not store:
        found = _stores[store.uri] = TraceStore(store)
    return found


class _LiveTrace:
    """What a trace collects while its root span runs (`update_current_trace`)."""

    __slots__ = ("client_request_id", "experiment_id", "metadata", "request_preview", "response_preview", "store",
                 "tags", "trace_id")

    def __init__(self, store: TraceStore, trace_id: str, experiment_id: str) -> None:
        self.store, self.trace_id, self.experiment_id = store, trace_id, experiment_id
        self.tags: dict[str, str] = {}
        self.metadata: dict[str, str] = {}
        self.request_preview: str | None = None
        self.response_preview: str | None = None
        self.client_request_id: str | None = None


class LiveSpan:
    """A span while it runs: set its inputs, outputs, attributes and status; it is recorded when it ends."""

    __slots__ = ("_trace", "attributes", "events", "inputs", "name", "outputs", "parent_id", "span_id", "span_type",
                 "start_time_ns", "status", "status_message")

    def __init__(self, live: _LiveTrace, name: str, span_type: str, parent_id: str, attributes: Mapping[str, Any] | None) -> None:
        self._trace = live
        self.name, self.span_type, self.parent_id = name, span_type, parent_id
        self.span_id = f"{random.getrandbits(64) or 1:016x}"  # as OpenTelemetry's SDK makes ids
        self.attributes: dict[str, Any] = dict(attributes) if attributes else {}
        self.events: list[dict[str, Any]] = []
        self.inputs: Any = None
        self.outputs: Any = None
        self.status, self.status_message = "UNSET", ""
        self.start_time_ns = time.time_ns()

    @property
    def trace_id(self) -> str:
        return self._trace.trace_id

    @property
    def request_id(self) -> str:  # MLflow 2's name
        return self._trace.trace_id

    def set_inputs(self, inputs: Any) -> None:
        self.inputs = inputs

    def set_outputs(self, outputs: Any) -> None:
        self.outputs = outputs

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_status(self, status: str, message: str = "") -> None:
        """``OK``, ``ERROR`` or ``UNSET`` (MLflow's `SpanStatusCode`)."""
        code = str(getattr(status, "status_code", status)).upper().removeprefix("STATUSCODE.")
        if code not in ("OK", "ERROR", "UNSET"):
            raise InvalidValueError(f"a span status is OK, ERROR or UNSET, got {status!r}")
        self.status, self.status_message = code, message or getattr(status, "description", "") or ""

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None, timestamp_ns: int | None = None) -> None:
        if timestamp_ns is not None:  # checked here: a span event is read back as OTLP's (64-bit ns)
            check_time(timestamp_ns, f"the timestamp of span event {name!r} (ns since the epoch)")
        self.events.append({"name": str(name), "timestamp_ns": timestamp_ns or time.time_ns(),
                            "attributes": dict(attributes or {})})

    def record_exception(self, exc: BaseException) -> None:
        """An ``exception`` event (OpenTelemetry's semantic conventions) and status ERROR."""
        self.add_event("exception", {
            "exception.type": type(exc).__name__, "exception.message": str(exc),
            "exception.stacktrace": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))})
        self.set_status("ERROR", f"{type(exc).__name__}: {exc}")

    def end(self) -> None:
        """Record the span (and, for a root span, the end of its trace)."""
        end = time.time_ns()
        live = self._trace
        inputs, outputs = _dumps(self.inputs), _dumps(self.outputs)
        status = self.status if self.status != "UNSET" else "OK"
        live.store.append(SpanLogged(
            trace_id=live.trace_id, experiment_id=live.experiment_id, span_id=self.span_id,
            parent_span_id=self.parent_id, span_name=self.name, span_type=self.span_type, start_time_ns=self.start_time_ns,
            end_time_ns=end, status_code=status, status_message=self.status_message, inputs=inputs, outputs=outputs,
            attributes=_dumps(self.attributes) if self.attributes else "",
            span_events=_dumps(self.events) if self.events else ""))
        if not self.parent_id:
            live.store.end_trace(
                live.trace_id, live.experiment_id, "ERROR" if status == "ERROR" else "OK",
                (end - self.start_time_ns) // 1_000_000,
                request_preview=live.request_preview if live.request_preview is not None else inputs[:PREVIEW_CHARS],
                response_preview=live.response_preview if live.response_preview is not None else outputs[:PREVIEW_CHARS],
                metadata=live.metadata, tags=live.tags)
            with _last.lock:
                _last.trace_id = live.trace_id


def _begin(name: str, span_type: str, attributes: Mapping[str, Any] | None) -> LiveSpan:
    parent = _current.get()
    if parent is not None:
        return LiveSpan(parent._trace, name, span_type, parent.span_id, attributes)
    store = _trace_store()
    run = active_run()
    experiment_id = run.info.experiment_id if run is not None else _experiment_id()
    live = _LiveTrace(store, new_trace_id(), experiment_id)
    span = LiveSpan(live, name, span_type, "", attributes)
    metadata = {"mlflow.trace_schema.version": "3"}
    if run is not None:
        metadata["mlflow.sourceRun"] = run.info.run_id
    store.start_trace(live.trace_id, experiment_id, span.start_time_ns // 1_000_000, name=name, metadata=metadata)
    live.metadata.update(metadata)
    return span


@contextlib.contextmanager
def start_span(name: str = "span", span_type: str = SpanType.UNKNOWN,
               attributes: Mapping[str, Any] | None = None) -> Iterator[LiveSpan]:
    """A span around a block: a child of the active span, or the root of a new trace.

    An exception escaping the block is recorded on the span (an ``exception`` event, status
    ERROR) and raised on.

    Args:
        name: the span's name.
        span_type: MLflow's span type (``LLM``, ``TOOL``, ``RETRIEVER``… any string).
        attributes: initial attributes (JSON-serialisable values).
    """
    span = _begin(name, span_type, attributes)
    token = _current.set(span)
    try:
        yield span
    except BaseException as exc:
        span.record_exception(exc)
        raise
    finally:
        _current.reset(token)
        span.end()


def _inputs(signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    if signature is None:
        return {"args": list(args), **kwargs} if args else dict(kwargs)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), **kwargs}
    bound.apply_defaults()  # as MLflow records them
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


@overload
def trace(func: F, *, name: str | None = ..., span_type: str = ..., attributes: Mapping[str, Any] | None = ...,
          output_reducer: Callable[[list[Any]], Any] | None = ...) -> F: ...
@overload
def trace(func: None = ..., *, name: str | None = ..., span_type: str = ..., attributes: Mapping[str, Any] | None = ...,
          output_reducer: Callable[[list[Any]], Any] | None = ...) -> Callable[[F], F]: ...


def trace(func: F | None = None, *, name: str | None = None, span_type: str = SpanType.UNKNOWN,
          attributes: Mapping[str, Any] | None = None,
          output_reducer: Callable[[list[Any]], Any] | None = None) -> F | Callable[[F], F]:
    """Record each call of a function as a span: its arguments as inputs, its return value as
    outputs, an exception as an error. Works on functions, coroutine functions, generators and
    async generators (a generator's span lasts until it is exhausted; its outputs are the items
    it yielded, or `output_reducer` of them).

    Args:
        func: the function (``@trace`` without parentheses).
        name: the span's name (default: the function's ``__name__``).
        span_type: MLflow's span type.
        attributes: attributes every span of this function gets.
        output_reducer: for generators, turns the list of yielded items into the outputs.
    """
    if func is None:
        return functools.partial(trace, name=name, span_type=span_type, attributes=attributes,  # type: ignore[return-value]
                                 output_reducer=output_reducer)
    span_name = str(name or getattr(func, "__name__", "span"))
    try:
        signature: inspect.Signature | None = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None

    if inspect.isasyncgenfunction(func):
        @functools.wraps(func)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            with start_span(span_name, span_type, attributes) as span:
                span.set_inputs(_inputs(signature, args, kwargs))
                items = []
                async for item in func(*args, **kwargs):
                    items.append(item)
                    yield item
                span.set_outputs(output_reducer(items) if output_reducer else items)
        return agen_wrapper  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func):
        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            with start_span(span_name, span_type, attributes) as span:
                span.set_inputs(_inputs(signature, args, kwargs))
                items = []
                for item in func(*args, **kwargs):
                    items.append(item)
                    yield item
                span.set_outputs(output_reducer(items) if output_reducer else items)
        return gen_wrapper  # type: ignore[return-value]
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with start_span(span_name, span_type, attributes) as span:
                span.set_inputs(_inputs(signature, args, kwargs))
                result = await func(*args, **kwargs)
                span.set_outputs(result)
                return result
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with start_span(span_name, span_type, attributes) as span:
            span.set_inputs(_inputs(signature, args, kwargs))
            result = func(*args, **kwargs)
            span.set_outputs(result)
            return result
    return wrapper  # type: ignore[return-value]


def get_current_active_span() -> LiveSpan | None:
    return _current.get()


def get_last_active_trace_id(thread_local: bool = False) -> str | None:
    """The id of the last trace that ended in this process (None: none yet)."""
    return _last.trace_id


def update_current_trace(tags: Mapping[str, str] | None = None, metadata: Mapping[str, str] | None = None,
                         client_request_id: str | None = None, request_preview: str | None = None,
                         response_preview: str | None = None) -> None:
    """Add tags and metadata to the active trace, or set its previews (recorded when it ends).
    Outside a trace it warns and does nothing, as MLflow's does."""
    span = _current.get()
    if span is None:
        warnings.warn("update_current_trace: there is no active trace (call it inside a traced function or "
                      "start_span block)", stacklevel=2)
        return
    live = span._trace
    live.tags.update({str(k): str(v) for k, v in (tags or {}).items()})
    live.metadata.update({str(k): str(v) for k, v in (metadata or {}).items()})
    if client_request_id is not None:
        live.client_request_id = client_request_id
        live.metadata["mlflow.clientRequestId"] = client_request_id
    if request_preview is not None:
        live.request_preview = request_preview
    if response_preview is not None:
        live.response_preview = response_preview


def get_trace(trace_id: str) -> Trace:
    """The trace with this id, with its spans and assessments.

    Raises:
        TraceNotFoundError: no trace has this id (or it was deleted).
    """
    return _trace_store().get_trace(trace_id)


def search_traces(experiment_ids: Sequence[str] | None = None, filter_string: str | None = None,
                  max_results: int | None = None, order_by: Sequence[str] | None = None, *,
                  run_id: str | None = None, return_type: str = "pandas", include_spans: bool = True,
                  page_token: str | None = None) -> pd.DataFrame | list[Trace] | list[TraceInfo]:
    """The traces matching MLflow's trace filter (`query.traces`), newest first by default.

    Args:
        experiment_ids: where to look (default: the active experiment).
        filter_string: e.g. ``"trace.status = 'OK' and trace.execution_time_ms > 100"``.
        max_results: at most this many (default: every match).
        order_by: e.g. ``["timestamp_ms DESC"]``.
        run_id: only traces made inside this run.
        return_type: ``"pandas"`` (MLflow's columns) or ``"list"`` (`Trace` entities).
        include_spans: with False, the list holds `TraceInfo` and the frame has no ``spans``.
    """
    if return_type not in ("pandas", "list"):
        raise InvalidValueError(f"return_type must be 'pandas' or 'list', got {return_type!r}")
    ids = [str(e) for e in experiment_ids] if experiment_ids is not None else [_experiment_id()]
    if run_id is not None:
        run_filter = f"metadata.`mlflow.sourceRun` = '{run_id}'"
        filter_string = f"({filter_string}) and {run_filter}" if filter_string else run_filter
    found = _trace_store().search(ids, filter_string, max_results, order_by, page_token, include_spans=include_spans)
    if return_type == "list":
        return list(found)
    return _frame(found, include_spans)


def _frame(found: Sequence[Trace] | Sequence[TraceInfo], include_spans: bool) -> pd.DataFrame:
    """MLflow 3's search_traces columns."""
    import pandas as pd

    rows = []
    for item in found:
        info = item.info if isinstance(item, Trace) else item
        row = {"trace_id": info.trace_id, "trace": item, "client_request_id": info.client_request_id,
               "state": info.state, "request_time": info.request_time, "execution_duration": info.execution_duration,
               "request": load_json(info.request_preview), "response": load_json(info.response_preview),
               "trace_metadata": info.trace_metadata, "tags": info.tags,
               "assessments": info.assessments}
        if include_spans and isinstance(item, Trace):
            row["spans"] = item.data.spans
        rows.append(row)
    columns = ["trace_id", "trace", "client_request_id", "state", "request_time", "execution_duration", "request",
               "response", "trace_metadata", "tags", *(["spans"] if include_spans else []), "assessments"]
    return pd.DataFrame(rows, columns=columns)


def _source(source: Any, default: str) -> tuple[str, str | None]:
    """(source type, source id) from MLflow's AssessmentSource, a dict, a string or None."""
    if source is None:
        return default, None
    if isinstance(source, str):
        return source, None
    if isinstance(source, Mapping):
        return str(source.get("source_type", default)), source.get("source_id")
    return str(getattr(source, "source_type", default)), getattr(source, "source_id", None)


def log_feedback(trace_id: str, name: str = "feedback", value: Any = None, source: Any = None,
                 error: BaseException | Mapping[str, Any] | None = None, rationale: str | None = None,
                 metadata: Mapping[str, str] | None = None, span_id: str | None = None) -> Assessment:
    """Record feedback on a trace (or one of its spans): a value (bool, number, string, list or
    dict), who gave it (`source`: ``HUMAN``, ``LLM_JUDGE``, ``CODE``), why; or the `error` of a
    judge that failed."""
    if isinstance(error, BaseException):
        error = {"error_code": type(error).__name__, "error_message": str(error)}
    source_type, source_id = _source(source, "CODE")
    return _trace_store().log_assessment(trace_id, name, "feedback", value, rationale=rationale,
                                         source_type=source_type, source_id=source_id, span_id=span_id,
                                         error=error, metadata=metadata)


def log_expectation(trace_id: str, name: str, value: Any, source: Any = None, metadata: Mapping[str, str] | None = None,
                    span_id: str | None = None) -> Assessment:
    """Record what a trace should have produced (a ground truth) under `name`."""
    source_type, source_id = _source(source, "HUMAN")
    return _trace_store().log_assessment(trace_id, name, "expectation", value, source_type=source_type,
                                         source_id=source_id, span_id=span_id, metadata=metadata)

