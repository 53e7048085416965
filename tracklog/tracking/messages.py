"""The bodies of MLflow's REST API as msgspec Structs, with MLflow's JSON field names.

The server decodes requests into these and the REST client (`tracklog.tracking.rest`) encodes
them; replies carry the entities of `projections.entities` themselves (they are MLflow's wire
format), encoded with `projections.entities.encode_hook` and decoded by the client.

Requests are decoded leniently, as MLflow's protobuf JSON parser reads them: int64 fields may
come as numbers or numeric strings, doubles also as ``"NaN"``/``"Infinity"``, enums as names or
numbers, and unknown fields are ignored (newer clients send fields older servers do not know).
A field without a default is required; its absence is a 400 naming it.

Responses leave out fields at their default (``omit_defaults``), as protobuf's JSON does, and
write non-finite doubles as ``"NaN"``/``"Infinity"``/``"-Infinity"`` strings (JSON has no NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import msgspec

from projections.entities import (
    Experiment,
    FileInfo,
    LoggedModel,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunInfo,
)

__all__ = [
    "Body",
    "KeyValue",
    "Reply",
    "model_in",
    "model_out",
    "number",
    "version_in",
    "version_out",
]

Enum = str | int  # a protobuf enum: its name or its number


class Body(msgspec.Struct, kw_only=True):
    """A request body."""


class Reply(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A response body."""


class KeyValue(msgspec.Struct, kw_only=True):
    key: str
    value: str = ""


class KeyValueOut(Reply, kw_only=True):
    key: str
    value: str = ""


def number(value: float) -> float | str:
    """A double as protobuf's JSON writes it: non-finite values as strings."""
    if math.isfinite(value):
        return value
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


# ---- experiments ----------------------------------------------------------------------------


class CreateExperiment(Body, kw_only=True):
    name: str
    artifact_location: str = ""
    tags: list[KeyValue] = []


class ExperimentId(Body, kw_only=True):
    experiment_id: str


class GetExperimentByName(Body, kw_only=True):
    experiment_name: str


class SearchExperiments(Body, kw_only=True):
    max_results: int = 1000
    page_token: str = ""
    filter: str = ""
    order_by: list[str] = []
    view_type: Enum = "ACTIVE_ONLY"


class UpdateExperiment(Body, kw_only=True):
    experiment_id: str
    new_name: str = ""


class SetExperimentTag(Body, kw_only=True):
    experiment_id: str
    key: str
    value: str


class DeleteExperimentTag(Body, kw_only=True):
    experiment_id: str
    key: str


class ExperimentReply(Reply, kw_only=True):
    experiment: Experiment


class CreateExperimentReply(Reply, kw_only=True):
    experiment_id: str


class ExperimentsReply(Reply, kw_only=True):
    experiments: list[Experiment] = []
    next_page_token: str = ""


# ---- runs -----------------------------------------------------------------------------------


class CreateRun(Body, kw_only=True):
    experiment_id: str = ""
    user_id: str = ""
    run_name: str = ""
    start_time: int | None = None
    tags: list[KeyValue] = []


class RunRef(Body, kw_only=True):
    """A request naming a run by ``run_id`` (or its deprecated alias ``run_uuid``)."""

    run_id: str = ""
    run_uuid: str = ""

    @property
    def rid(self) -> str:
        return self.run_id or self.run_uuid


class UpdateRun(RunRef, kw_only=True):
    status: Enum | None = None
    end_time: int | None = None
    run_name: str | None = None


class LogMetric(RunRef, kw_only=True):
    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str = ""
    dataset_name: str = ""
    dataset_digest: str = ""


class LogParam(RunRef, kw_only=True):
    key: str
    value: str


class SetTag(RunRef, kw_only=True):
    key: str
    value: str


class DeleteTag(RunRef, kw_only=True):
    key: str


class MetricIn(Body, kw_only=True):
    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str = ""
    dataset_name: str = ""
    dataset_digest: str = ""
    run_id: str = ""


class LogBatch(RunRef, kw_only=True):
    metrics: list[MetricIn] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class DatasetIn(Body, kw_only=True):
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str = ""
    profile: str = ""


class DatasetInputIn(Body, kw_only=True):
    tags: list[KeyValue] = []
    dataset: DatasetIn


class ModelIdIn(Body, kw_only=True):
    model_id: str


class LogInputs(RunRef, kw_only=True):
    datasets: list[DatasetInputIn] = []
    models: list[ModelIdIn] = []


class ModelOutputIn(Body, kw_only=True):
    model_id: str
    step: int = 0


class LogOutputs(RunRef, kw_only=True):
    models: list[ModelOutputIn] = []


