"""The rest of MLflow's trace API against a real `tracklog server`, through MLflow's own client:
trace-to-run links, full-text search, assessment overrides, MLflow 2's start/end, the
traces.json download, trace metrics and filter correlation."""

from __future__ import annotations

import json
import math
import uuid

import pytest
import requests

from tests.tracing.conftest import mlflow_sending_spans_at_once

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # MLflow's request_id deprecation


@pytest.fixture
def mlflow(shared_server, mlflow_client_env, monkeypatch):
    yield from mlflow_sending_spans_at_once(mlflow_client_env, shared_server.url, monkeypatch)


@pytest.fixture
def client(mlflow, shared_server):
    return mlflow.MlflowClient(shared_server.url)


@pytest.fixture
def experiment(mlflow) -> str:
    """A fresh experiment (the server is shared by the module), the active one."""
    return mlflow.set_experiment(f"parity-{uuid.uuid4().hex[:8]}").experiment_id


def _span(mlflow, name: str, **attributes) -> str:
    with mlflow.start_span(name=name) as span:
        span.set_attributes(attributes)
    return span.trace_id


def test_search_by_run_id_finds_traces_recorded_under_the_run_and_traces_linked_to_it(mlflow, experiment, client) -> None:
    run = client.create_run(experiment)
    with mlflow.start_run(run_id=run.info.run_id):
        under = _span(mlflow, "under")
    linked, alone = _span(mlflow, "linked"), _span(mlflow, "alone")
    client.link_traces_to_run(trace_ids=[linked], run_id=run.info.run_id)
    found = client.search_traces(locations=[experiment], filter_string=f"attributes.run_id = '{run.info.run_id}'")
    assert {t.info.trace_id for t in found} == {under, linked}
    assert alone not in {t.info.trace_id for t in client.search_traces(
        locations=[experiment], filter_string=f"trace.run_id LIKE '{run.info.run_id[:8]}%'")}
    with pytest.raises(mlflow.exceptions.MlflowException, match="not found"):
        client.link_traces_to_run(trace_ids=[alone], run_id="0" * 32)


def test_text_search_matches_the_content_of_any_span(mlflow, experiment, client) -> None:
    with mlflow.start_span(name="outer") as outer, mlflow.start_span(name="inner") as inner:
        inner.set_inputs({"question": "where is the Zebra?"})
    plain = _span(mlflow, "plain", note="nothing here")

    def ids(text: str) -> set[str]:
        return {t.info.trace_id for t in client.search_traces(locations=[experiment], filter_string=text)}

    assert ids("trace.text ILIKE '%zebra%'") == {outer.trace_id}
    assert ids("trace.text LIKE '%zebra%'") == set()  # LIKE is case-sensitive
    assert ids("trace.text LIKE '%nothing here%'") == {plain}
    assert ids("trace.text LIKE '%n%'") == {outer.trace_id, plain}


