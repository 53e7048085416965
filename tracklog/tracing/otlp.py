"""OpenTelemetry's OTLP trace messages to span events, and spans back to OTLP span messages.

In: an ``ExportTraceServiceRequest`` as protobuf or as OTLP/JSON (whose ids are hex strings, not
protobuf JSON's base64), decoded by ``opentelemetry-proto`` — never parsed by hand. Every
malformed message, id or value is a `MalformedRequestError` / `InvalidValueError` (400) naming
the span it is in. MLflow's span attributes (``mlflow.spanInputs``, ``mlflow.spanOutputs``,
``mlflow.spanType``; OTLP carries the values themselves) become the span's inputs (stored as
JSON text), outputs and type; the other attributes
are kept as they came, so a span read back is the span that was sent.

Out: a span as the OTLP ``Span`` message MLflow's client reads (``GetTrace``), with MLflow's
attributes put back.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from typing import Any

from eventlog.errors import (
    InvalidValueError,
    MalformedRequestError,
    MissingDependencyError,
    RequestLimitError,
)
from eventlog.events import SpanLogged
from projections.traces import Span
from tracklog.tracing.store import check_time

__all__ = ["EXPERIMENT_HEADER", "decode_request", "inflate", "span_dict", "span_events", "span_message", "spans_in"]

EXPERIMENT_HEADER = "x-mlflow-experiment-id"  # MLflow's client names the experiment of the spans it sends
_INPUTS, _OUTPUTS, _TYPE, _REQUEST_ID = "mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.spanType", "mlflow.traceRequestId"
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}
_STATUS_CODE = {"UNSET": 0, "OK": 1, "ERROR": 2}
MAX_ATTRIBUTE_DEPTH = 16  # nested AnyValue arrays/maps deeper than this are refused


def _proto() -> Any:
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError as exc:
        raise MissingDependencyError("the OTLP endpoint needs opentelemetry-proto: pip install 'tracklog[tracing]'") from exc
    return trace_service_pb2


def inflate(data: bytes, encoding: str, limit: int) -> bytes:
    """A body as sent with ``Content-Encoding`` gzip/deflate, inflated up to `limit` bytes (beyond:
    413, found after inflating at most `limit` + 1 bytes, so a small bomb costs what the limit
    does). One compressed stream, whole: one cut short, or bytes after it (a second gzip member
    too: no OTLP exporter sends one), are a 400 — never a partial request decoded as if whole."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "deflate"):
        raise MalformedRequestError(f"Content-Encoding must be gzip, deflate or identity, got {encoding[:64]!r}")
    inflater = zlib.decompressobj(47 if encoding == "gzip" else 15)  # 47: gzip or zlib header
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise MalformedRequestError(f"the {encoding} body does not inflate: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise RequestLimitError(f"the inflated request body is larger than this server's limit of {limit} bytes")
    if not inflater.eof:
        raise MalformedRequestError(f"the {encoding} body is cut short: its {len(data)} bytes end inside the "
                                    "compressed stream")
    if inflater.unused_data:
        raise MalformedRequestError(f"the {encoding} body has {len(inflater.unused_data)} bytes after its "
                                    "compressed stream (one stream per request)")
    return out


def decode_request(data: bytes, content_type: str) -> Any:
    """An ``ExportTraceServiceRequest`` from an OTLP/HTTP body (protobuf or JSON by `content_type`)."""
    pb = _proto()
    kind = content_type.split(";")[0].strip().lower()
    message = pb.ExportTraceServiceRequest()
    if kind in ("application/x-protobuf", "application/protobuf"):
        from google.protobuf.message import DecodeError

        try:
            message.ParseFromString(data)
        except (DecodeError, RecursionError) as exc:
            raise MalformedRequestError(f"the body is not an OTLP ExportTraceServiceRequest in protobuf: {exc}") from exc
        return message
    if kind == "application/json":
        return _from_json(data, message)
    raise MalformedRequestError("Content-Type must be application/x-protobuf or application/json (OTLP/HTTP's), got "
                                + (repr(content_type[:64]) if content_type else "none"))


def _from_json(data: bytes, message: Any) -> Any:
    from google.protobuf.json_format import ParseDict, ParseError

    from tracklog._json import MAX_DEPTH, json_depth

    if json_depth(data) > MAX_DEPTH:
        raise MalformedRequestError(f"the OTLP/JSON body nests more than {MAX_DEPTH} levels deep")
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise MalformedRequestError(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise MalformedRequestError(f"an OTLP/JSON body is an object with resourceSpans, got {type(body).__name__}")
    for where, span in _json_spans(body):
        for field in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"):
            if isinstance(span.get(field), str) and span[field]:
                span[field] = _hex_to_base64(span[field], f"{where}.{field}")
    try:
        return ParseDict(body, message, ignore_unknown_fields=True)
    except (ParseError, RecursionError, ValueError) as exc:
        raise MalformedRequestError(f"the body is not an OTLP/JSON ExportTraceServiceRequest: {exc}") from exc


def _json_spans(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, resource in enumerate(_list(body, "resourceSpans", "resource_spans", "$")):
        for j, scope in enumerate(_list(resource, "scopeSpans", "scope_spans", f"$.resourceSpans[{i}]")):
            for k, span in enumerate(_list(scope, "spans", "spans", f"$.resourceSpans[{i}].scopeSpans[{j}]")):
                if not isinstance(span, dict):
                    raise MalformedRequestError(f"$.resourceSpans[{i}].scopeSpans[{j}].spans[{k}] must be an object")
                yield f"$.resourceSpans[{i}].scopeSpans[{j}].spans[{k}]", span


def _list(parent: Any, name: str, alias: str, where: str) -> list[Any]:
    if not isinstance(parent, dict):
        raise MalformedRequestError(f"{where} must be an object")
    found = parent.get(name, parent.get(alias, []))
    if not isinstance(found, list):
        raise MalformedRequestError(f"{where}.{name} must be a list, got {type(found).__name__}")
    return found


def _hex_to_base64(text: str, where: str) -> str:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InvalidValueError(f"{where} must be hex digits (OTLP/JSON ids are hex), got {text[:64]!r}") from None
    return base64.b64encode(raw).decode()


class _TooDeep(Exception):
    pass


def _attributes(key_values: Any, where: str) -> dict[str, Any]:
    """OTLP KeyValues as a dict; a value nested too deep is refused naming where and its key."""
    out = {}
    for kv in key_values:
        try:
            out[kv.key] = _value(kv.value)
        except _TooDeep:
            raise InvalidValueError(f"{where}: attribute {kv.key[:64]!r} nests arrays or maps more than "
                                    f"{MAX_ATTRIBUTE_DEPTH} levels deep") from None
    return out


def _value(any_value: Any, depth: int = 0) -> Any:
    """An OTLP AnyValue as a Python value."""
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise _TooDeep
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v, depth + 1) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value, depth + 1) for kv in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(any_value.bytes_value).decode()
    return getattr(any_value, kind)


def spans_in(message: Any) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(where, span message, its resource's attributes) of every span of a request."""
    for i, resource_spans in enumerate(message.resource_spans):
        resource = _attributes(resource_spans.resource.attributes, f"resourceSpans[{i}].resource")
        for j, scope_spans in enumerate(resource_spans.scope_spans):
            for k, span in enumerate(scope_spans.spans):
                yield f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]", span, resource


def _id(raw: bytes, size: int, where: str, what: str, *, optional: bool = False) -> str:
    if optional and not raw:
        return ""
    if len(raw) != size or not any(raw):
        raise InvalidValueError(f"{where}: {what} must be {size} bytes, not all zero; got {len(raw)} bytes")
    return raw.hex()


def _times(span: Any, where: str) -> tuple[int, int]:
    """A span's start and end (ns): each within the event log's 64 bits (OTLP's are unsigned), the
    end not before the start (OTLP exports only ended spans)."""
    start = check_time(span.start_time_unix_nano, f"{where}: startTimeUnixNano")
    end = check_time(span.end_time_unix_nano, f"{where}: endTimeUnixNano")
    if end < start:
        raise InvalidValueError(f"{where}: endTimeUnixNano {end} is before startTimeUnixNano {start}")
    return start, end


def span_events(message: Any, default_experiment: str) -> list[SpanLogged]:
    """The `SpanLogged` event of each span of an ``ExportTraceServiceRequest``; all checked before any is returned."""
    out = []
    for where, span, resource in spans_in(message):
        trace_hex = _id(span.trace_id, 16, where, "traceId")
        attributes = _attributes(span.attributes, where)
        inputs, outputs = attributes.pop(_INPUTS, None), attributes.pop(_OUTPUTS, None)
        span_type = attributes.pop(_TYPE, "")
        attributes.pop(_REQUEST_ID, None)
        experiment = str(attributes.get("mlflow.experimentId") or resource.get("mlflow.experimentId") or default_experiment)
        events = [{"name": e.name, "timestamp_ns": e.time_unix_nano,
                   "attributes": _attributes(e.attributes, f"{where}.events[{n}]")} for n, e in enumerate(span.events)]
        start, end = _times(span, where)
        out.append(SpanLogged(
            trace_id="tr-" + trace_hex, experiment_id=experiment, span_id=_id(span.span_id, 8, where, "spanId"),
            parent_span_id=_id(span.parent_span_id, 8, where, "parentSpanId", optional=True), span_name=span.name,
            span_type=_type_text(span_type), start_time_ns=start, end_time_ns=end,
            status_code=_STATUS.get(span.status.code, "UNSET"), status_message=span.status.message,
            inputs=_as_json(inputs), outputs=_as_json(outputs),
            attributes=json.dumps(attributes, default=str) if attributes else "",
            span_events=json.dumps(events, default=str) if events else ""))
    return out


def _type_text(value: Any) -> str:
    return "" if value is None else str(value)


def _as_json(value: Any) -> str:
    """An attribute value (as OTLP carries it: the value itself, not JSON text) as JSON text."""
    if value is None:
        return ""
    return json.dumps(value, default=str)


def _any_value(value: Any, out: Any) -> None:
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, list):
        for item in value:
            _any_value(item, out.array_value.values.add())
    elif isinstance(value, dict):
        for key, item in value.items():
            kv = out.kvlist_value.values.add()
            kv.key = str(key)
            _any_value(item, kv.value)
    elif value is not None:
        out.string_value = str(value)


