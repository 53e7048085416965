"""Every event tracklog records, in one place.

An event is a frozen msgspec Struct tagged with its class name; the class name is the stored
schema, so a rename must keep the old tag (``tag="OldName"``) and ``tests/eventlog/test_events.py``
pins the whole set. New fields need defaults; a breaking change is a new event kind.

The envelope (`writer_id`, `writer_seq`, `ts`, `actor`) is stamped by the writer at append time;
callers build events with the subject fields only. ``(writer_id, writer_seq)`` is an event's
identity. ``ts`` is nanoseconds since the epoch, strictly increasing per writer: the wall clock
to the millisecond plus a counter within it (a hybrid logical clock; see `eventlog.writer`).

`MetricLogged` goes to the narrow ``metric`` stream; every other event goes to the wide, sparse
``control`` stream, where a field name is one column of one type forever.
"""

from __future__ import annotations

from typing import Union

import msgspec

__all__ = [
    "RegisteredModelCreated",
    "RegisteredModelRenamed",
    "RegisteredModelDescriptionSet",
    "RegisteredModelDeleted",
    "RegisteredModelTagSet",
    "RegisteredModelTagDeleted",
    "ModelVersionCreated",
    "ModelVersionDescriptionSet",
    "ModelVersionStageSet",
    "ModelVersionDeleted",
    "ModelVersionTagSet",
    "ModelVersionTagDeleted",
    "ModelAliasSet",
    "ModelAliasDeleted",
    "REGISTRY_EVENTS",
    "LOGGED_MODEL_EVENTS",
    "LoggedModelDeleted",
    "LoggedModelMetricLogged",
    "LoggedModelParamLogged",
    "LoggedModelStatusSet",
    "LoggedModelTagDeleted",
    "LoggedModelTagSet",
    "ModelInputLogged",
    "ModelOutputLogged",
    "CONTROL_EVENTS",
    "ArtifactLogged",
    "AnyEvent",
    "DatasetInputLogged",
    "Event",
    "ExperimentCreated",
    "ExperimentDeleted",
    "ExperimentMerged",
    "ExperimentRenamed",
    "ExperimentRestored",
    "ExperimentTagDeleted",
    "ExperimentTagSet",
    "MetricLogged",
    "ModelLogged",
    "ParamLogged",
    "RunDeleted",
    "RunDescriptionSet",
    "RunEnded",
    "RunHeartbeatLost",
    "RunHeartbeatSent",
    "RunRenamed",
    "RunRestored",
    "RunResumed",
    "RunStarted",
    "RunTagDeleted",
    "RunTagSet",
    "SourceImported",
    "event_kinds",
    "TRACE_EVENTS",
    "AssessmentDeleted",
    "AssessmentLogged",
    "SpanLogged",
    "TraceDeleted",
    "TraceEnded",
    "TraceLinked",
    "TraceStarted",
    "TraceTagDeleted",
    "TraceTagSet",
]


class Event(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag=True):
    """The envelope every event carries."""

    writer_id: str = ""
    writer_seq: int = 0
    ts: int = 0
    actor: str = ""


# ---- experiments -----------------------------------------------------------------------


class ExperimentCreated(Event, frozen=True, kw_only=True, gc=False):
    experiment_id: str
    name: str
    artifact_location: str = ""


class ExperimentRenamed(Event, frozen=True, kw_only=True, gc=False):
    experiment_id: str
    name: str


class ExperimentDeleted(Event, frozen=True, kw_only=True, gc=False):
    experiment_id: str


class ExperimentRestored(Event, frozen=True, kw_only=True, gc=False):
    experiment_id: str


class ExperimentTagSet(Event, frozen=True, kw_only=True, gc=False):
    experiment_id: str
    key: str
    value: str


class ExperimentTagDeleted(Event, frozen=True, kw_only=True, gc=False):
    experiment_id: str
    key: str


class ExperimentMerged(Event, frozen=True, kw_only=True, gc=False):
    """Experiment `source_experiment_id` of the store or tracking URI `source` has the same name as
    `experiment_id` here, so an import or sync merged it into that one (its runs' events name
    `experiment_id`)."""

    experiment_id: str
    source_experiment_id: str
    source: str = ""
    name: str = ""


# ---- runs --------------------------------------------------------------------------------


class RunStarted(Event, frozen=True, kw_only=True, gc=False):
    run_id: str
    experiment_id: str
    run_name: str = ""
    start_time: int = 0  # ms since the epoch, as MLflow
    artifact_uri: str = ""


class RunResumed(Event, frozen=True, kw_only=True, gc=False):
    """A finished run reopened with ``start_run(run_id=…)``: status back to RUNNING."""

    run_id: str


