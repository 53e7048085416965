"""MLflow 3's trace endpoints and OpenTelemetry's OTLP/HTTP endpoint, on the store's event log.

What MLflow's client (3.4+) does with a trace, and what answers it here:

- each span, as it ends: ``POST /v1/traces`` (OTLP protobuf; ``x-mlflow-experiment-id`` names
  the experiment) — `otlp`; any OpenTelemetry SDK's OTLP/HTTP exporter (protobuf or JSON) too;
- the trace's info when its root span ends: ``POST /api/3.0/mlflow/traces`` (``StartTraceV3``) —
  `start_trace`; the answer tags it ``mlflow.trace.spansLocation = TRACKING_STORE``, so the
  client uploads no ``traces.json`` artifact: the spans are in the log already;
- reads: ``GET traces/{id}`` (info), ``GET traces/get`` and ``traces/batchGet`` (with spans, as
  OTLP span messages), ``POST traces/search`` (MLflow's trace filter, `query.traces`);
- tags (``PATCH``/``DELETE traces/{id}/tags``), assessments (``traces/{id}/assessments[/{aid}]``;
  one may override another, which then reads as invalid) and ``POST traces/delete-traces``;
- ``POST traces/link-to-run`` (a search by ``run_id`` then finds the trace), the trace data as
  MLflow's ``traces.json`` (``GET get-trace-artifact``), ``POST traces/metrics`` and
  ``POST traces/calculate-filter-correlation`` (`query.trace_analytics`);
- MLflow 2's ``StartTrace`` (``POST /api/2.0/mlflow/traces`` with an ``experiment_id``: the
  server names the trace) and ``EndTrace`` (``PATCH traces/{id}``).

Access: writing a trace needs EDIT on its experiment, reading it READ, deleting MANAGE.
"""

from __future__ import annotations

import json
import math
from typing import Any

import anyio
import msgspec

from eventlog.errors import InvalidValueError
from projections.traces import Trace, TraceInfo
from query.trace_analytics import filter_correlation, query_trace_metrics
from tracklog.server._body import read_request
from tracklog.server.routing import Call
from tracklog.tracing._mlflow_json import (
    SPANS_LOCATION_TAG,
    AssessmentIn,
    Location,
    TraceIn,
    assessment_json,
    check_trace_info,
    info_json,
    record_assessment,
    record_assessment_update,
    record_trace_info,
    trace_json,
)
from tracklog.tracing.otlp import (
    EXPERIMENT_HEADER,
    decode_request,
    inflate,
    span_dict,
    span_events,
)
from tracklog.tracing.store import TraceStore, check_link_count, check_time, new_trace_id

__all__ = ["SPANS_LOCATION_TAG"]


# ---- request bodies (MLflow's protos as JSON) ------------------------------------------------


class _KeyValue(msgspec.Struct, kw_only=True):
    key: str = ""
    value: str = ""


class StartTraceV3(msgspec.Struct, kw_only=True):
    """MLflow 3's ``StartTraceV3`` (`trace`) or, with `experiment_id` instead, MLflow 2's ``StartTrace``."""

    trace: TraceIn | None = None
    experiment_id: str = ""
    timestamp_ms: int = 0
    request_metadata: list[_KeyValue] = []
    tags: list[_KeyValue] = []


class EndTraceV2(msgspec.Struct, kw_only=True):
    request_id: str = ""
    timestamp_ms: int = 0
    status: str = ""
    request_metadata: list[_KeyValue] = []
    tags: list[_KeyValue] = []


class LinkTracesToRun(msgspec.Struct, kw_only=True):
    trace_ids: list[str] = []
    run_id: str = ""


class TraceArtifactRef(msgspec.Struct, kw_only=True):
    request_id: str = ""


class _Aggregation(msgspec.Struct, kw_only=True):
    aggregation_type: str = ""
    percentile_value: float | None = None


class QueryTraceMetrics(msgspec.Struct, kw_only=True):
    experiment_ids: list[str] = []
    view_type: str = ""
    metric_name: str = ""
    aggregations: list[_Aggregation] = []
    dimensions: list[str] = []
    filters: list[str] = []
    time_interval_seconds: int | None = None
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    max_results: int = 1000
    page_token: str = ""