def _mlflow_attributes(span: Span) -> dict[str, Any]:
    """The span's attributes with MLflow's own put back: trace id, type, inputs, outputs."""
    attributes: dict[str, Any] = {_REQUEST_ID: span.trace_id, _TYPE: span.span_type or "UNKNOWN"}
    if span.inputs is not None:
        attributes[_INPUTS] = span.inputs
    if span.outputs is not None:
        attributes[_OUTPUTS] = span.outputs
    attributes.update(span.attributes)
    return attributes


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def span_dict(span: Span) -> dict[str, Any]:
    """A span as MLflow's trace-data JSON (its ``traces.json`` artifact) holds it: ids in base64,
    times in ns, OpenTelemetry's status code names, attribute values as JSON text."""
    return {
        "trace_id": _b64(span.trace_id.removeprefix("tr-")), "span_id": _b64(span.span_id),
        "parent_span_id": _b64(span.parent_id) if span.parent_id else None, "name": span.name,
        "start_time_unix_nano": span.start_time_ns, "end_time_unix_nano": span.end_time_ns,
        "events": [{"name": e.get("name", ""), "time_unix_nano": int(e.get("timestamp_ns") or 0),
                    "attributes": e.get("attributes") or {}} for e in span.events],
        "status": {"code": f"STATUS_CODE_{span.status}", "message": span.status_message or ""},
        "attributes": {k: json.dumps(v, ensure_ascii=False) for k, v in _mlflow_attributes(span).items()},
        "links": [],
    }


