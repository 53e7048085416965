"""MLflow 3's span and assessment filters in trace search (``span.name``, ``span.attributes.<a>``,
``feedback.<name>``, ``expectation.<name>``, RLIKE): on a local store through tracklog's API, and
through MLflow's own client against a real `tracklog server`."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

import tracklog
from eventlog.errors import FilterSyntaxError
from tests.tracing.conftest import mlflow_sending_spans_at_once
from tracklog.tracing.fluent import _trace_store

# ---- tracklog's API on a local store ------------------------------------------------------------


def _trace(root: str, *children: tuple[str, str, str, dict]) -> str:
    """A trace: a root span and (name, type, status, attributes) children."""
    with tracklog.start_span(root, span_type="CHAIN") as span:
        for name, span_type, status, attributes in children:
            with tracklog.start_span(name, span_type=span_type, attributes=attributes) as child:
                child.set_status(status)
    return span.trace_id


@pytest.fixture
def traces(tracking_uri: str) -> dict[str, str]:
    """a: foo (LLM, OK, gpt-4o) and bar (TOOL, ERROR); b: foo (LLM, ERROR, claude-3); c: a root only."""
    return {
        "a": _trace("agent", ("foo", "LLM", "OK", {"model": "gpt-4o", "temperature": 0.7, "a/b~c": "odd key"}),
                    ("bar", "TOOL", "ERROR", {})),
        "b": _trace("agent", ("foo", "LLM", "ERROR", {"model": "claude-3", "tags": ["x", "y"]})),
        "c": _trace("other"),
    }


def _found(traces: dict[str, str], filter_string: str) -> set[str]:
    names = {v: k for k, v in traces.items()}
    return {names[t.info.trace_id] for t in tracklog.search_traces(filter_string=filter_string, return_type="list")}


def test_span_name_type_and_status_with_every_comparator(traces) -> None:
    found = lambda f: _found(traces, f)  # noqa: E731
    assert found("span.name = 'foo'") == {"a", "b"}
    assert found("span.name != 'agent'") == {"a", "b", "c"}  # c's root is 'other'
    assert found("span.status = 'ERROR'") == {"a", "b"}
    assert found("span.type = 'TOOL'") == {"a"}
    assert found("span.type IN ('TOOL', 'RETRIEVER')") == {"a"}
    assert found("span.type NOT IN ('CHAIN', 'LLM')") == {"a"}
    assert found("span.name LIKE 'ot%'") == {"c"}
    assert found("span.name ILIKE 'BA_'") == {"a"}
    assert found("span.name RLIKE '^b.r$'") == {"a"}
    assert found("span.name RLIKE 'o{2}'") == {"a", "b"}
    assert found("span.type = 'NONEXISTENT'") == set()


def test_span_conditions_joined_by_and_hold_for_one_span(traces) -> None:
    found = lambda f: _found(traces, f)  # noqa: E731
    # a has foo (OK) and bar (ERROR): no one span is both foo and ERROR
    assert found("span.name = 'foo' AND span.status = 'ERROR'") == {"b"}
    assert found("span.name = 'bar' AND span.status = 'ERROR'") == {"a"}
    assert found("span.type = 'LLM' AND span.type = 'TOOL'") == set()
    assert found("span.name = 'bar' AND span.attributes.model = 'gpt-4o'") == set()  # bar has no model
    assert found("span.name = 'foo' AND (span.status = 'ERROR' OR span.attributes.model = 'gpt-4o')") == {"a", "b"}
    # trace.text is a span's content (MLflow's span.content): with span conditions, the same span
    assert found("trace.text LIKE '%claude%' AND span.status = 'ERROR'") == {"b"}
    assert found("trace.text LIKE '%gpt-4o%' AND span.status = 'ERROR'") == set()
    # trace keys beside them
    assert found("span.status = 'ERROR' AND trace.status = 'OK'") == {"a", "b"}
    assert found("span.name = 'foo' OR trace.name = 'other'") == {"a", "b", "c"}


def test_span_attributes_match_the_attribute_value(traces) -> None:
    found = lambda f: _found(traces, f)  # noqa: E731
    assert found("span.attributes.model = 'gpt-4o'") == {"a"}
    assert found("span.attributes.model != 'gpt-4o'") == {"b"}  # spans with no model attribute never match
    assert found("span.attributes.model LIKE '%gpt%'") == {"a"}
    assert found("span.attributes.model ILIKE 'CLAUDE%'") == {"b"}
    assert found("span.attributes.model RLIKE '^claude-[0-9]$'") == {"b"}
    assert found("span.attributes.model IN ('claude-3', 'x')") == {"b"}
    assert found("span.attributes.model NOT IN ('claude-3')") == {"a"}
    assert found("span.attributes.temperature = '0.7'") == {"a"}  # a number compares as its JSON
    assert found("span.attributes.tags LIKE '%\"y\"%'") == {"b"}  # a list too
    assert found("span.attributes.`a/b~c` = 'odd key'") == {"a"}
    assert found("span.attributes.nonexistent LIKE '%'") == set()
    assert found("span.content LIKE '%claude%'") == {"b"}
    assert found("span.content ILIKE '%GPT-4O%'") == {"a"}


def test_feedback_and_expectation_match_valid_assessments_by_name_and_json_value(traces) -> None:
    a, b, c = traces["a"], traces["b"], traces["c"]
    store = _trace_store()
    tracklog.log_feedback(a, "correct", True)
    tracklog.log_feedback(b, "correct", "true")
    tracklog.log_feedback(b, "score", 5)
    tracklog.log_feedback(c, "score", 4.5)
    tracklog.log_feedback(a, "comment", "Great response! Very helpful.")
    tracklog.log_feedback(c, "comment", "Not helpful at all.")
    tracklog.log_expectation(a, "answer", "Paris")
    old = tracklog.log_feedback(a, "quality", "no")
    store.log_assessment(a, "quality", "feedback", "yes", overrides=old.assessment_id)
    gone = tracklog.log_feedback(c, "quality", "no")
    store.delete_assessment(c, gone.assessment_id)
    found = lambda f: _found(traces, f)  # noqa: E731

    assert found("feedback.correct = 'true'") == {"a", "b"}  # true and the string 'true', as MLflow
    assert found("feedback.correct = 'false'") == set()
    assert found("feedback.score = '5'") == {"b"}
    assert found("feedback.score = '4.5'") == {"c"}
    assert found("feedback.score != '5'") == {"c"}
    assert found("feedback.correct IS NULL") == {"c"}
    assert found("feedback.correct IS NOT NULL") == {"a", "b"}
    assert found("feedback.comment LIKE '%helpful%'") == {"a", "c"}
    assert found("feedback.comment ILIKE '%GREAT%'") == {"a"}
    assert found("feedback.comment RLIKE 'Not.*all'") == {"c"}
    assert found("expectation.answer = 'Paris'") == {"a"}
    assert found("feedback.answer = 'Paris'") == set()  # an expectation is not feedback
    assert found("expectation.answer IS NULL") == {"b", "c"}
    # an overridden assessment no longer matches its old value; the one that overrides it does
    assert found("feedback.quality = 'no'") == set()
    assert found("feedback.quality = 'yes'") == {"a"}
    assert found("feedback.quality IS NOT NULL") == {"a"}  # c's was deleted
    assert found("feedback.`quality` = 'yes' AND span.name = 'bar' AND expectation.answer LIKE 'Par%'") == {"a"}


def test_filter_values_are_bound_never_spliced(tracking_uri: str) -> None:
    hostile = "it's 100% \"real\"; DROP TABLE spans --"
    trace_id = _trace("root", (hostile, "TOOL", "OK", {"q": hostile}))
    tracklog.log_feedback(trace_id, "note", hostile)
    _trace("other", ("it_s 1000", "TOOL", "OK", {}))
    quoted = hostile.replace("'", "''")

    def ids(filter_string: str) -> list[str]:
        return [t.info.trace_id for t in tracklog.search_traces(filter_string=filter_string, return_type="list")]

    assert ids(f"span.name = '{quoted}'") == [trace_id]
    assert ids(f"span.attributes.q = '{quoted}'") == [trace_id]
    assert ids(f"feedback.note = '{quoted}'") == [trace_id]
    assert ids("span.name LIKE 'it''s 100\\%%'") == [trace_id]  # \% is a literal %
    assert ids("feedback.note = 'x'' OR 1=1 --'") == []
    assert ids("span.name RLIKE '100% \"real\"'") == [trace_id]


@pytest.mark.parametrize(("filter_string", "message"), [
    ("span.name IS NULL", "IS NULL does not apply to span.name; expected one of =, !=, IN, NOT IN, LIKE, ILIKE, RLIKE"),
    ("span.content = 'x'", "= does not apply to span.content; expected one of LIKE, ILIKE"),
    ("span.status > 'x'", "> does not apply to span.status"),
    ("feedback.q IN ('a')", "IN does not apply to feedback.q; expected one of =, !=, LIKE, ILIKE, RLIKE, IS NULL"),
    ("expectation.q < 'a'", "< does not apply to expectation.q"),
    ("feedback.q = 5", "feedback.q compares as a quoted string"),
    ("span.colour = 'red'", "Invalid span attribute 'colour'. Supported attributes: name, status, type"),
    ("span.attributes. = 'x'", "Span attribute name cannot be empty"),
    ("span.name RLIKE '(?=a)'", "RLIKE takes a regular expression"),
    ("tags.env RLIKE '['", "RLIKE takes a regular expression"),
    ("spans.name = 'x'", "unknown entity 'spans'; expected one of attributes (trace), tags, metadata, span"),
])
def test_a_bad_span_or_assessment_filter_is_a_filter_syntax_error(tracking_uri: str, filter_string, message) -> None:
    _trace("root")
    with pytest.raises(FilterSyntaxError, match=re.escape(message)):
        tracklog.search_traces(filter_string=filter_string, return_type="list")


def test_rlike_on_trace_keys_but_not_on_runs(tracking_uri: str) -> None:
    root = _trace("root")
    _trace("rot")
    _trace_store().set_trace_tag(root, "env", "prod-eu")

    def ids(filter_string: str) -> set[str]:
        return {t.info.trace_id for t in tracklog.search_traces(filter_string=filter_string, return_type="list")}

    assert ids("trace.name RLIKE '^ro{2}t$'") == {root}
    assert len(ids("trace.name RLIKE '^ro+t$'")) == 2
    assert ids("tags.env RLIKE '-eu$'") == {root}
    assert ids("metadata.nothing RLIKE '.*'") == set()
    with pytest.raises(FilterSyntaxError, match="RLIKE is for trace search only"):
        tracklog.search_runs(filter_string="tags.env RLIKE 'prod'")
    with pytest.raises(FilterSyntaxError, match="unknown entity 'span'"):
        tracklog.search_runs(filter_string="span.name = 'x'")


# ---- MLflow's client against a real tracklog server ---------------------------------------------

mlflow_marks = pytest.mark.filterwarnings("ignore::FutureWarning")  # MLflow's request_id deprecation


@pytest.fixture
def mlflow(shared_server, mlflow_client_env, monkeypatch):
    yield from mlflow_sending_spans_at_once(mlflow_client_env, shared_server.url, monkeypatch)


@pytest.fixture
def experiment(mlflow) -> str:
    return mlflow.set_experiment(f"filters-{uuid.uuid4().hex[:8]}").experiment_id


def _mlflow_trace(mlflow, root: str, *children: tuple[str, str, str, dict]) -> str:
    with mlflow.start_span(name=root, span_type="CHAIN") as span:
        for name, span_type, status, attributes in children:
            with mlflow.start_span(name=name, span_type=span_type) as child:
                child.set_attributes(attributes)
                child.set_status(status)
    return span.trace_id


@mlflow_marks
def test_mlflows_client_searches_by_span_and_assessment(mlflow, experiment, shared_server) -> None:
    from mlflow.entities import AssessmentSource

    client = mlflow.MlflowClient(shared_server.url)
    a = _mlflow_trace(mlflow, "agent", ("foo", "LLM", "OK", {"model": "gpt-4o"}), ("bar", "TOOL", "ERROR", {}))
    b = _mlflow_trace(mlflow, "agent", ("foo", "LLM", "ERROR", {"model": "claude-3"}))
    c = _mlflow_trace(mlflow, "other")
    human = AssessmentSource(source_type="HUMAN", source_id="ann")
    mlflow.log_feedback(trace_id=a, name="correct", value=True, source=human)
    mlflow.log_feedback(trace_id=b, name="correct", value="yes", source=human)
    old = mlflow.log_feedback(trace_id=c, name="correct", value="no", source=human)
    mlflow.override_feedback(trace_id=c, assessment_id=old.assessment_id, value="yes")
    mlflow.log_expectation(trace_id=a, name="answer", value="Paris", source=human)
    names = {a: "a", b: "b", c: "c"}

    def found(filter_string: str) -> set[str]:
        return {names[t.info.trace_id] for t in client.search_traces(locations=[experiment], filter_string=filter_string)}

    assert found("span.name = 'foo'") == {"a", "b"}
    assert found("span.name = 'foo' AND span.status = 'ERROR'") == {"b"}  # the same span
    assert found("span.status = 'ERROR'") == {"a", "b"}
    assert found("span.type = 'TOOL'") == {"a"}
    assert found("span.attributes.model = 'claude-3'") == {"b"}
    assert found("span.attributes.model LIKE '%gpt%'") == {"a"}
    assert found("feedback.correct = 'true'") == {"a"}
    assert found("feedback.correct = 'yes'") == {"b", "c"}
    assert found("feedback.correct = 'no'") == set()  # c's 'no' was overridden
    assert found("feedback.correct IS NULL") == set()
    assert found("expectation.answer = 'Paris'") == {"a"}
    assert found("expectation.answer IS NULL") == {"b", "c"}
    assert found("feedback.correct = 'yes' AND span.name = 'foo'") == {"b"}
    # filter correlation takes the same grammar (MLflow: "search_traces filter syntax")
    from mlflow.tracing.client import TracingClient

    both = TracingClient(tracking_uri=mlflow.get_tracking_uri()).calculate_trace_filter_correlation(
        [experiment], "span.status = 'ERROR'", "feedback.correct = 'yes'")
    assert (both.total_count, both.filter1_count, both.filter2_count, both.joint_count) == (3, 2, 2, 1)


@mlflow_marks
@pytest.mark.parametrize(("filter_string", "message"), [
    ("span.name IS NULL", "IS NULL does not apply to span.name; expected one of =, !=, IN, NOT IN, LIKE, ILIKE, RLIKE"),
    ("feedback.correct IN ('yes')", "IN does not apply to feedback.correct; expected one of =, !=, LIKE, ILIKE, RLIKE"),
    ("span.content = 'x'", "= does not apply to span.content; expected one of LIKE, ILIKE"),
    ("span.colour = 'x'", "Invalid span attribute 'colour'"),
    ("span.name RLIKE '('", "RLIKE takes a regular expression"),
])
def test_a_bad_comparator_is_invalid_parameter_value_through_the_server(mlflow, experiment, shared_server,
                                                                       filter_string, message) -> None:
    client = mlflow.MlflowClient(shared_server.url)
    with pytest.raises(mlflow.exceptions.MlflowException) as raised:
        client.search_traces(locations=[experiment], filter_string=filter_string)
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE" and message in raised.value.message
    reply = requests.post(f"{shared_server.url}/api/3.0/mlflow/traces/search", timeout=30,
                          json={"locations": [{"type": "MLFLOW_EXPERIMENT",
                                               "mlflow_experiment": {"experiment_id": experiment}}],
                                "filter": filter_string})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE" and message in reply.json()["message"]
