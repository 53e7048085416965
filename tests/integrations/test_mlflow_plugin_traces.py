"""MLflow's own tracing on a ``tracklog:`` store, no server: ``@mlflow.trace`` and
``mlflow.start_span`` record spans into the event log, MLflow's client reads, tags, assesses,
links and deletes them, and tracklog's API, its SQL and its server's trace endpoints read the same
traces (and MLflow reads those tracklog records)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

import tracklog
from tracklog.tracing import TraceStore

pytest.importorskip("mlflow")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # MLflow's request_id deprecation


@pytest.fixture
def tracing(mlflow, monkeypatch, tmp_path):
    """MLflow's fluent API on a fresh ``tracklog:`` store, each span logged as it ends (MLflow's
    default queues them for a background thread: a read right after a trace would race it)."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    mlflow.set_tracking_uri(f"tracklog:{tmp_path / 'store'}")
    mlflow.set_experiment("traced")
    yield mlflow
    mlflow.flush_trace_async_logging()


def _store(tmp_path) -> str:
    return str(tmp_path / "store")


def _traced(mlflow):
    @mlflow.trace(span_type="CHAIN")
    def answer(question: str) -> str:
        with mlflow.start_span(name="retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"query": question})
            span.set_outputs(["doc1", "doc2"])
        return shout(question)

    @mlflow.trace
    def shout(text: str) -> str:
        time.sleep(0.002)
        return text.upper()

    return answer


def test_a_traced_call_reads_back_through_mlflow_and_tracklog(tracing, tmp_path) -> None:
    mlflow = tracing
    before = int(time.time() * 1000) - 1
    assert _traced(mlflow)("why?") == "WHY?"
    trace_id = mlflow.get_last_active_trace_id()

    trace = mlflow.MlflowClient().get_trace(trace_id)
    assert trace.info.state == "OK" and trace.info.tags["mlflow.traceName"] == "answer"
    assert trace.info.request_time >= before and trace.info.execution_duration >= 2
    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) == {"answer", "retrieve", "shout"}
    root = spans["answer"]
    assert root.parent_id is None and root.span_type == "CHAIN"
    assert root.inputs == {"question": "why?"} and root.outputs == "WHY?"
    assert spans["retrieve"].parent_id == root.span_id and spans["shout"].parent_id == root.span_id
    assert spans["retrieve"].span_type == "RETRIEVER" and spans["retrieve"].outputs == ["doc1", "doc2"]
    assert spans["shout"].inputs == {"text": "why?"} and spans["shout"].outputs == "WHY?"
    assert root.start_time_ns <= spans["shout"].start_time_ns < spans["shout"].end_time_ns <= root.end_time_ns
    assert spans["shout"].end_time_ns - spans["shout"].start_time_ns >= 2_000_000
    assert mlflow.get_trace(trace_id).info.trace_id == trace_id  # the fluent read

    experiment = mlflow.get_experiment_by_name("traced").experiment_id
    mlflow.MlflowClient().set_trace_tag(trace_id, "env", "dev")
    _traced(mlflow)("other")

    def found(filter_string: str) -> list[str]:
        return [t.info.trace_id for t in mlflow.search_traces(locations=[experiment], filter_string=filter_string,
                                                              return_type="list")]

    assert found("tags.env = 'dev'") == [trace_id]
    assert len(found("trace.status = 'OK'")) == 2
    assert len(found(f"trace.timestamp_ms >= {before}")) == 2 and found("trace.timestamp_ms < 1000") == []
    # MLflow 3's span keys through the plugin store (docs/integrations.md): both calls have a
    # RETRIEVER span; only the tagged one in an AND with a tag
    assert len(found("span.type = 'RETRIEVER' AND span.name = 'retrieve'")) == 2
    assert found("span.name = 'retrieve' AND span.type = 'CHAIN'") == []  # not the same span
    assert found("span.name = 'shout' AND tags.env = 'dev'") == [trace_id]
    frame = mlflow.search_traces(locations=[experiment], filter_string="tags.env = 'dev'")
    assert list(frame["trace_id"]) == [trace_id] and len(frame["spans"][0]) == 3

    # tracklog's own readers: the same spans, from the same events
    client = tracklog.Client(_store(tmp_path))
    rows = client.sql(f"SELECT name, span_type FROM spans WHERE trace_id = '{trace_id}' ORDER BY start_time_ns").fetchall()
    assert rows == [("answer", "CHAIN"), ("retrieve", "RETRIEVER"), ("shout", "UNKNOWN")]
    own = TraceStore(client.store).get_trace(trace_id)
    assert {s.span_id: s.parent_id for s in own.data.spans} == {s.span_id: s.parent_id for s in trace.data.spans}
    assert own.info.tags["env"] == "dev" and own.info.name == "answer" and own.info.state == "OK"