class SearchRuns(Body, kw_only=True):
    experiment_ids: list[str] = []
    filter: str = ""
    run_view_type: Enum = "ACTIVE_ONLY"
    max_results: int = 1000
    order_by: list[str] = []
    page_token: str = ""


class GetMetricHistory(RunRef, kw_only=True):
    metric_key: str
    page_token: str = ""
    max_results: int | None = None


class GetMetricHistoryBulk(Body, kw_only=True):
    run_id: list[str] = []
    metric_key: str = ""
    max_results: int = 25000


class GetMetricHistoryBulkInterval(Body, kw_only=True):
    run_ids: list[str]
    metric_key: str
    start_step: int | None = None
    end_step: int | None = None
    max_results: int = 2500


class ListArtifacts(RunRef, kw_only=True):
    path: str = ""
    page_token: str = ""


class RunReply(Reply, kw_only=True):
    run: Run


class RunInfoReply(Reply, kw_only=True):
    run_info: RunInfo


class RunsReply(Reply, kw_only=True):
    runs: list[Run] = []
    next_page_token: str = ""


class MetricsReply(Reply, kw_only=True):
    metrics: list[Metric] = []
    next_page_token: str = ""


class FilesReply(Reply, kw_only=True):
    root_uri: str = ""
    files: list[FileInfo] = []
    next_page_token: str = ""


# ---- logged models --------------------------------------------------------------------------


class CreateLoggedModel(Body, kw_only=True):
    experiment_id: str
    name: str = ""
    model_type: str = ""
    source_run_id: str = ""
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class FinalizeLoggedModel(Body, kw_only=True):
    model_id: str = ""
    status: Enum


class SetLoggedModelTags(Body, kw_only=True):
    model_id: str = ""
    tags: list[KeyValue] = []


class LogLoggedModelParams(Body, kw_only=True):
    model_id: str = ""
    params: list[KeyValue] = []


class DatasetFilter(Body, kw_only=True):
    dataset_name: str
    dataset_digest: str = ""


class OrderBy(Body, kw_only=True):
    field_name: str
    ascending: bool = True
    dataset_name: str = ""
    dataset_digest: str = ""


class SearchLoggedModels(Body, kw_only=True):
    experiment_ids: list[str] = []
    filter: str = ""
    datasets: list[DatasetFilter] = []
    max_results: int = 50
    order_by: list[OrderBy] = []
    page_token: str = ""


class ListLoggedModelArtifacts(Body, kw_only=True):
    artifact_directory_path: str = ""
    page_token: str = ""


class LoggedModelFile(Body, kw_only=True):
    artifact_file_path: str


class RunFile(Body, kw_only=True):
    path: str
    run_uuid: str = ""
    run_id: str = ""


class LoggedModelReply(Reply, kw_only=True):
    model: LoggedModel


class LoggedModelsReply(Reply, kw_only=True):
    models: list[LoggedModel] = []
    next_page_token: str = ""


# ---- the model registry -----------------------------------------------------------------------


class NameRef(Body, kw_only=True):
    name: str


class CreateRegisteredModel(Body, kw_only=True):
    name: str
    tags: list[KeyValue] = []
    description: str | None = None
    deployment_job_id: str = ""


class RenameRegisteredModel(Body, kw_only=True):
    name: str
    new_name: str = ""


class UpdateRegisteredModel(Body, kw_only=True):
    name: str
    description: str | None = None
    deployment_job_id: str = ""


class SearchRegisteredModels(Body, kw_only=True):
    filter: str = ""
    max_results: int = 100
    order_by: list[str] = []
    page_token: str = ""


class GetLatestVersions(Body, kw_only=True):
    name: str
    stages: list[str] = []


class CreateModelVersion(Body, kw_only=True):
    name: str
    source: str
    run_id: str = ""
    tags: list[KeyValue] = []
    run_link: str = ""
    description: str = ""
    model_id: str = ""


class VersionRef(Body, kw_only=True):
    name: str
    version: str


class UpdateModelVersion(VersionRef, kw_only=True):
    description: str | None = None


class TransitionModelVersionStage(VersionRef, kw_only=True):
    stage: str
    archive_existing_versions: bool = False


class SearchModelVersions(Body, kw_only=True):
    filter: str = ""
    max_results: int = 200_000
    order_by: list[str] = []
    page_token: str = ""


class SetRegisteredModelTag(Body, kw_only=True):
    name: str
    key: str
    value: str


class DeleteRegisteredModelTag(Body, kw_only=True):
    name: str
    key: str


class SetModelVersionTag(VersionRef, kw_only=True):
    key: str
    value: str


class DeleteModelVersionTag(VersionRef, kw_only=True):
    key: str


class SetRegisteredModelAlias(Body, kw_only=True):
    name: str
    alias: str
    version: str