class FilterCorrelation(msgspec.Struct, kw_only=True):
    experiment_ids: list[str] = []
    filter_string1: str = ""
    filter_string2: str = ""
    base_filter: str = ""


class TraceRef(msgspec.Struct, kw_only=True):
    trace_id: str = ""
    allow_partial: bool = False


class TraceIds(msgspec.Struct, kw_only=True):
    trace_ids: list[str] = []


class SearchTracesV3(msgspec.Struct, kw_only=True):
    locations: list[Location] = []
    filter: str = ""
    max_results: int = 100
    order_by: list[str] = []
    page_token: str = ""


class SetTraceTag(msgspec.Struct, kw_only=True):
    key: str = ""
    value: str = ""


class DeleteTraceTag(msgspec.Struct, kw_only=True):
    key: str = ""


class DeleteTraces(msgspec.Struct, kw_only=True):
    experiment_id: str = ""
    max_timestamp_millis: int | None = None
    max_traces: int | None = None
    request_ids: list[str] = []


class AssessmentBody(msgspec.Struct, kw_only=True):
    assessment: AssessmentIn = msgspec.field(default_factory=AssessmentIn)
    update_mask: Any = None


class Nothing(msgspec.Struct, kw_only=True):
    pass


# ---- handlers ---------------------------------------------------------------------------------


def _store(call: Call) -> TraceStore:
    return TraceStore(call.store.local)


def _readable_info(call: Call, trace_id: str, level: str = "READ") -> TraceInfo:
    info = _store(call).get_trace_info(trace_id)
    call.require("experiment", info.experiment_id, level)
    return info


def _info_v2_json(info: TraceInfo) -> dict[str, Any]:
    """MLflow 2's ``TraceInfo``: ``request_id``, ``timestamp_ms``, ``status``, key-value lists."""
    tags = info_json(info)["tags"]
    return {"request_id": info.trace_id, "experiment_id": info.experiment_id, "timestamp_ms": info.request_time,
            "execution_time_ms": info.execution_duration or 0, "status": info.state,
            "request_metadata": [{"key": k, "value": v} for k, v in info.trace_metadata.items()],
            "tags": [{"key": k, "value": v} for k, v in tags.items()]}


def _start_trace_v2(call: Call, body: StartTraceV3) -> dict[str, Any]:
    call.require("experiment", body.experiment_id, "EDIT")
    call.client.get_experiment(body.experiment_id)  # 404 for an experiment that does not exist
    store, trace_id = _store(call), new_trace_id()
    tags = {t.key: t.value for t in body.tags}
    store.start_trace(trace_id, body.experiment_id, body.timestamp_ms, name=tags.get("mlflow.traceName", ""),
                      metadata={m.key: m.value for m in body.request_metadata}, tags=tags)
    return {"trace_info": _info_v2_json(store.get_trace_info(trace_id))}


def end_trace_v2(call: Call, body: EndTraceV2) -> dict[str, Any]:
    """MLflow 2's ``EndTrace``: the trace's end time (its duration from its start), status,
    metadata (merged over the start's) and tags."""
    trace_id = call.params["trace_id"]
    info = _readable_info(call, trace_id, "EDIT")
    if body.status not in ("OK", "ERROR", "IN_PROGRESS"):
        raise InvalidValueError(f"status must be OK, ERROR or IN_PROGRESS, got {body.status!r}")
    check_time(body.timestamp_ms, "timestamp_ms (ms since the epoch)")
    store = _store(call)
    store.end_trace(trace_id, info.experiment_id, body.status, max(0, body.timestamp_ms - info.request_time),
                    metadata={m.key: m.value for m in body.request_metadata}, tags={t.key: t.value for t in body.tags})
    return {"trace_info": _info_v2_json(store.get_trace_info(trace_id))}


