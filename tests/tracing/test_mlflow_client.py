"""MLflow's own client traces into a real `tracklog server`: @mlflow.trace, get_trace, search_traces,
tags, assessments, deletes — and tracklog's API reads what MLflow wrote."""

from __future__ import annotations

import pytest
import requests

from tests.tracing.conftest import mlflow_sending_spans_at_once


@pytest.fixture
def mlflow(server, mlflow_client_env, monkeypatch):
    yield from mlflow_sending_spans_at_once(mlflow_client_env, server.url, monkeypatch)


def _traced(mlflow):
    @mlflow.trace(span_type="CHAIN")
    def pipeline(question: str) -> dict:
        with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"query": question})
            span.set_outputs([{"doc": "d1"}])
            span.set_attribute("top_k", 1)
        mlflow.update_current_trace(tags={"env": "test"})
        return {"answer": question[::-1]}

    return pipeline


def test_mlflow_traces_are_recorded_as_span_events_and_read_back_by_mlflow(server, mlflow) -> None:
    experiment = mlflow.set_experiment("traced")
    assert _traced(mlflow)("abc") == {"answer": "cba"}
    trace_id = mlflow.get_last_active_trace_id()
    trace = mlflow.get_trace(trace_id)
    assert trace.info.state == "OK" and trace.info.experiment_id == experiment.experiment_id
    assert trace.info.tags["env"] == "test" and trace.info.tags["mlflow.traceName"] == "pipeline"
    root, child = trace.data.spans
    assert (root.name, root.span_type, root.inputs, root.outputs) == ("pipeline", "CHAIN", {"question": "abc"},
                                                                      {"answer": "cba"})
    assert (child.name, child.span_type, child.parent_id) == ("retrieve", "RETRIEVER", root.span_id)
    assert child.inputs == {"query": "abc"} and child.outputs == [{"doc": "d1"}]
    assert child.get_attribute("top_k") == 1
    # the spans are events in the log, not a traces.json artifact
    rows = requests.post(f"{server.url}/api/2.0/tracklog/sql", timeout=30, json={
        "query": "SELECT kind, count(*) FROM events WHERE trace_id IS NOT NULL GROUP BY kind ORDER BY kind"}).json()
    kinds = dict(rows["rows"])
    assert kinds["SpanLogged"] == 2 and kinds["TraceStarted"] == 1 and kinds["TraceEnded"] == 1


def test_mlflow_search_traces_with_filters_and_order(server, mlflow) -> None:
    experiment = mlflow.set_experiment("searched")
    pipeline = _traced(mlflow)

    @mlflow.trace
    def broken() -> None:
        raise ValueError("no")

    pipeline("one")
    ok_id = mlflow.get_last_active_trace_id()
    with pytest.raises(ValueError):
        broken()
    error_id = mlflow.get_last_active_trace_id()
    locations = [experiment.experiment_id]
    frame = mlflow.search_traces(locations=locations)
    assert list(frame["trace_id"]) == [error_id, ok_id]
    assert list(frame["state"]) == ["ERROR", "OK"]
    found = mlflow.search_traces(locations=locations, filter_string="trace.status = 'OK'", return_type="list")
    assert [t.info.trace_id for t in found] == [ok_id]
    assert [s.name for s in found[0].data.spans] == ["pipeline", "retrieve"]
    found = mlflow.search_traces(locations=locations, filter_string="tags.env = 'test'", return_type="list")
    assert [t.info.trace_id for t in found] == [ok_id]
    found = mlflow.search_traces(locations=locations, filter_string="trace.name = 'broken'", return_type="list",
                                 order_by=["timestamp_ms ASC"])
    assert [t.info.trace_id for t in found] == [error_id]
    broken_span = mlflow.get_trace(error_id).data.spans[0]
    assert broken_span.status.status_code == "ERROR"
    assert [e.name for e in broken_span.events] == ["exception"]


def test_mlflow_tags_assessments_and_deletes(server, mlflow) -> None:
    experiment = mlflow.set_experiment("assessed")
    _traced(mlflow)("rate")
    trace_id = mlflow.get_last_active_trace_id()
    client = mlflow.MlflowClient()
    client.set_trace_tag(trace_id, "reviewed", "yes")
    client.delete_trace_tag(trace_id, "env")
    tags = mlflow.get_trace(trace_id).info.tags
    assert tags["reviewed"] == "yes" and "env" not in tags
    feedback = mlflow.log_feedback(trace_id=trace_id, name="helpful", value=0.75, rationale="mostly",
                                   source=mlflow.entities.AssessmentSource(source_type="HUMAN", source_id="ann"))
    mlflow.log_expectation(trace_id=trace_id, name="expected", value={"answer": "etar"})
    assessments = {a.name: a for a in mlflow.get_trace(trace_id).info.assessments}
    assert assessments["helpful"].value == 0.75 and assessments["helpful"].rationale == "mostly"
    assert assessments["helpful"].source.source_id == "ann"
    assert assessments["expected"].value == {"answer": "etar"}
    mlflow.update_assessment(trace_id=trace_id, assessment_id=feedback.assessment_id,
                             assessment=mlflow.entities.Feedback(name="helpful", value=1.0))
    assert mlflow.get_assessment(trace_id, feedback.assessment_id).value == 1.0
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=feedback.assessment_id)
    assert [a.name for a in mlflow.get_trace(trace_id).info.assessments] == ["expected"]
    assert client.delete_traces(experiment.experiment_id, trace_ids=[trace_id]) == 1
    assert mlflow.search_traces(locations=[experiment.experiment_id], return_type="list") == []


def test_tracklogs_api_reads_what_mlflows_client_sent(server, mlflow) -> None:
    import tracklog
    from tracklog.server.traces import SPANS_LOCATION_TAG

    _traced(mlflow)("shared")
    trace_id = mlflow.get_last_active_trace_id()
    server.stop()  # the store is read directly, after the server published everything
    tracklog.set_tracking_uri(server.store)
    trace = tracklog.get_trace(trace_id)
    assert [s.name for s in trace.data.spans] == ["pipeline", "retrieve"]
    assert trace.data.spans[0].inputs == {"question": "shared"}
    assert SPANS_LOCATION_TAG not in trace.info.tags  # said to MLflow's client, not recorded


def test_feedback_logged_while_a_trace_runs_reaches_the_server(server, mlflow) -> None:
    """MLflow's client holds such feedback until the trace ends and sends it inside the trace's
    info (``StartTraceV3``); the server recorded the info and dropped the feedback."""
    with mlflow.start_span(name="judged") as span:
        mlflow.log_feedback(trace_id=span.trace_id, name="inline", value="yes", rationale="held")
    info = mlflow.MlflowClient().get_trace(span.trace_id).info
    assert [(a.name, a.value, a.rationale) for a in info.assessments] == [("inline", "yes", "held")]
