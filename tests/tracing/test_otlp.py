"""OTLP/HTTP into a real `tracklog server`: OpenTelemetry's own SDK and exporter, OTLP/JSON, hostile bodies."""

from __future__ import annotations

import gzip
import json

import pytest
import requests

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
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


def _span_request(trace_id: bytes = b"\x01" * 16, span_id: bytes = b"\x02" * 8) -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = trace_id, span_id, "s"
    return request.SerializeToString()


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