def test_the_server_reads_what_the_plugin_wrote(tracing, tmp_path) -> None:
    """`tracklog server`'s trace endpoint answers for a trace MLflow recorded through the plugin
    (the server's app on the same store, called in-process)."""
    from tracklog.server.app import create_app

    mlflow = tracing
    _traced(mlflow)("why?")
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.MlflowClient().set_trace_tag(trace_id, "env", "dev")
    status, body = _get(create_app(_store(tmp_path), None), "/api/3.0/mlflow/traces/get", f"trace_id={trace_id}")
    assert status == 200, body
    answered = mlflow.entities.Trace.from_proto(_parse(body["trace"]))
    mine = mlflow.MlflowClient().get_trace(trace_id)
    assert answered.info.tags == mine.info.tags and answered.info.trace_metadata == mine.info.trace_metadata
    assert [(s.name, s.parent_id, s.inputs, s.outputs) for s in answered.data.spans] == \
        [(s.name, s.parent_id, s.inputs, s.outputs) for s in mine.data.spans]


def test_mlflow_reads_a_trace_tracklog_recorded(mlflow, tmp_path) -> None:
    store = _store(tmp_path)
    previous = tracklog.get_tracking_uri()
    tracklog.set_tracking_uri(store)
    try:
        tracklog.set_experiment("own")

        @tracklog.trace(span_type="CHAIN")
        def answer(question: str) -> str:
            with tracklog.start_span("retrieve", span_type="RETRIEVER") as span:
                span.set_inputs({"query": question})
            return question.upper()

        answer("why?")
        trace_id = tracklog.get_last_active_trace_id()
        tracklog.log_feedback(trace_id, "helpful", True, rationale="right answer")
    finally:
        tracklog.set_tracking_uri(previous)
    mlflow.set_tracking_uri(f"tracklog:{store}")
    trace = mlflow.MlflowClient().get_trace(trace_id)
    assert [(s.name, s.span_type) for s in trace.data.spans] == [("answer", "CHAIN"), ("retrieve", "RETRIEVER")]
    assert trace.data.spans[0].outputs == "WHY?" and trace.data.spans[1].inputs == {"query": "why?"}
    (feedback,) = trace.info.assessments
    assert feedback.name == "helpful" and feedback.value is True and feedback.rationale == "right answer"