def test_an_override_invalidates_the_assessment_it_corrects_until_it_is_deleted(mlflow, experiment, shared_server) -> None:
    trace_id = _span(mlflow, "judged")
    url = f"{shared_server.url}/api/3.0/mlflow/traces/{trace_id}/assessments"

    def create(**extra) -> dict:
        body = {"assessment": {"assessment_name": "quality", "feedback": {"value": 1},
                               "source": {"source_type": "HUMAN", "source_id": "ann"}, **extra}}
        response = requests.post(url, json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["assessment"]

    def valid(aid: str) -> bool:
        return requests.get(f"{url}/{aid}", timeout=30).json()["assessment"]["valid"]

    first = create()
    assert first["valid"] is True and "overrides" not in first
    override = create(overrides=first["assessment_id"])
    assert override["overrides"] == first["assessment_id"] and override["valid"] is True
    assert valid(first["assessment_id"]) is False
    assert requests.delete(f"{url}/{override['assessment_id']}", timeout=30).status_code == 200
    assert valid(first["assessment_id"]) is True
    missing = requests.post(url, json={"assessment": {"assessment_name": "q", "feedback": {"value": 1},
                                                      "overrides": "a-nope"}}, timeout=30)
    assert missing.status_code == 404, missing.text


def test_mlflow_2_start_and_end_trace(mlflow, experiment, client) -> None:
    from mlflow.entities.trace_status import TraceStatus

    store = client._tracing_client.store
    started = store.deprecated_start_trace_v2(experiment_id=experiment, timestamp_ms=1000,
                                              request_metadata={"m1": "a", "m2": "b"}, tags={"t1": "x"})
    assert started.request_id.startswith("tr-") and started.status == "IN_PROGRESS"
    assert (started.timestamp_ms, started.execution_time_ms) == (1000, 0)
    assert started.request_metadata == {"m1": "a", "m2": "b"} and started.tags["t1"] == "x"
    ended = store.deprecated_end_trace_v2(request_id=started.request_id, timestamp_ms=3500, status=TraceStatus.ERROR,
                                          request_metadata={"m1": "c"}, tags={"t2": "y"})
    assert (ended.status, ended.execution_time_ms) == ("ERROR", 2500)
    assert ended.request_metadata == {"m1": "c", "m2": "b"}
    assert {k: v for k, v in ended.tags.items() if not k.startswith("mlflow.")} == {"t1": "x", "t2": "y"}
    assert client.get_trace(started.request_id).info.state == "ERROR"


def test_the_trace_data_download_is_mlflows_traces_json(mlflow, experiment, shared_server) -> None:
    from mlflow.entities import SpanEvent
    from mlflow.entities.trace_data import TraceData

    with mlflow.start_span(name="root") as root:
        root.set_inputs({"q": "é"})
        root.add_event(SpanEvent("hit", timestamp=123, attributes={"k": "v"}))
        with mlflow.start_span(name="child") as child:
            child.set_attributes({"n": 3, "ok": True})
    response = requests.get(f"{shared_server.url}/ajax-api/2.0/mlflow/get-trace-artifact",
                            params={"request_id": root.trace_id}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == "attachment; filename=traces.json"
    spans = TraceData.from_dict(json.loads(response.text)).spans
    assert [s.to_dict() for s in spans] == [root.to_dict(), child.to_dict()]
    assert requests.get(f"{shared_server.url}/ajax-api/2.0/mlflow/get-trace-artifact",
                        params={"request_id": "tr-" + "0" * 32}, timeout=30).status_code == 404


def test_trace_metrics_per_status_and_span_latency_percentiles(mlflow, experiment, client) -> None:
    from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType

    for name, status in (("a", "OK"), ("b", "OK"), ("c", "ERROR")):
        span = client.start_trace(name=name, experiment_id=experiment)
        client.end_trace(trace_id=span.trace_id, status=status)
    store = client._tracing_client.store
    counts = store.query_trace_metrics(
        experiment_ids=[experiment], view_type=MetricViewType.TRACES, metric_name="trace_count",
        aggregations=[MetricAggregation(AggregationType.COUNT)], dimensions=["trace_status"])
    assert [(p.dimensions, p.values) for p in counts] == [({"trace_status": "ERROR"}, {"COUNT": 1}),
                                                          ({"trace_status": "OK"}, {"COUNT": 2})]
    ok_only = store.query_trace_metrics(
        experiment_ids=[experiment], view_type=MetricViewType.SPANS, metric_name="span_count",
        aggregations=[MetricAggregation(AggregationType.COUNT)], dimensions=["span_name"],
        filters=["trace.status = 'OK'"], time_interval_seconds=3600)
    assert sorted(p.dimensions["span_name"] for p in ok_only) == ["a", "b"]
    assert all(p.dimensions["time_bucket"].endswith(":00:00+00:00") for p in ok_only)
    latency = store.query_trace_metrics(
        experiment_ids=[experiment], view_type=MetricViewType.SPANS, metric_name="latency",
        aggregations=[MetricAggregation(AggregationType.PERCENTILE, 50.0), MetricAggregation(AggregationType.MAX)])
    assert set(latency[0].values) == {"P50.0", "MAX"} and latency[0].values["MAX"] >= latency[0].values["P50.0"]
    with pytest.raises(mlflow.exceptions.MlflowException, match="span_status"):
        store.query_trace_metrics(experiment_ids=[experiment], view_type=MetricViewType.TRACES,
                                  metric_name="trace_count", aggregations=[MetricAggregation(AggregationType.COUNT)],
                                  dimensions=["span_status"])


def test_filter_correlation_counts_and_npmi(mlflow, experiment, client) -> None:
    from mlflow.tracing.client import TracingClient

    for env, kind in [("prod", "TOOL")] * 3 + [("dev", "LLM")] * 2 + [("dev", "TOOL")]:
        span = client.start_trace(name="t", experiment_id=experiment, tags={"env": env, "kind": kind})
        client.end_trace(trace_id=span.trace_id)
    tracing = TracingClient(tracking_uri=mlflow.get_tracking_uri())
    together = tracing.calculate_trace_filter_correlation([experiment], "tags.env = 'prod'", "tags.kind = 'TOOL'")
    assert (together.total_count, together.filter1_count, together.filter2_count, together.joint_count) == (6, 3, 4, 3)
    assert together.npmi == pytest.approx(math.log(0.5 / (0.5 * 4 / 6)) / -math.log(0.5))
    apart = tracing.calculate_trace_filter_correlation([experiment], "tags.env = 'prod'", "tags.kind = 'LLM'")
    assert apart.joint_count == 0 and apart.npmi == -1.0
    nothing = tracing.calculate_trace_filter_correlation([experiment], "tags.env = 'qa'", "tags.kind = 'LLM'")
    assert math.isnan(nothing.npmi) and nothing.filter1_count == 0
    based = tracing.calculate_trace_filter_correlation([experiment], "tags.env = 'dev'", "tags.kind = 'LLM'",
                                                       base_filter="tags.env = 'dev'")
    assert (based.total_count, based.joint_count) == (3, 2)
    with pytest.raises(mlflow.exceptions.MlflowException, match="Invalid filter_string1"):
        tracing.calculate_trace_filter_correlation([experiment], "nonsense.x = 'y'", "tags.kind = 'LLM'")