def span_message(span: Span) -> Any:
    """An OTLP ``Span`` message of a span read from the catalog, with MLflow's attributes (inputs,
    outputs, type, trace id), as MLflow's client reads spans."""
    from opentelemetry.proto.trace.v1 import trace_pb2


    message = trace_pb2.Span(
        trace_id=bytes.fromhex(span.trace_id.removeprefix("tr-")), span_id=bytes.fromhex(span.span_id),
        parent_span_id=bytes.fromhex(span.parent_id) if span.parent_id else b"", name=span.name,
        start_time_unix_nano=span.start_time_ns, end_time_unix_nano=span.end_time_ns,
        kind=trace_pb2.Span.SPAN_KIND_INTERNAL)
    message.status.code = _STATUS_CODE.get(span.status, 0)  # type: ignore[assignment]
    if span.status_message:
        message.status.message = span.status_message
    for key, value in _mlflow_attributes(span).items():
        kv = message.attributes.add()
        kv.key = key
        _any_value(value, kv.value)
    for event in span.events:
        out = message.events.add()
        out.name = str(event.get("name", ""))
        out.time_unix_nano = int(event.get("timestamp_ns") or 0)
        for key, value in (event.get("attributes") or {}).items():
            kv = out.attributes.add()
            kv.key = str(key)
            _any_value(value, kv.value)
    return message
