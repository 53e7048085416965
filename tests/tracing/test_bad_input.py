"""Hostile requests to MLflow's trace endpoints, and a hostile store under them: typed 4xx errors
naming what is wrong and where, never a 500, and the store keeps serving."""

from __future__ import annotations

import pytest
import requests

from eventlog.events import SpanLogged, TraceStarted
from eventlog.log import EventLog

V2, V3 = "/api/2.0/mlflow", "/api/3.0/mlflow"
_GOOD = "tr-" + "06" * 16


def _error(reply: requests.Response, status: int, code: str) -> str:
    assert reply.status_code == status, reply.text
    assert reply.json()["error_code"] == code, reply.text
    return str(reply.json()["message"])


def _span(log: EventLog, trace_id: str, span_id: str, **fields: str) -> None:
    log.append(SpanLogged(trace_id=trace_id, experiment_id="0", span_id=span_id, span_name="s", start_time_ns=10,
                          end_time_ns=20, **fields))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A server on a store whose segments hold spans and trace events no writer of tracklog's writes."""
    from tests.server.conftest import ServerProcess

    root = tmp_path_factory.mktemp("hostile-store")
    log = EventLog.open(str(root / "store"))
    _span(log, "tr-nothex", "zz")
    _span(log, "tr-" + "01" * 16, "0101010101010101", parent_span_id="qq")
    _span(log, "tr-" + "02" * 16, "0202020202020202", attributes="{not json")
    _span(log, "tr-" + "03" * 16, "0303030303030303", attributes="[1, 2]")
    _span(log, "tr-" + "04" * 16, "0404040404040404", span_events='[{"name": 5, "timestamp_ns": "abc"}]')
    _span(log, _GOOD, "0606060606060606")
    log.append(TraceStarted(trace_id="tr-" + "07" * 16, experiment_id="0", request_time=5, metadata="{not json"))
    log.flush()
    log.close()
    server = ServerProcess(str(root / "store"), str(root / "artifacts"), root / "server.log")
    yield server
    server.stop()


@pytest.mark.parametrize(("trace_id", "says"), [
    ("tr-nothex", "span 'zz' of trace 'tr-nothex': its trace id as stored is 'tr-nothex', not 32 lowercase hex"),
    ("tr-" + "01" * 16, "its parent span id as stored is 'qq', not 16 lowercase hex digits"),
    ("tr-" + "02" * 16, "attributes as stored is '{not json', not JSON"),
    ("tr-" + "03" * 16, "attributes as stored is '[1, 2]', not a JSON object"),
    ("tr-" + "04" * 16, "events as stored is"),
])
def test_a_span_no_writer_writes_is_a_typed_error_naming_it_on_every_read(hostile, trace_id, says) -> None:
    """Reading it back as OTLP (``bytes.fromhex`` of its ids) or as traces.json was a 500."""
    url = hostile.url
    for reply in (requests.get(f"{url}{V3}/traces/get", params={"trace_id": trace_id}, timeout=30),
                  requests.get(f"{url}{V3}/traces/batchGet", params={"trace_ids": [trace_id]}, timeout=30),
                  requests.get(f"{url}{V2}/get-trace-artifact", params={"request_id": trace_id}, timeout=30)):
        assert says in _error(reply, 400, "INVALID_STATE")
    assert requests.get(f"{url}{V3}/traces/{trace_id}", timeout=30).status_code == 200  # its info reads
    infos = requests.post(f"{url}{V3}/traces/batchGetInfos", json={"trace_ids": [trace_id]}, timeout=30)
    assert [i["trace_id"] for i in infos.json()["trace_infos"]] == [trace_id]


def test_the_rest_of_a_hostile_store_reads(hostile) -> None:
    """Metadata that is not JSON (one trace's) failed every read of every trace: the views parse it."""
    reply = requests.post(f"{hostile.url}{V3}/traces/search", json={}, timeout=30)
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["traces"]) == 7
    assert requests.get(f"{hostile.url}{V3}/traces/get", params={"trace_id": _GOOD}, timeout=30).status_code == 200
    info = requests.get(f"{hostile.url}{V3}/traces/tr-{'07' * 16}", timeout=30).json()["trace"]["trace_info"]
    assert info["trace_metadata"] == {}


@pytest.fixture
def server(shared_server):
    return shared_server


def _start(server, trace_id: str, **info: object) -> requests.Response:
    body = {"trace_id": trace_id, "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {
        "experiment_id": "0"}}, "request_time": "2025-01-01T00:00:00Z", "state": "OK", **info}
    return requests.post(f"{server.url}{V3}/traces", json={"trace": {"trace_info": body}}, timeout=30)