def start_trace(call: Call, body: StartTraceV3) -> dict[str, Any]:
    if body.trace is None and body.experiment_id:
        return _start_trace_v2(call, body)
    info = (body.trace or TraceIn()).trace_info
    check_trace_info(info)
    experiment_id = info.trace_location.mlflow_experiment.experiment_id or "0"
    call.require("experiment", experiment_id, "EDIT")
    call.client.get_experiment(experiment_id)  # 404 for an experiment that does not exist
    return {"trace": {"trace_info": info_json(record_trace_info(_store(call), info, experiment_id))}}


def get_trace_info(call: Call, body: Nothing) -> dict[str, Any]:
    return {"trace": {"trace_info": info_json(_readable_info(call, call.params["trace_id"]))}}


def get_trace(call: Call, body: TraceRef) -> dict[str, Any]:
    info = _readable_info(call, body.trace_id)
    trace = _store(call).get_trace(info.trace_id)
    return {"trace": trace_json(trace)}


def trace_artifact(call: Call, body: TraceArtifactRef) -> Any:
    """The trace's spans as MLflow's ``traces.json`` artifact holds them (``{"spans": [...]}``)."""
    from starlette.responses import Response

    info = _readable_info(call, body.request_id)
    trace = _store(call).get_trace(info.trace_id)
    data = json.dumps({"spans": [span_dict(s) for s in trace.data.spans]}, ensure_ascii=False)
    return Response(data.encode(), media_type="application/json",
                    headers={"Content-Disposition": "attachment; filename=traces.json"})


def link_to_run(call: Call, body: LinkTracesToRun) -> dict[str, Any]:
    if not body.run_id:
        raise InvalidValueError("link-to-run needs run_id")
    check_link_count(len(body.trace_ids))  # before a lookup per id
    experiment = call.experiment_of("run", body.run_id)
    if experiment is not None:
        call.require("experiment", experiment, "EDIT")
    store = _store(call)
    for trace_id in body.trace_ids:
        _readable_info(call, trace_id, "EDIT")
    store.link_traces_to_run(body.trace_ids, body.run_id)
    return {}


def _readable(call: Call, experiment_ids: list[str]) -> list[str]:
    if not experiment_ids:
        raise InvalidValueError("experiment_ids must name at least one experiment")
    for experiment_id in experiment_ids:
        call.require("experiment", experiment_id, "READ")
    return experiment_ids


def trace_metrics(call: Call, body: QueryTraceMetrics) -> dict[str, Any]:
    points = query_trace_metrics(
        call.store.local.cursor(), _readable(call, body.experiment_ids), body.view_type, body.metric_name,
        [(a.aggregation_type, a.percentile_value) for a in body.aggregations], body.dimensions, body.filters,
        body.time_interval_seconds, body.start_time_ms, body.end_time_ms, body.max_results or 1000)
    return {"data_points": [p._asdict() for p in points]}


def correlation(call: Call, body: FilterCorrelation) -> dict[str, Any]:
    found = filter_correlation(call.store.local.cursor(), _readable(call, body.experiment_ids), body.filter_string1,
                               body.filter_string2, body.base_filter or None)
    return {k: v for k, v in found._asdict().items() if not (isinstance(v, float) and math.isnan(v))}


def batch_get(call: Call, body: TraceIds) -> dict[str, Any]:
    allowed = call.readable_experiments()
    store = _store(call)
    infos = store.get_traces(body.trace_ids, include_spans=False)
    readable = [i.trace_id for i in infos if isinstance(i, TraceInfo) and allowed(i.experiment_id)]
    return {"traces": [trace_json(t) for t in store.get_traces(readable) if isinstance(t, Trace)]}  # spans: readable only


def batch_get_infos(call: Call, body: TraceIds) -> dict[str, Any]:
    allowed = call.readable_experiments()
    infos = _store(call).get_traces(body.trace_ids, include_spans=False)
    return {"trace_infos": [info_json(i) for i in infos if isinstance(i, TraceInfo) and allowed(i.experiment_id)]}


