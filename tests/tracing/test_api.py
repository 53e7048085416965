"""tracklog's tracing API on a local store: spans as events, traces read back, searched, assessed, in SQL."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import tracklog
from eventlog.errors import FilterSyntaxError, TraceNotFoundError
from tracklog.tracing import Trace


@tracklog.trace(span_type="CHAIN")
def answer(question: str, k: int = 2) -> dict:
    with tracklog.start_span("retrieve", span_type="RETRIEVER", attributes={"k": k}) as span:
        span.set_inputs({"query": question})
        docs = [f"doc{i}" for i in range(k)]
        span.set_outputs(docs)
    return {"answer": question.upper(), "sources": docs}


def _last() -> Trace:
    return tracklog.get_trace(tracklog.get_last_active_trace_id())


def test_a_traced_function_records_its_spans_with_parents_inputs_and_outputs(tracking_uri: str) -> None:
    assert answer("why", k=3) == {"answer": "WHY", "sources": ["doc0", "doc1", "doc2"]}
    trace = _last()
    root, child = trace.data.spans
    assert (root.name, root.span_type, root.parent_id) == ("answer", "CHAIN", None)
    assert root.inputs == {"question": "why", "k": 3}
    assert root.outputs == {"answer": "WHY", "sources": ["doc0", "doc1", "doc2"]}
    assert (child.name, child.span_type, child.parent_id) == ("retrieve", "RETRIEVER", root.span_id)
    assert child.attributes == {"k": 3} and child.outputs == ["doc0", "doc1", "doc2"]
    assert root.start_time_ns <= child.start_time_ns <= child.end_time_ns <= root.end_time_ns
    assert len(root.span_id) == 16 and trace.info.trace_id.startswith("tr-") and len(trace.info.trace_id) == 35
    assert root.trace_id == trace.info.trace_id
    info = trace.info
    assert (info.state, info.name, info.experiment_id) == ("OK", "answer", "0")
    assert info.execution_duration is not None and info.execution_duration >= 0
    assert trace.data.request == {"question": "why", "k": 3}


def test_an_exception_marks_the_span_and_trace_as_errors_and_is_raised_on(tracking_uri: str) -> None:
    @tracklog.trace
    def fails(x: int) -> None:
        with tracklog.start_span("inner"):
            raise KeyError(x)

    with pytest.raises(KeyError):
        fails(7)
    trace = _last()
    assert trace.info.state == "ERROR"
    for span in trace.data.spans:
        assert span.status == "ERROR" and span.status_message == "KeyError: 7"
        event = span.events[0]
        assert event["name"] == "exception" and event["attributes"]["exception.type"] == "KeyError"
        assert "raise KeyError(x)" in event["attributes"]["exception.stacktrace"]


def test_async_functions_generators_and_async_generators_are_traced(tracking_uri: str) -> None:
    @tracklog.trace
    async def outer(n: int) -> int:
        return await inner(n) + 1

    @tracklog.trace(name="renamed")
    async def inner(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    assert asyncio.run(outer(4)) == 9
    spans = _last().data.spans
    assert [(s.name, s.outputs) for s in spans] == [("outer", 9), ("renamed", 8)]
    assert spans[1].parent_id == spans[0].span_id

    @tracklog.trace(output_reducer=sum)
    def numbers(n: int):
        yield from range(n)

    assert list(numbers(4)) == [0, 1, 2, 3]
    assert _last().data.spans[0].outputs == 6

    @tracklog.trace
    async def letters():
        for c in "ab":
            yield c

    async def collect() -> list[str]:
        return [c async for c in letters()]

    assert asyncio.run(collect()) == ["a", "b"]
    assert _last().data.spans[0].outputs == ["a", "b"]


def test_update_current_trace_adds_tags_metadata_and_previews(tracking_uri: str) -> None:
    with tracklog.start_span("root") as span:
        tracklog.update_current_trace(tags={"env": "prod"}, metadata={"user": "ann"}, client_request_id="req-1",
                                      response_preview="short")
        assert tracklog.get_current_active_span() is span
    assert tracklog.get_current_active_span() is None
    info = _last().info
    assert info.tags == {"env": "prod"}
    assert info.trace_metadata["user"] == "ann" and info.client_request_id == "req-1"
    assert info.response_preview == "short"
    with pytest.warns(UserWarning, match="no active trace"):
        tracklog.update_current_trace(tags={"x": "y"})


def test_a_trace_inside_a_run_belongs_to_the_run_and_its_experiment(tracking_uri: str) -> None:
    experiment = tracklog.set_experiment("traced")
    with tracklog.start_run() as run:
        answer("in a run")
    found = tracklog.search_traces(run_id=run.info.run_id, return_type="list")
    assert [t.info.trace_id for t in found] == [tracklog.get_last_active_trace_id()]
    assert found[0].info.experiment_id == experiment.experiment_id
    assert found[0].info.trace_metadata["mlflow.sourceRun"] == run.info.run_id


def _traces(n: int) -> list[str]:
    """n traces, each started in a later millisecond than the last (MLflow orders by ms, then id)."""
    ids = []
    for i in range(n):
        time.sleep(0.002)
        with tracklog.start_span(f"t{i % 2}") as span:
            tracklog.update_current_trace(tags={"i": str(i), "parity": "even" if i % 2 == 0 else "odd"})
            if i == 3:
                span.set_status("ERROR", "bad")
        ids.append(span.trace_id)
    return ids


def test_search_traces_with_mlflows_filter_order_and_paging(tracking_uri: str) -> None:
    ids = _traces(6)

    def found(filter_string: str | None = None, **kw) -> list[str]:
        return [t.info.trace_id for t in tracklog.search_traces(filter_string=filter_string, return_type="list", **kw)]

    assert found() == ids[::-1]  # newest first
    assert found("trace.status = 'ERROR'") == [ids[3]]
    assert found("attributes.status != 'ERROR' and tags.parity = 'even'") == [ids[4], ids[2], ids[0]]
    assert found("trace.name = 't1'", order_by=["timestamp_ms ASC"]) == [ids[1], ids[3], ids[5]]
    assert found("tags.i IN ('1', '2')") == [ids[2], ids[1]]
    assert found("trace.execution_time_ms >= 0 and trace.timestamp_ms > 0") == ids[::-1]
    assert found("trace.timestamp_ms < 1000") == []
    assert found(max_results=2) == ids[:-3:-1]
    first = tracklog.search_traces(max_results=4, return_type="list", page_token=None)
    assert len(first) == 4
    with pytest.raises(FilterSyntaxError, match="unknown attribute 'colour'"):
        found("trace.colour = 'red'")


def test_search_traces_returns_mlflows_pandas_columns(tracking_uri: str) -> None:
    answer("frame")
    frame = tracklog.search_traces()
    assert list(frame.columns) == ["trace_id", "trace", "client_request_id", "state", "request_time",
                                   "execution_duration", "request", "response", "trace_metadata", "tags", "spans",
                                   "assessments"]
    row = frame.iloc[0]
    assert row["state"] == "OK" and row["request"] == {"question": "frame", "k": 2}
    assert [s.name for s in row["spans"]] == ["answer", "retrieve"]


def test_feedback_and_expectations_are_assessments_of_the_trace(tracking_uri: str) -> None:
    answer("rate me")
    trace_id = tracklog.get_last_active_trace_id()
    feedback = tracklog.log_feedback(trace_id, "correct", True, source={"source_type": "HUMAN", "source_id": "ann"},
                                     rationale="matches")
    expectation = tracklog.log_expectation(trace_id, "expected", {"answer": "RATE ME"})
    assessments = tracklog.get_trace(trace_id).info.assessments
    assert [(a.name, a.kind, a.value) for a in assessments] == [
        ("correct", "feedback", True), ("expected", "expectation", {"answer": "RATE ME"})]
    assert (assessments[0].source_type, assessments[0].source_id, assessments[0].rationale) == ("HUMAN", "ann", "matches")
    assert {feedback.assessment_id, expectation.assessment_id} == {a.assessment_id for a in assessments}
    failed = tracklog.log_feedback(trace_id, "judge", error=RuntimeError("timeout"))
    assert failed.error == {"error_code": "RuntimeError", "error_message": "timeout"}
    with pytest.raises(TraceNotFoundError, match="tr-nope"):
        tracklog.log_feedback("tr-nope", "x", 1)


def test_sql_over_traces_spans_and_assessments(tracking_uri: str) -> None:
    answer("sql")
    trace_id = tracklog.get_last_active_trace_id()
    tracklog.log_feedback(trace_id, "score", 0.5)
    rows = tracklog.sql("SELECT name, span_type, parent_span_id IS NULL AS root, json_extract_string(inputs, '$.query') "
                        "FROM spans ORDER BY start_time_ns").fetchall()
    assert rows == [("answer", "CHAIN", True, None), ("retrieve", "RETRIEVER", False, "sql")]
    assert tracklog.sql("SELECT trace_id, state, span_count, assessment_count FROM traces").fetchall() == [
        (trace_id, "OK", 2, 1)]
    assert tracklog.sql("SELECT name, value FROM assessments").fetchall() == [("score", "0.5")]


def test_spans_logged_from_many_threads_are_all_read_back(tracking_uri: str) -> None:
    """No span is lost or doubled when threads log at once (N traces of 1 root + 9 children each)."""
    threads, traces_each, children = 8, 25, 9

    def work() -> None:
        for _ in range(traces_each):
            with tracklog.start_span("root"):
                for c in range(children):
                    with tracklog.start_span(f"child{c}"):
                        pass

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    expected = threads * traces_each * (children + 1)
    assert tracklog.sql("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall() == [(expected, expected)]
    assert tracklog.sql("SELECT count(*) FROM traces WHERE span_count = 10 AND state = 'OK'").fetchall() == [
        (threads * traces_each,)]


def test_a_reader_in_another_process_sees_the_traces_after_flush(tracking_uri: str, tmp_path) -> None:
    import subprocess
    import sys

    answer("persisted")
    tracklog.flush()
    out = subprocess.run([sys.executable, "-c", "import tracklog, sys; tracklog.set_tracking_uri(sys.argv[1]); "
                          "print(tracklog.sql('SELECT name FROM spans ORDER BY start_time_ns').fetchall())",
                          tracking_uri], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[('answer',), ('retrieve',)]"


def test_deleted_traces_are_gone_from_every_view(tracking_uri: str) -> None:
    from tracklog.tracing.fluent import _trace_store

    ids = _traces(3)
    assert _trace_store().delete_traces("0", trace_ids=[ids[1]]) == 1
    assert [t.info.trace_id for t in tracklog.search_traces(return_type="list")] == [ids[2], ids[0]]
    assert tracklog.sql(f"SELECT count(*) FROM spans WHERE trace_id = '{ids[1]}'").fetchall() == [(0,)]
    with pytest.raises(TraceNotFoundError):
        tracklog.get_trace(ids[1])


def test_a_span_event_time_must_fit_64_bits(tracking_uri: str) -> None:
    """Its trace is read back as OTLP, whose event times are 64-bit: a time past them failed every read."""
    from eventlog.errors import InvalidValueError

    with tracklog.start_span("s") as span:
        with pytest.raises(InvalidValueError, match=r"the timestamp of span event 'e' .* got 18446744073709551616"):
            span.add_event("e", timestamp_ns=2**64)
        span.add_event("ok", timestamp_ns=5)
    assert [e["timestamp_ns"] for e in _last().data.spans[0].events] == [5]