@pytest.mark.parametrize(("info", "says"), [
    ({"execution_duration": "1e16s"}, "execution_duration must be a duration such as 0.045s, from 0 up to 64 bits"),
    ({"execution_duration": "infs"}, "got 'infs'"),
    ({"execution_duration": "-5s"}, "got '-5s'"),
    ({"request_time": "0001-01-01T00:00:00Z"}, "(ms since the epoch) must be a whole number from 0 to"),
])
def test_trace_times_past_64_bits_or_negative_are_refused(server, info, says) -> None:
    """A duration of 1e16 s (2**63 ms and more) could never be published and wedged the store; inf was a 500."""
    assert says in _error(_start(server, "tr-" + "b1" * 16, **info), 400, "INVALID_PARAMETER_VALUE")


def test_mlflow_2_end_trace_past_64_bits_is_refused_and_the_store_keeps_working(server) -> None:
    started = requests.post(f"{server.url}{V2}/traces", json={"experiment_id": "0", "timestamp_ms": 5}, timeout=30)
    request_id = started.json()["trace_info"]["request_id"]
    reply = requests.patch(f"{server.url}{V2}/traces/{request_id}", json={"timestamp_ms": 2**63 + 5, "status": "OK"},
                           timeout=30)
    assert "timestamp_ms (ms since the epoch) must be a whole number" in _error(reply, 400, "INVALID_PARAMETER_VALUE")
    assert _start(server, "tr-" + "b2" * 16).status_code == 200


def test_assessments_delete_traces_and_metrics_refuse_or_survive_hostile_values(server) -> None:
    trace_id = "tr-" + "b3" * 16
    assert _start(server, trace_id, trace_metadata={"mlflow.trace.tokenUsage": "{not json"}).status_code == 200
    url = f"{server.url}{V3}/traces/{trace_id}/assessments"
    for text, says in (("{bad", "must be JSON text"), ("[" * 100_000 + "]" * 100_000, "more than 64 levels deep")):
        reply = requests.post(url, json={"assessment": {"assessment_name": "x", "expectation": {
            "serialized_value": {"serialization_format": "JSON_FORMAT", "value": text}}}}, timeout=30)
        assert says in _error(reply, 400, "INVALID_PARAMETER_VALUE")
    for max_traces in (-1, 2**63):
        reply = requests.post(f"{server.url}{V3}/traces/delete-traces", json={
            "experiment_id": "0", "max_timestamp_millis": 0, "max_traces": max_traces}, timeout=30)
        assert "max_traces must be a whole number" in _error(reply, 400, "INVALID_PARAMETER_VALUE")
    reply = requests.post(f"{server.url}{V3}/traces/metrics", json={
        "experiment_ids": ["0"], "view_type": "TRACES", "metric_name": "total_tokens",
        "aggregations": [{"aggregation_type": "SUM"}]}, timeout=30)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("trace_id", ["tr-%00abc", "tr-%0Aabc", "tr-%0D%0AX-Injected:%201", "a" * 5000, "..%2F..%2Fx"])
def test_odd_trace_ids_in_urls_are_not_found(server, trace_id) -> None:
    reply = requests.get(f"{server.url}{V3}/traces/{trace_id}", timeout=30)
    assert reply.status_code == 404 and reply.json()["error_code"] in ("RESOURCE_DOES_NOT_EXIST", "ENDPOINT_NOT_FOUND")
    reply = requests.get(f"{server.url}{V2}/get-trace-artifact", params={"request_id": requests.utils.unquote(trace_id)},
                         timeout=30)
    _error(reply, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize("key", ["bad\x00key", "line\nbreak", "\x7f"])
def test_a_trace_tag_key_with_control_characters_is_refused(server, key) -> None:
    """A NUL in a tag key was stored and shown as nothing in the UI and SQL."""
    trace_id = "tr-" + "b4" * 16
    assert _start(server, trace_id).status_code == 200
    reply = requests.patch(f"{server.url}{V3}/traces/{trace_id}/tags", json={"key": key, "value": "v"}, timeout=30)
    assert "must not contain control characters" in _error(reply, 400, "INVALID_PARAMETER_VALUE")
    got = requests.get(f"{server.url}{V3}/traces/{trace_id}", timeout=30)
    assert got.status_code == 200 and key not in got.json()["trace"]["trace_info"]["tags"], got.text