def search(call: Call, body: SearchTracesV3) -> dict[str, Any]:
    """Traces of the experiments asked for, or of every experiment the caller may read: the search
    itself is scoped, so each page is as full as the readable traces allow."""
    asked = [loc.mlflow_experiment.experiment_id for loc in body.locations if loc.mlflow_experiment.experiment_id]
    wanted: list[str] | None
    if asked:
        allowed = call.readable_experiments(set(asked))
        wanted = [e for e in asked if allowed(e)]
    else:
        scope = call.read_scope()
        wanted = None if scope is None or scope.experiments is None else sorted(scope.experiments)
    if wanted == []:
        return {"traces": []}
    found = _store(call).search(wanted, body.filter or None, body.max_results or 100, body.order_by or None,
                                body.page_token or None, include_spans=False)
    out: dict[str, Any] = {"traces": [info_json(i) for i in found if isinstance(i, TraceInfo)]}
    if found.token:
        out["next_page_token"] = found.token
    return out


def set_tag(call: Call, body: SetTraceTag) -> dict[str, Any]:
    _readable_info(call, call.params["trace_id"], "EDIT")
    _store(call).set_trace_tag(call.params["trace_id"], body.key, body.value)
    return {}


def delete_tag(call: Call, body: DeleteTraceTag) -> dict[str, Any]:
    _readable_info(call, call.params["trace_id"], "EDIT")
    _store(call).delete_trace_tag(call.params["trace_id"], body.key)
    return {}


def delete_traces(call: Call, body: DeleteTraces) -> dict[str, Any]:
    if not body.experiment_id:
        raise InvalidValueError("delete-traces needs experiment_id")
    call.require("experiment", body.experiment_id, "MANAGE")
    if body.request_ids and body.max_timestamp_millis is not None:
        raise InvalidValueError("delete-traces takes request_ids or max_timestamp_millis, not both")
    deleted = _store(call).delete_traces(body.experiment_id, max_timestamp_millis=body.max_timestamp_millis,
                                         max_traces=body.max_traces, trace_ids=body.request_ids or None)
    return {"traces_deleted": deleted}


def create_assessment(call: Call, body: AssessmentBody) -> dict[str, Any]:
    a = body.assessment
    trace_id = call.params["trace_id"]
    _readable_info(call, trace_id, "EDIT")
    return {"assessment": assessment_json(record_assessment(_store(call), trace_id, a))}


def get_assessment(call: Call, body: Nothing) -> dict[str, Any]:
    trace_id = call.params["trace_id"]
    _readable_info(call, trace_id)
    return {"assessment": assessment_json(_store(call).get_assessment(trace_id, call.params["assessment_id"]))}


def update_assessment(call: Call, body: AssessmentBody) -> dict[str, Any]:
    trace_id, aid = call.params["trace_id"], call.params["assessment_id"]
    _readable_info(call, trace_id, "EDIT")
    return {"assessment": assessment_json(record_assessment_update(_store(call), trace_id, aid, body.assessment))}


def delete_assessment(call: Call, body: Any) -> dict[str, Any]:
    trace_id = call.params["trace_id"]
    _readable_info(call, trace_id, "EDIT")
    _store(call).delete_assessment(trace_id, call.params["assessment_id"])
    return {}


async def otlp(call: Call, body: Any) -> Any:
    """``POST /v1/traces``: OTLP/HTTP spans (protobuf or JSON, gzip or not), within the body limit."""
    from starlette.responses import Response

    request = call.request
    assert request is not None
    limit = call.server.max_body
    data = await read_request(request, limit)
    content_type = request.headers.get("content-type", "")
    data = inflate(data, request.headers.get("content-encoding", ""), limit)
    experiment = request.headers.get(EXPERIMENT_HEADER, "") or "0"
    await anyio.to_thread.run_sync(_ingest, call, data, content_type, experiment)
    if content_type.split(";")[0].strip().lower() == "application/json":
        return Response(b"{}", media_type="application/json")
    return Response(b"", media_type="application/x-protobuf")  # an empty ExportTraceServiceResponse


def _ingest(call: Call, data: bytes, content_type: str, experiment: str) -> None:
    events = span_events(decode_request(data, content_type), experiment)
    for experiment_id in sorted({e.experiment_id for e in events}):
        call.require("experiment", experiment_id, "EDIT")
        call.client.get_experiment(experiment_id)  # 404 for an experiment that does not exist
    store = _store(call)
    for event in events:
        store.append(event)
