"""tracklog as an MLflow backend, with no server: the ``tracklog:`` tracking and registry URIs.

Installed with tracklog, MLflow finds these stores through its plugin entry points
(``mlflow.tracking_store`` and ``mlflow.model_registry_store``, scheme ``tracklog``), so

>>> import mlflow  # doctest: +SKIP
>>> mlflow.set_tracking_uri("tracklog:./store")  # doctest: +SKIP

makes every MLflow API — ``mlflow.autolog()``, ``mlflow.<flavor>.log_model`` and MLflow 3's
logged models, ``mlflow.register_model``, ``mlflow.search_runs``, ``runs:/`` and ``models:/``
URIs — write into and read from the tracklog store after the colon: a folder
(``tracklog:/path``, ``tracklog:./store``), an object store (``tracklog:s3://bucket/prefix``)
or any other URI `tracklog.Client` takes. The store is the event log itself: the same runs read
back through ``tracklog`` unchanged, and what MLflow logs costs what tracklog's own calls cost
(a metric is a buffer append).

The stores are thin: each call goes through `tracklog.Client` (its checks, its store), and
entities cross over through MLflow's own wire format (tracklog's entities are it): a tracklog
entity encoded as JSON is parsed into MLflow's protobuf message and MLflow's ``from_proto``.
Errors become ``MlflowException`` with the MLflow error code tracklog's error carries.

Artifacts are written by MLflow's own artifact repositories at the URIs the store hands out:
plain paths (``file://…``) and ``s3://…`` (also what tracklog's artifacts read); so no artifact
repository plugin is needed for folders and object stores.

MLflow 3's tracing records into the same log: MLflow's exporter hands each ended span to
``log_spans`` and the trace's info to ``start_trace`` (answered with the tag
``mlflow.trace.spansLocation = TRACKING_STORE``, so no ``traces.json`` artifact is written). Spans
cross over as OTLP messages (what MLflow's REST store sends a server's ``/v1/traces``) into the
span events the server's OTLP endpoint records; trace infos and assessments as MLflow's JSON,
through the conversions the server's trace endpoints use (`tracklog.tracing._mlflow_json`). So a
trace reads the same through MLflow, tracklog and the server, whichever of them wrote it.

This module imports MLflow; ``import tracklog`` never imports it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
from google.protobuf import json_format
from mlflow.entities import (
    Assessment,
    Experiment,
    LoggedModel,
    Metric,
    Run,
    RunInfo,
    RunStatus,
    Span,
    Trace,
    TraceData,
    TraceInfo,
)
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.protos import assessments_pb2, model_registry_pb2, service_pb2
from mlflow.protos.databricks_pb2 import ErrorCode
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore as AbstractRegistryStore
from mlflow.store.tracking.abstract_store import AbstractStore as AbstractTrackingStore
from mlflow.utils.proto_json_utils import message_to_json
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from eventlog.errors import InvalidInputError, InvalidValueError, TracklogError
from projections import entities as tl
from projections import traces as tl_traces
from projections.entities import encode_hook
from tracklog.tracing._mlflow_json import (
    AssessmentIn,
    TraceInfoIn,
    assessment_json,
    check_trace_info,
    info_json,
    record_assessment,
    record_assessment_update,
    record_trace_info,
)
from tracklog.tracing.otlp import span_events, span_message
from tracklog.tracing.store import TraceStore
from tracklog.tracking import messages
from tracklog.tracking.client import Client
from tracklog.tracking.local import LocalStore

__all__ = ["SCHEME", "TracklogRegistryStore", "TracklogTrackingStore", "tracklog_store"]

SCHEME = "tracklog"
_encode = msgspec.json.Encoder(enc_hook=encode_hook).encode
_LOGGED_MODELS_TAG = "mlflow.log-model.history"
_LOGGED_MODEL_URI = re.compile(r"^models:/m-[0-9a-f]{32}$")
T = TypeVar("T")
W = TypeVar("W")


def tracklog_store(uri: str) -> str:
    """The tracklog store a ``tracklog:<store>`` URI names (``tracklog:///abs`` and
    ``tracklog://rel`` spellings too)."""
    if not isinstance(uri, str) or not uri.startswith(f"{SCHEME}:"):
        raise InvalidInputError(f"a tracklog tracking URI is 'tracklog:<store>' (a folder or a URL), got {uri!r}")
    rest = uri[len(SCHEME) + 1:]
    if rest.startswith("///") or rest.startswith("//") and "://" not in rest:
        rest = rest[2:]
    if not rest:
        raise InvalidInputError(f"{uri!r} names no store: write tracklog:/path, tracklog:./folder or tracklog:s3://bucket/prefix")
    return rest


# ---- crossing over ---------------------------------------------------------------------------


def _proto(message: type, entity: Any) -> Any:
    """A tracklog entity (MLflow's wire format) as MLflow's protobuf message."""
    return json_format.Parse(_encode(entity), message(), ignore_unknown_fields=True)


def _run(run: tl.Run) -> Run:
    return Run.from_proto(_proto(service_pb2.Run, run))


def _experiment(experiment: tl.Experiment) -> Experiment:
    return Experiment.from_proto(_proto(service_pb2.Experiment, experiment))


def _logged_model(model: tl.LoggedModel) -> LoggedModel:
    return LoggedModel.from_proto(_proto(service_pb2.LoggedModel, model))


def _registered_model(model: tl.RegisteredModel) -> RegisteredModel:
    return RegisteredModel.from_proto(_proto(model_registry_pb2.RegisteredModel, messages.model_out(model)))


def _version(version: tl.ModelVersion) -> ModelVersion:
    return ModelVersion.from_proto(_proto(model_registry_pb2.ModelVersion, messages.version_out(version)))


def _metric_in(m: Any) -> tl.Metric:
    return tl.Metric(m.key, m.value, m.timestamp, m.step, model_id=getattr(m, "model_id", None) or None,
                     dataset_name=getattr(m, "dataset_name", None) or None,
                     dataset_digest=getattr(m, "dataset_digest", None) or None)


def _dataset_input(item: Any) -> tl.DatasetInput:
    ds = item.dataset
    return tl.DatasetInput(
        dataset=tl.Dataset(name=ds.name, digest=ds.digest, source_type=ds.source_type or "", source=ds.source or "",
                           schema=ds.schema or None, profile=ds.profile or None),
        tags=[tl.InputTag(t.key, t.value) for t in item.tags or ()])


def _wire(entity: Any, kind: type[W]) -> W:
    """An MLflow entity's proto (or its JSON as a dict) as the body MLflow's REST client would send
    a tracking server, decoded as the server decodes it."""
    body = entity if isinstance(entity, dict) else json.loads(message_to_json(entity))
    try:
        return msgspec.convert(body, kind)
    except msgspec.ValidationError as exc:
        raise InvalidValueError(f"MLflow's {kind.__name__.removesuffix('In')} does not read as one: {exc}") from exc


def _trace_info(info: tl_traces.TraceInfo) -> TraceInfo:
    return TraceInfo.from_proto(json_format.ParseDict(info_json(info), service_pb2.TraceInfoV3(),
                                                      ignore_unknown_fields=True))


def _trace(trace: tl_traces.Trace) -> Trace:
    spans = [Span.from_otel_proto(span_message(s)) for s in trace.data.spans]
    return Trace(info=_trace_info(trace.info), data=TraceData(spans=spans))


def _assessment(assessment: tl_traces.Assessment) -> Assessment:
    return Assessment.from_proto(json_format.ParseDict(assessment_json(assessment), assessments_pb2.Assessment(),
                                                       ignore_unknown_fields=True))


def _in(info: tl_traces.TraceInfo, experiment_ids: list[str] | None) -> bool:
    return not experiment_ids or info.experiment_id in experiment_ids


def _status_name(status: Any) -> str:
    return status if isinstance(status, str) else RunStatus.to_string(status)


def _mlflow_errors(cls: type[T]) -> type[T]:
    """Every public method of `cls` raises ``MlflowException`` (with the MLflow error code of
    tracklog's error) where tracklog raises a `TracklogError`."""
    for name, fn in list(vars(cls).items()):
        if callable(fn) and (not name.startswith("__") or name == "__init__"):
            setattr(cls, name, _translated(fn))
    return cls


def _translated(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TracklogError as exc:
            code = getattr(exc, "error_code", "INTERNAL_ERROR")
            try:
                value = ErrorCode.Value(code)
            except ValueError:
                value = ErrorCode.Value("INTERNAL_ERROR")
            raise MlflowException(str(exc), error_code=value) from exc
    return call


# ---- tracking ----------------------------------------------------------------------------------


@_mlflow_errors
class TracklogTrackingStore(AbstractTrackingStore):
    """MLflow's tracking store on a tracklog store (see the module docstring)."""

    def __init__(self, store_uri: str, artifact_uri: str | None = None) -> None:
        super().__init__()
        self.store_uri = store_uri
        self.client = Client(tracklog_store(store_uri))
        self.artifact_uri = artifact_uri
        self._traces: TraceStore | None = None

    # experiments

    def search_experiments(self, view_type: int = 1, max_results: int | None = 1000, filter_string: str | None = None,
                           order_by: list[str] | None = None, page_token: str | None = None) -> PagedList:
        found = self.client.search_experiments(view_type, max_results, filter_string, order_by, page_token)
        return PagedList([_experiment(e) for e in found], found.token)

    def create_experiment(self, name: str, artifact_location: str | None = None, tags: Sequence[Any] | None = None) -> str:
        return self.client.create_experiment(name, artifact_location or None, {t.key: t.value for t in tags or ()})

    def get_experiment(self, experiment_id: str) -> Experiment:
        return _experiment(self.client.get_experiment(experiment_id))

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        found = self.client.get_experiment_by_name(experiment_name)
        return None if found is None else _experiment(found)

    def delete_experiment(self, experiment_id: str) -> None:
        self.client.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.client.restore_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.client.rename_experiment(experiment_id, new_name)

    def set_experiment_tag(self, experiment_id: str, tag: Any) -> None:
        self.client.set_experiment_tag(experiment_id, tag.key, tag.value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.client.delete_experiment_tag(experiment_id, key)

    # runs

    def create_run(self, experiment_id: str, user_id: str | None, start_time: int | None, tags: Sequence[Any],
                   run_name: str | None) -> Run:
        run = self.client.create_run(experiment_id, start_time, {t.key: t.value for t in tags or ()}, run_name or None,
                                     user_id=user_id or None)
        return _run(run)

    def get_run(self, run_id: str) -> Run:
        return _run(self.client.get_run(run_id))

    def update_run_info(self, run_id: str, run_status: Any, end_time: int | None, run_name: str | None) -> RunInfo:
        status = _status_name(run_status) if run_status is not None else None
        if status is not None and tl.RunStatus.is_terminated(status):
            self.client.set_terminated(run_id, status, end_time)
            if run_name:
                self.client.update_run(run_id, name=run_name)
        else:
            self.client.update_run(run_id, status=status, name=run_name or None)
        return self.get_run(run_id).info

    def delete_run(self, run_id: str) -> None:
        self.client.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.client.restore_run(run_id)

    def _search_runs(self, experiment_ids: Sequence[str], filter_string: str | None, run_view_type: int,
                     max_results: int, order_by: list[str] | None, page_token: str | None) -> tuple[list[Run], str | None]:
        found = self.client.search_runs(list(experiment_ids), filter_string or "", run_view_type, max_results, order_by,
                                        page_token)
        return [_run(r) for r in found], found.token

    def get_metric_history(self, run_id: str, metric_key: str, max_results: int | None = None,
                           page_token: str | None = None) -> PagedList:
        history = self.client.get_metric_history(run_id, metric_key)
        start = int(page_token) if page_token else 0
        end = len(history) if max_results is None else min(len(history), start + max_results)
        points = [Metric(m.key, m.value, m.timestamp, m.step, run_id=run_id) for m in history[start:end]]
        return PagedList(points, str(end) if end < len(history) else None)

    # logging: a metric point is a buffer append, as through tracklog's own API

    def log_metric(self, run_id: str, metric: Any) -> None:
        if getattr(metric, "model_id", None) or getattr(metric, "dataset_name", None):
            self.log_batch(run_id, [metric], [], [])
        else:
            self.client.log_metric(run_id, metric.key, metric.value, metric.timestamp, metric.step)

    def log_batch(self, run_id: str, metrics: Sequence[Any], params: Sequence[Any], tags: Sequence[Any]) -> None:
        self.client.log_batch(run_id, [_metric_in(m) for m in metrics], [tl.Param(p.key, p.value) for p in params],
                              [tl.RunTag(t.key, t.value) for t in tags])

    def delete_tag(self, run_id: str, key: str) -> None:
        self.client.delete_tag(run_id, key)

    def log_inputs(self, run_id: str, datasets: Sequence[Any] | None = None, models: Sequence[Any] | None = None) -> None:
        self.client.log_inputs(run_id, [_dataset_input(d) for d in datasets or ()], [m.model_id for m in models or ()])

    def log_outputs(self, run_id: str, models: Sequence[Any]) -> None:
        self.client.log_outputs(run_id, models)

    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        """MLflow 2's record of a model logged to a run: the tag ``mlflow.log-model.history``."""
        held = self.client.get_run(run_id).data.tags.get(_LOGGED_MODELS_TAG)
        history = json.loads(held) if held else []
        self.client.set_tag(run_id, _LOGGED_MODELS_TAG, json.dumps([*history, mlflow_model.get_tags_dict()]))

    # logged models (MLflow 3)

    def create_logged_model(self, experiment_id: str, name: str | None = None, source_run_id: str | None = None,
                            tags: Sequence[Any] | None = None, params: Sequence[Any] | None = None,
                            model_type: str | None = None) -> LoggedModel:
        model = self.client.create_logged_model(experiment_id, name, source_run_id, {t.key: t.value for t in tags or ()},
                                                {p.key: p.value for p in params or ()}, model_type)
        return _logged_model(model)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        return _logged_model(self.client.get_logged_model(model_id))

    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        return _logged_model(self.client.finalize_logged_model(model_id, status))

    def set_logged_model_tags(self, model_id: str, tags: Sequence[Any]) -> None:
        self.client.set_logged_model_tags(model_id, {t.key: t.value for t in tags})

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.client.delete_logged_model_tag(model_id, key)

    def log_logged_model_params(self, model_id: str, params: Sequence[Any]) -> None:
        self.client.log_model_params(model_id, {p.key: p.value for p in params})

    def delete_logged_model(self, model_id: str) -> None:
        self.client.delete_logged_model(model_id)

    def search_logged_models(self, experiment_ids: list[str], filter_string: str | None = None,
                             datasets: list[dict[str, Any]] | None = None, max_results: int | None = None,
                             order_by: list[dict[str, Any]] | None = None, page_token: str | None = None) -> PagedList:
        found = self.client.search_logged_models(experiment_ids, filter_string, max_results, order_by, page_token,
                                                 datasets=datasets)
        return PagedList([_logged_model(m) for m in found], found.token)

    # traces (MLflow 3): spans and trace events on the event log, through `TraceStore`

    @property
    def traces(self) -> TraceStore:
        """The store's traces; a ``tracklog:`` URI naming a tracking server has none here."""
        if self._traces is None:
            local = self.client.store
            if not isinstance(local, LocalStore):
                raise InvalidInputError(f"traces go to a tracking server through MLflow's own client: set the "
                                        f"tracking URI to {local.uri}, not {self.store_uri}")
            self._traces = TraceStore(local)
        return self._traces

    def log_spans(self, location: str, spans: list[Any], tracking_uri: str | None = None) -> list[Any]:
        """Each span as it ends (MLflow's exporter): the span events the OTLP endpoint records for
        the same spans (``Span.to_otel_proto``, what MLflow's REST store sends it)."""
        if not spans:
            return []
        request = ExportTraceServiceRequest()
        request.resource_spans.add().scope_spans.add().spans.extend(span.to_otel_proto() for span in spans)
        events = span_events(request, str(location or "0"))
        for experiment_id in sorted({e.experiment_id for e in events}):
            self.client.get_experiment(experiment_id)  # ExperimentNotFoundError before any span is written
        for event in events:
            self.traces.append(event)
        return spans

    def start_trace(self, trace_info: Any) -> TraceInfo:
        """The trace's info when its root span ends (MLflow's ``StartTraceV3``), with any
        assessment logged while it ran; the answer says its spans are in this store."""
        info = _wire(trace_info.to_proto(), TraceInfoIn)
        check_trace_info(info)
        experiment_id = info.trace_location.mlflow_experiment.experiment_id or "0"
        self.client.get_experiment(experiment_id)
        return _trace_info(record_trace_info(self.traces, info, experiment_id))

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        return _trace_info(self.traces.get_trace_info(trace_id))

    def get_trace(self, trace_id: str, *, allow_partial: bool = False) -> Trace:
        return _trace(self.traces.get_trace(trace_id))

    def batch_get_traces(self, trace_ids: list[str], location: str | None = None,
                         experiment_ids: list[str] | None = None) -> list[Trace]:
        found = self.traces.get_traces(trace_ids)
        return [_trace(t) for t in found if isinstance(t, tl_traces.Trace) and _in(t.info, experiment_ids)]

    def batch_get_trace_infos(self, trace_ids: list[str], location: str | None = None,
                              experiment_ids: list[str] | None = None) -> list[TraceInfo]:
        found = self.traces.get_traces(trace_ids, include_spans=False)
        return [_trace_info(i) for i in found if isinstance(i, tl_traces.TraceInfo) and _in(i, experiment_ids)]

    def search_traces(self, experiment_ids: list[str] | None = None, filter_string: str | None = None,
                      max_results: int = 100, order_by: list[str] | None = None, page_token: str | None = None,
                      model_id: str | None = None, locations: list[str] | None = None
                      ) -> tuple[list[TraceInfo], str | None]:
        if model_id is not None:  # MLflow's client turns it into a filter on request_metadata first
            raise InvalidInputError("search_traces takes a filter on request_metadata.`mlflow.modelId`, not model_id")
        wanted = list(locations or experiment_ids or []) or None
        found = self.traces.search(wanted, filter_string or None, max_results, order_by or None, page_token or None,
                                   include_spans=False)
        return [_trace_info(i) for i in found if isinstance(i, tl_traces.TraceInfo)], found.token or None

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        self.traces.set_trace_tag(trace_id, key, value)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        self.traces.delete_trace_tag(trace_id, key)

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        return _assessment(self.traces.get_assessment(trace_id, assessment_id))

    def create_assessment(self, assessment: Any) -> Assessment:
        return _assessment(record_assessment(self.traces, assessment.trace_id, _wire(assessment.to_proto(), AssessmentIn)))

    def update_assessment(self, trace_id: str, assessment_id: str, name: str | None = None, expectation: Any = None,
                          feedback: Any = None, rationale: str | None = None,
                          metadata: dict[str, str] | None = None) -> Assessment:
        if expectation is not None and feedback is not None:
            raise InvalidInputError("an assessment is updated with an expectation or a feedback, not both")
        body: dict[str, Any] = {"assessment_name": name or "", "rationale": rationale, "metadata": metadata}
        for key, value in (("expectation", expectation), ("feedback", feedback)):
            if value is not None:
                body[key] = json.loads(message_to_json(value.to_proto()))
        update = _wire(body, AssessmentIn)
        return _assessment(record_assessment_update(self.traces, trace_id, assessment_id, update))

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        self.traces.delete_assessment(trace_id, assessment_id)

    def _delete_traces(self, experiment_id: str, max_timestamp_millis: int | None = None, max_traces: int | None = None,
                       trace_ids: list[str] | None = None) -> int:
        return self.traces.delete_traces(experiment_id, max_timestamp_millis=max_timestamp_millis, max_traces=max_traces,
                                         trace_ids=trace_ids or None)

    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        self.traces.link_traces_to_run(list(trace_ids), run_id)

    def flush(self) -> None:
        """Publish what this process logged (tracklog's writer also does so in the background)."""
        self.client.flush()


# ---- the model registry --------------------------------------------------------------------------


@_mlflow_errors
class TracklogRegistryStore(AbstractRegistryStore):
    """MLflow's model registry store on a tracklog store (the registry lives in the same log)."""

    def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)
        self.client = Client(tracklog_store(store_uri))

    def create_registered_model(self, name: str, tags: Sequence[Any] | None = None, description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        return _registered_model(self.client.create_registered_model(name, {t.key: t.value for t in tags or ()},
                                                                     description))

    def update_registered_model(self, name: str, description: str | None, deployment_job_id: str | None = None) -> RegisteredModel:
        return _registered_model(self.client.update_registered_model(name, description))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return _registered_model(self.client.rename_registered_model(name, new_name))

    def delete_registered_model(self, name: str) -> None:
        self.client.delete_registered_model(name)

    def search_registered_models(self, filter_string: str | None = None, max_results: int | None = None,
                                 order_by: list[str] | None = None, page_token: str | None = None) -> PagedList:
        found = self.client.search_registered_models(filter_string, max_results or 100, order_by, page_token)
        return PagedList([_registered_model(m) for m in found], found.token)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return _registered_model(self.client.get_registered_model(name))

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        return [_version(v) for v in self.client.get_latest_versions(name, stages)]

    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        self.client.set_registered_model_tag(name, tag.key, tag.value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.client.delete_registered_model_tag(name, key)

    def create_model_version(self, name: str, source: str, run_id: str | None = None, tags: Sequence[Any] | None = None,
                             run_link: str | None = None, description: str | None = None,
                             local_model_path: str | None = None, model_id: str | None = None) -> ModelVersion:
        if model_id is None and _LOGGED_MODEL_URI.match(source or ""):  # MLflow 3 registers models:/<model_id>
            model_id = source[len("models:/"):]
        version = self.client.create_model_version(name, source, run_id, {t.key: t.value for t in tags or ()}, run_link,
                                                   description, model_id=model_id)
        return _version(version)

    def update_model_version(self, name: str, version: Any, description: str | None) -> ModelVersion:
        return _version(self.client.update_model_version(name, version, description))

    def transition_model_version_stage(self, name: str, version: Any, stage: str,
                                       archive_existing_versions: bool) -> ModelVersion:
        return _version(self.client.transition_model_version_stage(name, version, stage, archive_existing_versions))

    def delete_model_version(self, name: str, version: Any) -> None:
        self.client.delete_model_version(name, version)

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        return _version(self.client.get_model_version(name, version))

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        return self.client.get_model_version_download_uri(name, version)

    def search_model_versions(self, filter_string: str | None = None, max_results: int | None = None,
                              order_by: list[str] | None = None, page_token: str | None = None) -> PagedList:
        found = self.client.search_model_versions(filter_string, max_results or 10_000, order_by, page_token)
        return PagedList([_version(v) for v in found], found.token)

    def set_model_version_tag(self, name: str, version: Any, tag: Any) -> None:
        self.client.set_model_version_tag(name, version, tag.key, tag.value)

    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        self.client.delete_model_version_tag(name, version, key)

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.client.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return _version(self.client.get_model_version_by_alias(name, alias))
