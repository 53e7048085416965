"""OTLP/HTTP into a real `tracklog server`: OpenTelemetry's own SDK and exporter, OTLP/JSON, hostile bodies."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
import requests

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.trace import Status, StatusCode  # noqa: E402


def _sql(server, query: str) -> list:
    reply = requests.post(f"{server.url}/api/2.0/tracklog/sql", json={"query": query}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["rows"]


def _provider(server, **headers: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-test"}))
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers=headers or None)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_the_opentelemetry_sdk_exporter_sends_spans_that_read_back_as_a_trace(server) -> None:
    provider = _provider(server)
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("handle", attributes={"http.route": "/ask", "retries": 2}) as root:
        with tracer.start_as_current_span("llm") as child:
            child.set_attribute("gen_ai.request.model", "tiny")
            child.add_event("token", {"n": 1})
        with tracer.start_as_current_span("tool") as failed:
            failed.set_status(Status(StatusCode.ERROR, "tool broke"))
    provider.shutdown()
    trace_hex = format(root.get_span_context().trace_id, "032x")
    root_id = format(root.get_span_context().span_id, "016x")
    spans = _sql(server, "SELECT trace_id, span_id, parent_span_id, name, status, attributes, events FROM spans "
                         "ORDER BY start_time_ns")
    assert [s[3] for s in spans] == ["handle", "llm", "tool"]
    assert {s[0] for s in spans} == {f"tr-{trace_hex}"}
    assert spans[0][1:3] == [root_id, None] and spans[1][2] == root_id == spans[2][2]
    assert [s[4] for s in spans] == ["UNSET", "UNSET", "ERROR"]
    assert json.loads(spans[0][5]) == {"http.route": "/ask", "retries": 2}
    assert json.loads(spans[1][6])[0]["name"] == "token"
    traces = _sql(server, "SELECT trace_id, name, state, span_count, experiment_id FROM traces")
    assert traces == [[f"tr-{trace_hex}", "handle", "OK", 3, "0"]]


def test_otlp_json_with_hex_ids_and_gzip(server) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "json-span",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000",
        "status": {"code": 2, "message": "nope"},
        "attributes": [{"key": "mlflow.spanInputs", "value": {"kvlistValue": {"values": [
            {"key": "q", "value": {"stringValue": "hi"}}]}}},
                       {"key": "mlflow.spanType", "value": {"stringValue": "LLM"}}]}]}]}]}
    reply = requests.post(f"{server.url}/v1/traces", data=gzip.compress(json.dumps(body).encode()),
                          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, timeout=30)
    assert reply.status_code == 200, reply.text
    assert _sql(server, "SELECT trace_id, span_id, span_type, inputs, duration_ms FROM spans") == [
        ["tr-5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "LLM", '{"q": "hi"}', 500.0]]
    assert _sql(server, "SELECT state, execution_time_ms, request_time_ms FROM traces") == [
        ["ERROR", 500, 1700000000000]]


def _span_request(trace_id: bytes = b"\x01" * 16, span_id: bytes = b"\x02" * 8, start: int = 0, end: int = 0,
                  **attributes: AnyValue) -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = trace_id, span_id, "s"
    span.start_time_unix_nano, span.end_time_unix_nano = start, end
    for key, value in attributes.items():
        kv = span.attributes.add()
        kv.key = key
        kv.value.CopyFrom(value)
    return request.SerializeToString()


def _nested(depth: int) -> AnyValue:
    """A kvlist AnyValue `depth` maps deep."""
    value = AnyValue(int_value=1)
    for _ in range(depth):
        outer = AnyValue()
        kv = outer.kvlist_value.values.add()
        kv.key = "k"
        kv.value.CopyFrom(value)
        value = outer
    return value


@pytest.mark.parametrize(("body", "content_type", "status", "code", "match"), [
    (b"\xff\xfe garbage", "application/x-protobuf", 400, "MALFORMED_REQUEST", "not an OTLP ExportTraceServiceRequest"),
    (b"{not json", "application/json", 400, "MALFORMED_REQUEST", "not JSON"),
    (b'{"resourceSpans": 3}', "application/json", 400, "MALFORMED_REQUEST", "resourceSpans must be a list"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]}', "application/json",
     400, "INVALID_PARAMETER_VALUE", r"spans\[0\].traceId must be hex"),
    (_span_request(trace_id=b"\x01" * 5), "application/x-protobuf", 400, "INVALID_PARAMETER_VALUE",
     r"spans\[0\]: traceId must be 16 bytes"),
    (_span_request(span_id=b"\x00" * 8), "application/x-protobuf", 400, "INVALID_PARAMETER_VALUE",
     "spanId must be 8 bytes, not all zero"),
    (b"[" * 5000 + b"]" * 5000, "application/json", 400, "MALFORMED_REQUEST", "nests"),
    (_span_request(), "text/plain", 400, "MALFORMED_REQUEST", "Content-Type must be"),
    (_span_request(), "", 400, "MALFORMED_REQUEST", "Content-Type must be .*, got none"),
    (_span_request(start=2000, end=1000), "application/x-protobuf", 400, "INVALID_PARAMETER_VALUE",
     r"spans\[0\]: endTimeUnixNano 1000 is before startTimeUnixNano 2000"),
    (_span_request(deep=_nested(17)), "application/x-protobuf", 400, "INVALID_PARAMETER_VALUE",
     r"spans\[0\]: attribute 'deep' nests arrays or maps more than 16 levels deep"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "", "spanId": "0102030405060708"}]}]}]}',
     "application/json", 400, "INVALID_PARAMETER_VALUE", r"spans\[0\]: traceId must be 16 bytes, .* got 0 bytes"),
])
def test_hostile_bodies_get_typed_400s_and_record_nothing(server, body, content_type, status, code, match) -> None:
    import re

    reply = requests.post(f"{server.url}/v1/traces", data=body, headers={"Content-Type": content_type}, timeout=30)
    assert reply.status_code == status, reply.text
    assert reply.json()["error_code"] == code
    assert re.search(match, reply.json()["message"]), reply.json()["message"]
    assert _sql(server, "SELECT count(*) FROM spans") == [[0]]
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200


def test_bodies_over_the_limit_are_refused_even_when_they_inflate_from_little(start_server) -> None:
    server = start_server(None, "", "--max-body-size", "100000")
    big = _span_request() + b"\x00" * 200_000
    reply = requests.post(f"{server.url}/v1/traces", data=big, headers={"Content-Type": "application/x-protobuf"},
                          timeout=30)
    assert reply.status_code == 413 and reply.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED"
    bomb = gzip.compress(b"\x00" * 50_000_000)  # ~50 KB that inflates to 50 MB
    reply = requests.post(f"{server.url}/v1/traces", data=bomb, timeout=30,
                          headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    assert reply.status_code == 413, reply.text
    assert "inflated" in reply.json()["message"]


def test_spans_for_an_experiment_that_does_not_exist_are_refused(server) -> None:
    reply = requests.post(f"{server.url}/v1/traces", data=_span_request(), timeout=30,
                          headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": "424242"})
    assert reply.status_code == 404 and reply.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize(("body", "encoding", "match"), [
    (gzip.compress(_span_request())[:-8], "gzip", "cut short"),
    (gzip.compress(_span_request()) + b"junk", "gzip", "4 bytes after its compressed stream"),
    (gzip.compress(_span_request()) * 2, "gzip", "after its compressed stream"),
    (zlib.compress(_span_request())[:-2], "deflate", "cut short"),
    (_span_request(), "br", "Content-Encoding must be gzip, deflate or identity, got 'br'"),
])
def test_a_compressed_body_must_be_one_whole_stream(server, body, encoding, match) -> None:
    """A gzip or deflate body cut short, or with bytes after its stream, is a 400: never a partial
    request decoded as if it were whole (a truncated body once stored whatever prefix parsed)."""
    reply = requests.post(f"{server.url}/v1/traces", data=body, timeout=30,
                          headers={"Content-Type": "application/x-protobuf", "Content-Encoding": encoding})
    assert reply.status_code == 400 and reply.json()["error_code"] == "MALFORMED_REQUEST", reply.text
    assert match in reply.json()["message"]
    reply = requests.post(f"{server.url}/v1/traces", data=zlib.compress(_span_request()), timeout=30,
                          headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "deflate"})
    assert reply.status_code == 200, reply.text
    assert _sql(server, "SELECT count(*) FROM spans") == [[1]]


def test_a_span_time_past_64_bits_is_refused_and_the_store_keeps_working(start_server) -> None:
    """OTLP times are unsigned 64-bit, the event log's signed: a span ending in 2554 was accepted,
    could never be published, and wedged the store — every later write failed, and the server
    did not start again on it."""
    server = start_server()
    late = _span_request(trace_id=b"\x05" * 16, start=2**64 - 2, end=2**64 - 1)
    reply = requests.post(f"{server.url}/v1/traces", data=late, headers={"Content-Type": "application/x-protobuf"},
                          timeout=30)
    assert reply.status_code == 400 and reply.json()["error_code"] == "INVALID_PARAMETER_VALUE", reply.text
    assert "startTimeUnixNano must be a whole number from 0 to 9223372036854775807" in reply.json()["message"]
    good = _span_request(start=10, end=20)
    reply = requests.post(f"{server.url}/v1/traces", data=good, headers={"Content-Type": "application/x-protobuf"},
                          timeout=30)
    assert reply.status_code == 200, reply.text
    assert _sql(server, "SELECT trace_id, duration_ms FROM spans") == [["tr-" + "01" * 16, 1e-05]]
    server.stop()
    again = start_server(server.store)
    assert _sql(again, "SELECT count(*) FROM spans") == [[1]]
