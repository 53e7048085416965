"""MLflow's JSON of traces (its protos as JSON) to and from `TraceStore`: one conversion for every
MLflow-facing surface.

The tracking server's trace endpoints (`tracklog.server.traces`) take these bodies from MLflow's
REST client; the ``tracklog:`` plugin store (`tracklog.integrations.mlflow_plugin`) encodes MLflow's
entities into the same JSON (``message_to_json(entity.to_proto())``, what that REST client sends)
and reads back what the server would answer. So a trace written through either reads the same
through both, and a bad field is refused by the same check with the same message.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from eventlog.errors import InvalidValueError
from projections.traces import Assessment, Trace, TraceInfo
from tracklog._json import MAX_DEPTH, json_depth
from tracklog.tracing.otlp import span_message
from tracklog.tracing.store import MAX_TIME, TraceStore

__all__ = ["SPANS_LOCATION_TAG", "AssessmentIn", "ExperimentRef", "Location", "SourceIn", "TraceIn", "TraceInfoIn",
           "assessment_fields", "assessment_json", "check_trace_info", "duration_ms", "epoch_ms",
           "info_json", "record_assessment", "record_assessment_update", "record_trace_info", "timestamp", "trace_json"]

SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"
_TRACE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_FRACTION = re.compile(r"(\.\d{6})\d+")


# ---- bodies as MLflow sends them ----------------------------------------------------------------


class ExperimentRef(msgspec.Struct, kw_only=True):
    experiment_id: str = ""


class Location(msgspec.Struct, kw_only=True):
    type: str = ""
    mlflow_experiment: ExperimentRef = msgspec.field(default_factory=ExperimentRef)


class TraceInfoIn(msgspec.Struct, kw_only=True):
    trace_id: str = ""
    client_request_id: str = ""
    trace_location: Location = msgspec.field(default_factory=Location)
    request_preview: str = ""
    response_preview: str = ""
    request_time: str = ""
    execution_duration: str = ""
    state: str = ""
    trace_metadata: dict[str, str] = {}
    tags: dict[str, str] = {}
    assessments: list[AssessmentIn] = []  # logged while the trace ran: MLflow's client holds them until its end


class TraceIn(msgspec.Struct, kw_only=True):
    trace_info: TraceInfoIn = msgspec.field(default_factory=TraceInfoIn)


class SourceIn(msgspec.Struct, kw_only=True):
    source_type: str = "CODE"
    source_id: str = ""


class _Error(msgspec.Struct, kw_only=True):
    error_code: str = ""
    error_message: str = ""


class _Serialized(msgspec.Struct, kw_only=True):
    serialization_format: str = ""
    value: str = ""


class _Feedback(msgspec.Struct, kw_only=True):
    value: Any = None
    error: _Error | None = None


class _Expectation(msgspec.Struct, kw_only=True):
    value: Any = None
    serialized_value: _Serialized | None = None


class AssessmentIn(msgspec.Struct, kw_only=True):
    assessment_id: str = ""
    assessment_name: str = ""
    trace_id: str = ""
    span_id: str = ""
    source: SourceIn | None = None
    feedback: _Feedback | None = None
    expectation: _Expectation | None = None
    rationale: str | None = None
    metadata: dict[str, str] | None = None
    overrides: str = ""
    valid: bool | None = None


# ---- times ------------------------------------------------------------------------------------


def timestamp(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def epoch_ms(text: str, what: str) -> int:
    """Epoch ms of a protobuf JSON Timestamp (RFC 3339)."""
    if not text:
        return 0
    try:
        return int(datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise InvalidValueError(f"{what} must be an RFC 3339 timestamp such as 2025-01-31T12:00:00.123Z, got {text!r}") from None


def duration_ms(text: str) -> int:
    if not text:
        return 0
    try:
        seconds = float(text.removesuffix("s"))
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds * 1000 <= MAX_TIME:  # NaN, infinities, negatives and ones past 64 bits
        raise InvalidValueError(f"execution_duration must be a duration such as 0.045s, from 0 up to 64 bits of ms, "
                                f"got {text[:64]!r}")
    return round(seconds * 1000)


# ---- out: the catalog's traces as MLflow's JSON ---------------------------------------------------


def assessment_json(a: Assessment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "assessment_id": a.assessment_id, "assessment_name": a.name, "trace_id": a.trace_id,
        "source": {"source_type": a.source_type, **({"source_id": a.source_id} if a.source_id else {})},
        "create_time": timestamp(a.create_time_ms), "last_update_time": timestamp(a.last_update_time_ms),
        "valid": a.valid}
    if a.overrides:
        out["overrides"] = a.overrides
    if a.span_id:
        out["span_id"] = a.span_id
    if a.kind == "feedback":
        out["feedback"] = {"value": a.value, **({"error": a.error} if a.error else {})}
    elif isinstance(a.value, dict | list):
        out["expectation"] = {"serialized_value": {"serialization_format": "JSON_FORMAT",
                                                   "value": msgspec.json.encode(a.value).decode()}}
    else:
        out["expectation"] = {"value": a.value}
    if a.rationale:
        out["rationale"] = a.rationale
    if a.metadata:
        out["metadata"] = a.metadata
    return out


def info_json(info: TraceInfo) -> dict[str, Any]:
    """MLflow 3's ``TraceInfoV3``; tagged ``mlflow.trace.spansLocation = TRACKING_STORE``, so
    MLflow's client reads the spans from the store (they are in the log), never from a
    ``traces.json`` artifact."""
    out: dict[str, Any] = {
        "trace_id": info.trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": info.experiment_id}},
        "request_time": timestamp(info.request_time), "state": info.state,
        "trace_metadata": info.trace_metadata,
        "tags": {**({"mlflow.traceName": info.name} if info.name else {}), **info.tags,
                 SPANS_LOCATION_TAG: "TRACKING_STORE"},
        "assessments": [assessment_json(a) for a in info.assessments]}
    if info.execution_duration is not None:
        out["execution_duration"] = f"{info.execution_duration / 1000:.3f}s"
    for key in ("request_preview", "response_preview", "client_request_id"):
        if getattr(info, key):
            out[key] = getattr(info, key)
    return out


def trace_json(trace: Trace) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return {"trace_info": info_json(trace.info),
            "spans": [MessageToDict(span_message(s), preserving_proto_field_name=True) for s in trace.data.spans]}


# ---- in: MLflow's JSON recorded -------------------------------------------------------------------


def check_trace_info(info: TraceInfoIn) -> None:
    """Refuse a trace id or state that MLflow would not send (before any other check)."""
    if not _TRACE_ID.fullmatch(info.trace_id):
        raise InvalidValueError(f"trace_info.trace_id must be 1 to 128 letters, digits or ._:-, got {info.trace_id!r}")
    if info.state not in ("OK", "ERROR", "IN_PROGRESS", "STATE_UNSPECIFIED", ""):
        raise InvalidValueError(f"trace_info.state must be OK, ERROR or IN_PROGRESS, got {info.state!r}")


def record_trace_info(store: TraceStore, info: TraceInfoIn, experiment_id: str) -> TraceInfo:
    """MLflow 3's ``StartTraceV3`` (sent when the root span ends): the trace's start, unless still
    in progress its end, and the assessments logged while it ran. Returns the trace's info as the
    catalog now reads it."""
    store.start_trace(info.trace_id, experiment_id, epoch_ms(info.request_time, "trace_info.request_time"),
                      name=info.tags.get("mlflow.traceName", ""), client_request_id=info.client_request_id,
                      metadata=info.trace_metadata)
    if info.state not in ("IN_PROGRESS", "STATE_UNSPECIFIED", ""):
        store.end_trace(info.trace_id, experiment_id, info.state, duration_ms(info.execution_duration),
                        request_preview=info.request_preview, response_preview=info.response_preview,
                        metadata=info.trace_metadata, tags=info.tags)
    for assessment in info.assessments:
        record_assessment(store, info.trace_id, assessment)
    return store.get_trace_info(info.trace_id)


def assessment_fields(a: AssessmentIn) -> dict[str, Any]:
    if (a.feedback is None) == (a.expectation is None):
        raise InvalidValueError("an assessment has exactly one of feedback or expectation")
    if a.feedback is not None:
        error = msgspec.structs.asdict(a.feedback.error) if a.feedback.error else None
        return {"kind": "feedback", "value": a.feedback.value, "error": error}
    assert a.expectation is not None
    value = a.expectation.value
    if a.expectation.serialized_value is not None:
        value = _serialized(a.expectation.serialized_value.value or "null")
    return {"kind": "expectation", "value": value, "error": None}


def _serialized(text: str) -> Any:
    """An expectation's ``serialized_value`` (JSON text inside the JSON body), held to the body's
    own nesting limit."""
    where = "assessment.expectation.serialized_value.value"
    data = text.encode()
    if json_depth(data) > MAX_DEPTH:
        raise InvalidValueError(f"{where} nests arrays or objects more than {MAX_DEPTH} levels deep")
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidValueError(f"{where} must be JSON text (serialization_format JSON_FORMAT): {exc}") from None


def record_assessment(store: TraceStore, trace_id: str, a: AssessmentIn) -> Assessment:
    source = a.source or SourceIn()
    return store.log_assessment(
        trace_id, a.assessment_name, **assessment_fields(a), rationale=a.rationale, source_type=source.source_type,
        source_id=source.source_id or None, span_id=a.span_id or None, metadata=a.metadata,
        overrides=a.overrides or None)


def record_assessment_update(store: TraceStore, trace_id: str, assessment_id: str, a: AssessmentIn) -> Assessment:
    """The assessment with what `a` sets (name, value, rationale, metadata merged) over what it held;
    its source, span and the one it overrides stay."""
    old = store.get_assessment(trace_id, assessment_id)
    fields = assessment_fields(a) if a.feedback is not None or a.expectation is not None else \
        {"kind": old.kind, "value": old.value, "error": old.error}
    return store.log_assessment(
        trace_id, a.assessment_name or old.name, **fields, rationale=a.rationale if a.rationale is not None else old.rationale,
        source_type=old.source_type, source_id=old.source_id, span_id=old.span_id,
        metadata={**old.metadata, **(a.metadata or {})}, assessment_id=assessment_id, overrides=old.overrides)