def test_tags_assessments_links_and_deletes(tracing) -> None:
    mlflow = tracing
    client = mlflow.MlflowClient()
    experiment = mlflow.get_experiment_by_name("traced").experiment_id
    with mlflow.start_span(name="judged") as span:
        span.set_inputs({"q": 1})
        mlflow.log_feedback(trace_id=span.trace_id, name="inline", value="yes")  # held in memory until the trace ends
        mlflow.update_current_trace(tags={"team": "a"}, client_request_id="req-1")
    trace_id = span.trace_id
    info = client.get_trace(trace_id).info
    assert [(a.name, a.value) for a in info.assessments] == [("inline", "yes")]
    assert info.tags["team"] == "a" and info.client_request_id == "req-1"
    client.delete_trace_tag(trace_id, "team")
    mlflow.delete_assessment(trace_id, info.assessments[0].assessment_id)

    client.set_trace_tag(trace_id, "stage", "eval")
    client.set_trace_tag(trace_id, "drop", "me")
    client.delete_trace_tag(trace_id, "drop")
    assert {k: v for k, v in client.get_trace(trace_id).info.tags.items() if not k.startswith("mlflow.")} == \
        {"stage": "eval"}

    source = mlflow.entities.AssessmentSource(source_type="HUMAN", source_id="ann")
    feedback = mlflow.log_feedback(trace_id=trace_id, name="quality", value=0.5, rationale="so-so", source=source)
    expectation = mlflow.log_expectation(trace_id=trace_id, name="expected", value={"answer": [1, 2]})
    assert feedback.assessment_id and expectation.assessment_id
    read = mlflow.get_assessment(trace_id, feedback.assessment_id)
    assert (read.name, read.value, read.rationale, read.source.source_type, read.source.source_id) == \
        ("quality", 0.5, "so-so", "HUMAN", "ann")
    assert mlflow.get_assessment(trace_id, expectation.assessment_id).value == {"answer": [1, 2]}

    updated = mlflow.update_assessment(trace_id, feedback.assessment_id,
                                       mlflow.entities.Feedback(name="quality", value=0.9, rationale="better"))
    assert (updated.value, updated.rationale, updated.source.source_id) == (0.9, "better", "ann")
    mlflow.delete_assessment(trace_id, expectation.assessment_id)
    assert [a.assessment_id for a in client.get_trace(trace_id).info.assessments] == [feedback.assessment_id]

    with mlflow.start_span(name="other"):
        pass
    other = mlflow.get_last_active_trace_id()
    run = client.create_run(experiment)
    client.link_traces_to_run([trace_id], run.info.run_id)
    linked = mlflow.search_traces(locations=[experiment], run_id=run.info.run_id, return_type="list")
    assert [t.info.trace_id for t in linked] == [trace_id]

    assert client.delete_traces(experiment, trace_ids=[trace_id]) == 1
    assert [t.info.trace_id for t in mlflow.search_traces(locations=[experiment], return_type="list")] == [other]
    assert client.delete_traces(experiment, max_timestamp_millis=int(time.time() * 1000) + 1000) == 1
    assert mlflow.search_traces(locations=[experiment], return_type="list") == []


def test_bad_input_is_an_mlflow_error_with_its_code(tracing) -> None:
    mlflow = tracing
    client = mlflow.MlflowClient()
    with mlflow.start_span(name="one") as span:
        pass
    trace_id = span.trace_id
    error = mlflow.exceptions.MlflowException

    with pytest.raises(error, match="a trace tag key must be a string of 1 to 250 characters") as caught:
        client.set_trace_tag(trace_id, "k" * 251, "v")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(error, match="No trace tag with key 'absent'") as caught:
        client.delete_trace_tag(trace_id, "absent")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    unknown = "tr-" + "0" * 31 + "1"
    for call in (lambda: client.get_trace(unknown), lambda: client.set_trace_tag(unknown, "k", "v"),
                 lambda: mlflow.get_assessment(trace_id, "a-missing"),
                 lambda: mlflow.log_feedback(trace_id=unknown, name="quality", value=1),
                 lambda: client.link_traces_to_run([unknown], client.create_run("0").info.run_id)):
        with pytest.raises(error) as caught:
            call()
        assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST", caught.value.message
    with pytest.raises(error, match="must not contain control characters") as caught:
        client.set_trace_tag(trace_id, "a\x00b", "v")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def _get(app, path: str, query: str) -> tuple[int, dict]:
    """One GET through an ASGI app, in this process."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 5000)}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


def _parse(trace: dict):
    from google.protobuf.json_format import ParseDict
    from mlflow.protos.service_pb2 import Trace

    return ParseDict(trace, Trace(), ignore_unknown_fields=True)


def test_spans_logged_from_mlflows_background_thread(mlflow, tmp_path) -> None:
    """MLflow's default: spans and trace infos are logged by its export thread; after a flush
    they are all in the store."""
    mlflow.set_tracking_uri(f"tracklog:{tmp_path / 'store'}")
    experiment = mlflow.set_experiment("async").experiment_id
    answer = _traced(mlflow)
    for n in range(3):
        answer(f"q{n}")
    mlflow.flush_trace_async_logging()
    found = mlflow.search_traces(locations=[experiment], return_type="list")
    assert len(found) == 3 and all(len(t.data.spans) == 3 for t in found)