class AliasRef(Body, kw_only=True):
    name: str
    alias: str


class AliasOut(Reply, kw_only=True):
    alias: str
    version: str


class ModelVersionOut(Reply, kw_only=True):
    name: str
    version: str
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    user_id: str = ""
    current_stage: str
    description: str = ""
    source: str = ""
    run_id: str = ""
    status: str
    status_message: str = ""
    tags: list[KeyValueOut] = []
    run_link: str = ""
    aliases: list[str] = []
    model_id: str = ""


class RegisteredModelOut(Reply, kw_only=True):
    name: str
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    user_id: str = ""
    description: str = ""
    latest_versions: list[ModelVersionOut] = []
    tags: list[KeyValueOut] = []
    aliases: list[AliasOut] = []


class RegisteredModelReply(Reply, kw_only=True):
    registered_model: RegisteredModelOut


class RegisteredModelsReply(Reply, kw_only=True):
    registered_models: list[RegisteredModelOut] = []
    next_page_token: str = ""


class ModelVersionReply(Reply, kw_only=True):
    model_version: ModelVersionOut


class ModelVersionsReply(Reply, kw_only=True):
    model_versions: list[ModelVersionOut] = []
    next_page_token: str = ""


class DownloadUriReply(Reply, kw_only=True):
    artifact_uri: str


# ---- the artifact proxy, tracklog's own endpoints ----------------------------------------------------


class ProxyList(Body, kw_only=True):
    path: str = ""


class SqlQuery(Body, kw_only=True):
    query: str
    as_of: int | None = None  # epoch ms
    limit: int | None = None  # rows; None: 10,000 as JSON, the server's --sql-max-rows as CSV or Parquet
    format: str = "json"  # json | csv | parquet


class SqlReply(msgspec.Struct, kw_only=True):  # every field written, defaults too
    columns: list[str] = []
    types: list[str] = []
    rows: list[list[object]] = []
    truncated: bool = False


class Empty(Reply, kw_only=True):
    pass


class SendHeartbeats(Body, kw_only=True):
    """tracklog's own: heartbeats for runs a client of the server keeps alive."""

    run_ids: list[str] = []


# ---- the registry's entities on the wire, and back ----------------------------------------------


def _kv(items: dict[str, str]) -> list[KeyValueOut]:
    return [KeyValueOut(key=k, value=v) for k, v in sorted(items.items())]


def _same(uri: str) -> str:
    return uri


def version_out(v: ModelVersion, present: Callable[[str], str] = _same) -> ModelVersionOut:
    """A model version as MLflow's JSON has it (`present` rewrites its source URI for the client)."""
    return ModelVersionOut(
        name=v.name, version=str(v.version), creation_timestamp=v.creation_timestamp,
        last_updated_timestamp=v.last_updated_timestamp or v.creation_timestamp, user_id=v.user_id or "",
        current_stage=v.current_stage, description=v.description or "", source=present(v.source or ""),
        run_id=v.run_id or "", status=v.status, status_message=v.status_message or "", tags=_kv(v.tags),
        run_link=v.run_link or "", aliases=list(v.aliases), model_id=v.model_id or "",
    )


def model_out(r: RegisteredModel, present: Callable[[str], str] = _same) -> RegisteredModelOut:
    return RegisteredModelOut(
        name=r.name, creation_timestamp=r.creation_timestamp,
        last_updated_timestamp=r.last_updated_timestamp or r.creation_timestamp, description=r.description or "",
        latest_versions=[version_out(v, present) for v in r.latest_versions], tags=_kv(r.tags),
        aliases=[AliasOut(alias=a, version=str(v)) for a, v in sorted(r.aliases.items())],
    )


def version_in(v: ModelVersionOut) -> ModelVersion:
    """The entity a server's model version JSON stands for."""
    return ModelVersion(
        name=v.name, version=int(v.version), creation_timestamp=v.creation_timestamp,
        last_updated_timestamp=v.last_updated_timestamp, description=v.description or None, user_id=v.user_id or None,
        current_stage=v.current_stage, source=v.source or None, run_id=v.run_id or None, status=v.status,
        status_message=v.status_message or None, tags={t.key: t.value for t in v.tags}, run_link=v.run_link or None,
        aliases=list(v.aliases), model_id=v.model_id or None,
    )


def model_in(r: RegisteredModelOut) -> RegisteredModel:
    return RegisteredModel(
        name=r.name, creation_timestamp=r.creation_timestamp, last_updated_timestamp=r.last_updated_timestamp,
        description=r.description or None, latest_versions=[version_in(v) for v in r.latest_versions],
        tags={t.key: t.value for t in r.tags}, aliases={a.alias: int(a.version) for a in r.aliases},
    )