class RunEnded(Event, frozen=True, kw_only=True, gc=False):
    run_id: str
    status: str  # FINISHED | FAILED | KILLED (or any RunStatus for update_run)
    end_time: int = 0


class RunHeartbeatSent(Event, frozen=True, kw_only=True, gc=False):
    """The process running the run is alive (sent every `TRACKLOG_HEARTBEAT_TIMEOUT` / 4 seconds).

    A run whose current RUNNING spell has heartbeats reads KILLED once none arrived for the
    timeout (`projections.views.RUNS_LIVE`); it folds into ``liveness``, never into ``runs``.
    """

    run_id: str


class RunHeartbeatLost(Event, frozen=True, kw_only=True, gc=False):
    """A reader saw no sign of life from a RUNNING run for the heartbeat timeout and declared it
    dead (the actor and ts say who and when). `last_seen` is the run's last sign of life it
    saw (ns): the run stays KILLED until a later one arrives."""

    run_id: str
    last_seen: int


class RunRenamed(Event, frozen=True, kw_only=True, gc=False):
    run_id: str
    run_name: str


class RunDeleted(Event, frozen=True, kw_only=True, gc=False):
    run_id: str


class RunRestored(Event, frozen=True, kw_only=True, gc=False):
    run_id: str


class RunDescriptionSet(Event, frozen=True, kw_only=True, gc=False):
    run_id: str
    description: str


class ParamLogged(Event, frozen=True, kw_only=True, gc=False):
    run_id: str
    key: str
    value: str


class MetricLogged(Event, frozen=True, kw_only=True, gc=False):
    run_id: str
    key: str
    value: float
    step: int = 0
    timestamp: int = 0  # ms since the epoch, as MLflow


class RunTagSet(Event, frozen=True, kw_only=True, gc=False):
    run_id: str
    key: str
    value: str


class RunTagDeleted(Event, frozen=True, kw_only=True, gc=False):
    run_id: str
    key: str


class DatasetInputLogged(Event, frozen=True, kw_only=True, gc=False):
    """A dataset used by a run (MLflow's ``log_input``); `context` is e.g. ``training``;
    `input_tags` holds the input's other tags as a JSON object ('' when none)."""

    run_id: str
    dataset_name: str
    dataset_digest: str
    source_type: str = ""
    source: str = ""
    dataset_schema: str = ""
    profile: str = ""
    context: str = ""
    input_tags: str = ""  # every tag of the input, in order (context too), as JSON [[key, value], …]


class ArtifactLogged(Event, frozen=True, kw_only=True, gc=False):
    run_id: str
    path: str
    size: int = 0
    sha256: str = ""


# ---- models -------------------------------------------------------------------------------


class ModelLogged(Event, frozen=True, kw_only=True, gc=False):
    """A model saved under ``artifact_location`` (MLflow 3's LoggedModel), from a run or none.

    `model_id` is ``m-<32 hex>``; `name` is the name given to ``log_model``; `flavors` the
    MLmodel's flavor names, comma-separated.
    """

    model_id: str
    experiment_id: str
    run_id: str = ""
    name: str = ""
    artifact_location: str = ""
    flavors: str = ""
    model_type: str = ""


# A model created through the REST API (MLflow 3's ``create_logged_model``) starts PENDING with a
# `LoggedModelStatusSet` right after its `ModelLogged`, and is finalized READY or UPLOAD_FAILED;
# a model with no status event (``log_model`` in process) is READY.


class LoggedModelStatusSet(Event, frozen=True, kw_only=True, gc=False):
    model_id: str
    status: str  # PENDING | READY | UPLOAD_FAILED
    status_message: str = ""


class LoggedModelTagSet(Event, frozen=True, kw_only=True, gc=False):
    model_id: str
    key: str
    value: str


class LoggedModelTagDeleted(Event, frozen=True, kw_only=True, gc=False):
    model_id: str
    key: str


class LoggedModelParamLogged(Event, frozen=True, kw_only=True, gc=False):
    model_id: str
    key: str
    value: str


class LoggedModelDeleted(Event, frozen=True, kw_only=True, gc=False):
    model_id: str


class LoggedModelMetricLogged(Event, frozen=True, kw_only=True, gc=False):
    """A metric point of run `run_id` linked to logged model `model_id` (and to the dataset it was
    computed on, if any), as MLflow 3's ``logged_model_metrics``; the run's own `MetricLogged`
    point is recorded beside it."""

    model_id: str
    run_id: str = ""
    key: str
    metric_value: float
    step: int = 0
    timestamp: int = 0  # ms since the epoch, as MLflow
    dataset_name: str = ""
    dataset_digest: str = ""


class ModelOutputLogged(Event, frozen=True, kw_only=True, gc=False):
    """A run produced a logged model (MLflow's ``log_outputs``), at `model_step`."""

    run_id: str
    model_id: str
    model_step: int = 0


class ModelInputLogged(Event, frozen=True, kw_only=True, gc=False):
    """A run used a logged model (the ``models`` of MLflow's ``log_inputs``)."""

    run_id: str
    model_id: str


LOGGED_MODEL_EVENTS = (
    LoggedModelStatusSet, LoggedModelTagSet, LoggedModelTagDeleted, LoggedModelParamLogged, LoggedModelDeleted,
    LoggedModelMetricLogged, ModelOutputLogged, ModelInputLogged,
)


# ---- model registry -------------------------------------------------------------------------
# Every registry event names its model twice: `registered_model_id`, fixed when the model is
# created (so a rename never breaks the history), and `model_name`, its name at that moment.


class RegisteredModelCreated(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    description: str = ""


class RegisteredModelRenamed(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str  # the new name
    old_name: str = ""


class RegisteredModelDescriptionSet(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    description: str


class RegisteredModelDeleted(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str


class RegisteredModelTagSet(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    key: str
    value: str


class RegisteredModelTagDeleted(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    key: str


class ModelVersionCreated(Event, frozen=True, kw_only=True, gc=False):
    """Version `version` of a model, from `source` (a model URI), with its run and logged model."""

    registered_model_id: str
    model_name: str
    version: int
    source: str
    run_id: str = ""
    model_id: str = ""
    description: str = ""
    run_link: str = ""


class ModelVersionDescriptionSet(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    version: int
    description: str


class ModelVersionStageSet(Event, frozen=True, kw_only=True, gc=False):
    """A stage transition (MLflow's deprecated stages); archiving others is one event each."""

    registered_model_id: str
    model_name: str
    version: int
    stage: str


class ModelVersionDeleted(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    version: int


class ModelVersionTagSet(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    version: int
    key: str
    value: str


class ModelVersionTagDeleted(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    version: int
    key: str


class ModelAliasSet(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    alias: str
    version: int


class ModelAliasDeleted(Event, frozen=True, kw_only=True, gc=False):
    registered_model_id: str
    model_name: str
    alias: str


REGISTRY_EVENTS = (
    RegisteredModelCreated, RegisteredModelRenamed, RegisteredModelDescriptionSet, RegisteredModelDeleted,
    RegisteredModelTagSet, RegisteredModelTagDeleted, ModelVersionCreated, ModelVersionDescriptionSet,
    ModelVersionStageSet, ModelVersionDeleted, ModelVersionTagSet, ModelVersionTagDeleted,
    ModelAliasSet, ModelAliasDeleted,
)


# ---- traces (MLflow 3 tracing) --------------------------------------------------------------
# A trace is the spans of one request. `trace_id` is MLflow 3's ``tr-<32 hex>`` (the
# OpenTelemetry trace id in hex); span ids are OpenTelemetry's 16 hex digits. Every trace event
# names the trace's experiment, so a reader's scope (`projections.scope`) applies to traces as
# to runs. Inputs, outputs, attributes and span events are JSON text. A span is recorded once,
# when it ends; a span sent again (a retried export) is the same span, the last one recorded wins.


class TraceStarted(Event, frozen=True, kw_only=True, gc=False):
    """A trace's info as its client knows it: when the request came in, its name, its metadata
    (a JSON object of strings: MLflow's ``trace_metadata``)."""

    trace_id: str
    experiment_id: str
    request_time: int = 0  # ms since the epoch, as MLflow
    trace_name: str = ""
    client_request_id: str = ""
    metadata: str = ""


class SpanLogged(Event, frozen=True, kw_only=True, gc=False):
    """One finished span: times in ns since the epoch, `status_code` OK | ERROR | UNSET."""

    trace_id: str
    experiment_id: str
    span_id: str
    parent_span_id: str = ""
    span_name: str = ""
    span_type: str = ""
    start_time_ns: int = 0
    end_time_ns: int = 0
    status_code: str = "UNSET"
    status_message: str = ""
    inputs: str = ""  # JSON
    outputs: str = ""  # JSON
    attributes: str = ""  # JSON object: the span's other attributes
    span_events: str = ""  # JSON list of {name, timestamp_ns, attributes}


class TraceEnded(Event, frozen=True, kw_only=True, gc=False):
    """The trace's request is answered: its `state` (OK | ERROR), how long it took, previews of
    its request and response, and its metadata at the end (JSON object; replaces the start's)."""

    trace_id: str
    experiment_id: str
    state: str
    execution_time_ms: int = 0
    request_preview: str = ""
    response_preview: str = ""
    metadata: str = ""


class TraceTagSet(Event, frozen=True, kw_only=True, gc=False):
    trace_id: str
    experiment_id: str
    key: str
    value: str


class TraceTagDeleted(Event, frozen=True, kw_only=True, gc=False):
    trace_id: str
    experiment_id: str
    key: str


class TraceDeleted(Event, frozen=True, kw_only=True, gc=False):
    trace_id: str
    experiment_id: str


class AssessmentLogged(Event, frozen=True, kw_only=True, gc=False):
    """Feedback on a trace (or one of its spans) or an expectation of it; logged again under the
    same `assessment_id`, it is updated (last writer wins). `assessment_value` is JSON."""

    trace_id: str
    experiment_id: str
    assessment_id: str
    assessment_name: str
    assessment_kind: str  # feedback | expectation
    assessment_value: str = ""
    rationale: str = ""
    source_type: str = ""  # HUMAN | LLM_JUDGE | CODE
    source_id: str = ""
    span_id: str = ""
    error: str = ""  # JSON {error_code, error_message} of a feedback that failed
    metadata: str = ""
    created_time: int = 0  # ms since the epoch
    overrides: str = ""  # the assessment_id this one corrects: that one is invalid while this one lives


class AssessmentDeleted(Event, frozen=True, kw_only=True, gc=False):
    trace_id: str
    experiment_id: str
    assessment_id: str


class TraceLinked(Event, frozen=True, kw_only=True, gc=False):
    """The trace belongs with a run (MLflow's ``link_traces_to_run``), besides the run it was
    recorded under, if any (its ``mlflow.sourceRun`` metadata)."""

    trace_id: str
    experiment_id: str
    run_id: str


TRACE_EVENTS = (
    TraceStarted, SpanLogged, TraceEnded, TraceTagSet, TraceTagDeleted, TraceDeleted, AssessmentLogged,
    AssessmentDeleted, TraceLinked,
)


# ---- moving data ---------------------------------------------------------------------------------


class SourceImported(Event, frozen=True, kw_only=True, gc=False):
    """An import (`source_kind` ``mlflow`` or ``tensorboard``) or a sync (``tracklog``) brought
    events from `source` here; the envelope says who and when, the counts what came (the imported
    events keep their own times and users)."""

    source: str
    source_kind: str
    experiments: int = 0
    runs: int = 0
    metric_points: int = 0
    artifacts: int = 0
    logged_models: int = 0
    model_versions: int = 0
    events_copied: int = 0


AnyEvent = Union[  # noqa: UP007 - msgspec decodes a Union of tagged Structs
    ExperimentCreated,
    ExperimentRenamed,
    ExperimentDeleted,
    ExperimentRestored,
    ExperimentTagSet,
    ExperimentTagDeleted,
    RunStarted,
    RunResumed,
    RunEnded,
    RunHeartbeatSent,
    RunHeartbeatLost,
    RunRenamed,
    RunDeleted,
    RunRestored,
    RunDescriptionSet,
    ParamLogged,
    MetricLogged,
    RunTagSet,
    RunTagDeleted,
    DatasetInputLogged,
    ArtifactLogged,
    ModelLogged,
    LoggedModelStatusSet,
    LoggedModelTagSet,
    LoggedModelTagDeleted,
    LoggedModelParamLogged,
    LoggedModelDeleted,
    LoggedModelMetricLogged,
    ModelOutputLogged,
    ModelInputLogged,
    RegisteredModelCreated,
    RegisteredModelRenamed,
    RegisteredModelDescriptionSet,
    RegisteredModelDeleted,
    RegisteredModelTagSet,
    RegisteredModelTagDeleted,
    ModelVersionCreated,
    ModelVersionDescriptionSet,
    ModelVersionStageSet,
    ModelVersionDeleted,
    ModelVersionTagSet,
    ModelVersionTagDeleted,
    ModelAliasSet,
    ModelAliasDeleted,
    TraceStarted,
    SpanLogged,
    TraceEnded,
    TraceTagSet,
    TraceTagDeleted,
    TraceDeleted,
    AssessmentLogged,
    AssessmentDeleted,
    TraceLinked,
    ExperimentMerged,
    SourceImported,
]

CONTROL_EVENTS: tuple[type[Event], ...] = tuple(
    t for t in AnyEvent.__args__ if t is not MetricLogged  # type: ignore[attr-defined]
)


def event_kinds() -> dict[str, type[Event]]:
    """Map each stored tag to its class."""
    return {t.__struct_config__.tag: t for t in AnyEvent.__args__}  # type: ignore[attr-defined]
