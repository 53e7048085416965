"""The server's one route table: (method, path, request Struct, handler, access rule, family).

Every endpoint the server answers is a row here — MLflow's REST API 2.0/3.0 and its ``ajax-api``
mirror, MLflow's auth endpoints, the artifact proxy, tracklog's own (SQL, live events, tokens,
the UI's reads) and liveness. A row's `family` says under which prefixes it is served
(`tracklog.server.routing`); the app (`tracklog.server.app`) turns the table into its lookups.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import PlainTextResponse

from tracklog._version import __version__
from tracklog.server import (
    artifacts,
    auth,
    events,
    graphql_api,
    logged_models,
    registry,
    segments,
    sql,
    tracking,
    ui_api,
    unsupported,
    web,
)
from tracklog.server import (
    traces as tr,
)
from tracklog.server.routing import ARTIFACTS, ROOT, TRACKLOG, Access, Call, Route
from tracklog.tracking import messages as m

__all__ = ["ROUTES"]


def server_info(call: Call, body: Any) -> dict[str, Any]:
    """What an MLflow 3 client asks before multipart transfers: this server does none."""
    return {"store_type": "TracklogStore", "workspaces_enabled": False, "trace_archival_enabled": False,
            "multipart_uploads_enabled": False, "multipart_downloads_enabled": False,
            "presigned_upload_run_id_supported": False, "presigned_upload_model_id_supported": False}


async def health(call: Call, body: Any) -> PlainTextResponse:
    return PlainTextResponse("OK")


# The MLflow REST API level this server answers (MLflow's tests/tracking/test_rest_tracking.py of
# that release is run against it: benchmarks/mlflow_rest_suite.py). MLflow's client parses
# /version with `packaging` and gates features on it (spans need >= 3.4); the local label says
# which server this is.
MLFLOW_API_LEVEL = "3.11.0"


async def version(call: Call, body: Any) -> PlainTextResponse:
    """``3.11.0+tracklog.0.1.0``: MLflow's client reads the API level, a person reads tracklog's version."""
    return PlainTextResponse(f"{MLFLOW_API_LEVEL}+tracklog.{__version__}")


def _rules() -> dict[str, Any]:
    def exp(level: str, field: str = "experiment_id") -> Access:
        return Access("experiment", level, field)

    def run(level: str) -> Access:
        return Access("run", level)

    def model(level: str) -> Access:
        return Access("model", level, "name")

    def logged(level: str) -> Access:
        return Access("logged_model", level, "model_id")

    return {"exp": exp, "run": run, "model": model, "logged": logged}


_r = _rules()
exp, run, model, logged = _r["exp"], _r["run"], _r["model"], _r["logged"]
read_exp, edit_exp = exp("READ"), exp("EDIT")
any_user, create, handler_checks = Access("any"), Access("create"), Access("handler")
t, rg, lm, ui = tracking, registry, logged_models, ui_api

ROUTES: list[Route] = [
    # ---- MLflow: experiments and runs
    Route("POST", "experiments/create", m.CreateExperiment, t.create_experiment, create),
    Route("GET", "experiments/get", m.ExperimentId, t.get_experiment, read_exp),
    Route("GET", "experiments/get-by-name", m.GetExperimentByName, t.get_experiment_by_name, handler_checks),
    Route("POST", "experiments/search", m.SearchExperiments, t.search_experiments_, any_user),
    Route("GET", "experiments/search", m.SearchExperiments, t.search_experiments_, any_user),
    Route("POST", "experiments/delete", m.ExperimentId, t.delete_experiment, exp("MANAGE")),
    Route("POST", "experiments/restore", m.ExperimentId, t.restore_experiment, exp("MANAGE")),
    Route("POST", "experiments/update", m.UpdateExperiment, t.update_experiment, edit_exp),
    Route("POST", "experiments/set-experiment-tag", m.SetExperimentTag, t.set_experiment_tag, edit_exp),
    Route("POST", "experiments/delete-experiment-tag", m.DeleteExperimentTag, t.delete_experiment_tag, edit_exp),
    Route("POST", "runs/create", m.CreateRun, t.create_run, edit_exp),
    Route("GET", "runs/get", m.RunRef, t.get_run, run("READ")),
    Route("POST", "runs/update", m.UpdateRun, t.update_run, run("EDIT")),
    Route("POST", "runs/delete", m.RunRef, t.delete_run, run("MANAGE")),
    Route("POST", "runs/restore", m.RunRef, t.restore_run, run("MANAGE")),
    Route("POST", "runs/log-metric", m.LogMetric, t.log_metric, run("EDIT")),
    Route("POST", "runs/log-parameter", m.LogParam, t.log_param, run("EDIT")),
    Route("POST", "runs/set-tag", m.SetTag, t.set_tag, run("EDIT")),
    Route("POST", "runs/delete-tag", m.DeleteTag, t.delete_tag, run("EDIT")),
    Route("POST", "runs/log-batch", m.LogBatch, t.log_batch, run("EDIT")),
    Route("POST", "runs/log-inputs", m.LogInputs, t.log_inputs, run("EDIT")),
    Route("POST", "runs/outputs", m.LogOutputs, t.log_outputs, run("EDIT")),
    Route("POST", "runs/search", m.SearchRuns, t.search_runs_, any_user),
    Route("GET", "metrics/get-history", m.GetMetricHistory, t.get_metric_history, run("READ")),
    Route("GET", "metrics/get-history-bulk", m.GetMetricHistoryBulk, t.get_metric_history_bulk, handler_checks),
    Route("GET", "metrics/get-history-bulk-interval", m.GetMetricHistoryBulkInterval,
          t.get_metric_history_bulk_interval, handler_checks),
    Route("GET", "artifacts/list", m.ListArtifacts, t.list_artifacts, run("READ")),
    # ---- MLflow 3: logged models
    Route("POST", "logged-models", m.CreateLoggedModel, lm.create, edit_exp),
    Route("POST", "logged-models/search", m.SearchLoggedModels, lm.search, any_user),
    Route("GET", "logged-models/{model_id}", m.Body, lm.get, logged("READ")),
    Route("PATCH", "logged-models/{model_id}", m.FinalizeLoggedModel, lm.finalize, logged("EDIT")),
    Route("DELETE", "logged-models/{model_id}", m.Body, lm.delete, logged("MANAGE")),
    Route("PATCH", "logged-models/{model_id}/tags", m.SetLoggedModelTags, lm.set_tags, logged("EDIT")),
    Route("DELETE", "logged-models/{model_id}/tags/{tag_key}", m.Body, lm.delete_tag, logged("EDIT")),
    Route("POST", "logged-models/{model_id}/params", m.LogLoggedModelParams, lm.log_params, logged("EDIT")),
    Route("GET", "logged-models/{model_id}/artifacts/directories", m.ListLoggedModelArtifacts, lm.list_artifacts,
          logged("READ")),
    Route("GET", "logged-models/{model_id}/artifacts/files", m.LoggedModelFile, artifacts.logged_model_file,
          logged("READ")),
    # ---- MLflow: the model registry
    Route("POST", "registered-models/create", m.CreateRegisteredModel, rg.create_registered_model, create),
    Route("POST", "registered-models/rename", m.RenameRegisteredModel, rg.rename_registered_model, model("EDIT")),
    Route("PATCH", "registered-models/update", m.UpdateRegisteredModel, rg.update_registered_model, model("EDIT")),
    Route("DELETE", "registered-models/delete", m.NameRef, rg.delete_registered_model, model("MANAGE")),
    Route("GET", "registered-models/get", m.NameRef, rg.get_registered_model, model("READ")),
    Route("GET", "registered-models/search", m.SearchRegisteredModels, rg.search_registered_models, any_user),
    Route("POST", "registered-models/get-latest-versions", m.GetLatestVersions, rg.get_latest_versions, model("READ")),
    Route("GET", "registered-models/get-latest-versions", m.GetLatestVersions, rg.get_latest_versions, model("READ")),
    Route("POST", "registered-models/set-tag", m.SetRegisteredModelTag, rg.set_registered_model_tag, model("EDIT")),
    Route("DELETE", "registered-models/delete-tag", m.DeleteRegisteredModelTag, rg.delete_registered_model_tag,
          model("EDIT")),
    Route("POST", "registered-models/alias", m.SetRegisteredModelAlias, rg.set_registered_model_alias, model("EDIT")),
    Route("DELETE", "registered-models/alias", m.AliasRef, rg.delete_registered_model_alias, model("EDIT")),
    Route("GET", "registered-models/alias", m.AliasRef, rg.get_model_version_by_alias, model("READ")),
    Route("POST", "model-versions/create", m.CreateModelVersion, rg.create_model_version, model("EDIT")),
    Route("PATCH", "model-versions/update", m.UpdateModelVersion, rg.update_model_version, model("EDIT")),
    Route("POST", "model-versions/transition-stage", m.TransitionModelVersionStage, rg.transition_model_version_stage,
          model("EDIT")),
    Route("DELETE", "model-versions/delete", m.VersionRef, rg.delete_model_version, model("MANAGE")),
    Route("GET", "model-versions/get", m.VersionRef, rg.get_model_version, model("READ")),
    Route("GET", "model-versions/search", m.SearchModelVersions, rg.search_model_versions, any_user),
    Route("GET", "model-versions/get-download-uri", m.VersionRef, rg.get_model_version_download_uri, model("READ")),
    Route("POST", "model-versions/set-tag", m.SetModelVersionTag, rg.set_model_version_tag, model("EDIT")),
    Route("DELETE", "model-versions/delete-tag", m.DeleteModelVersionTag, rg.delete_model_version_tag, model("EDIT")),
    Route("GET", "server-info", None, server_info, any_user),
    # ---- MLflow: users and permissions (each handler checks access itself)
    *auth.ROUTES,
    # ---- the artifact proxy
    Route("GET", "artifacts", m.ProxyList, artifacts.list_files, handler_checks, ARTIFACTS),
    Route("GET", "artifacts/{path:path}", None, artifacts.download, handler_checks, ARTIFACTS),
    Route("PUT", "artifacts/{path:path}", None, artifacts.upload_stream, handler_checks, ARTIFACTS),
    Route("DELETE", "artifacts/{path:path}", None, artifacts.delete, handler_checks, ARTIFACTS),
    Route("GET", "get-artifact", m.RunFile, artifacts.run_file, handler_checks, ROOT),
    # ---- tracklog's own
    Route("POST", "sql", m.SqlQuery, sql.sql, handler_checks, TRACKLOG),
    Route("GET", "sql", m.SqlQuery, sql.sql, handler_checks, TRACKLOG),
    Route("GET", "events", None, events.events, handler_checks, TRACKLOG),
    Route("POST", "runs/heartbeats", m.SendHeartbeats, t.send_heartbeats, handler_checks, TRACKLOG),
    Route("PUT", "segments/{path:path}", None, segments.put_segment, handler_checks, TRACKLOG),
    Route("GET", "segments-namespace", None, segments.namespace, any_user, TRACKLOG),
    Route("POST", "tokens/create", auth.TokenBody, auth.create_token, handler_checks, TRACKLOG),
    Route("GET", "tokens/list", None, auth.list_tokens, handler_checks, TRACKLOG),
    Route("DELETE", "tokens/delete", auth.TokenBody, auth.delete_token, handler_checks, TRACKLOG),
    Route("POST", "metrics/downsample", ui.DownsampleRequest, ui.ui_downsample, handler_checks, TRACKLOG),
    Route("POST", "runs/table", ui.RunsTableRequest, ui.ui_runs_table, handler_checks, TRACKLOG),
    Route("POST", "runs/groups", ui.RunsGroupsRequest, ui.ui_runs_groups, handler_checks, TRACKLOG),
    Route("POST", "runs/keys", ui.RunsKeysRequest, ui.ui_runs_keys, handler_checks, TRACKLOG),
    Route("GET", "runs/get", ui.RunRef, ui.ui_run, handler_checks, TRACKLOG),
    Route("GET", "experiments/list", ui.ExperimentsRef, ui.ui_experiments, handler_checks, TRACKLOG),
    Route("GET", "registry/models", ui._Body, ui.ui_registry_models, handler_checks, TRACKLOG),
    Route("GET", "registry/model", ui.ModelRef, ui.ui_registry_model, handler_checks, TRACKLOG),
    # ---- MLflow's web UI endpoints
    Route("POST", "graphql", graphql_api.GraphqlRequest, graphql_api.graphql, any_user, ROOT),
    Route("GET", "graphql", graphql_api.GraphqlRequest, graphql_api.graphql, any_user, ROOT),
    Route("POST", "experiments/search-datasets", web.SearchDatasets, web.search_datasets, handler_checks),
    Route("POST", "upload-artifact", None, web.upload_artifact, handler_checks),
    Route("GET", "model-versions/get-artifact", web.VersionFile, web.model_version_file, model("READ"), ROOT),
    # ---- MLflow's GenAI features tracklog lacks: 501 NOT_IMPLEMENTED
    *unsupported.ROUTES,
    # ---- liveness
    Route("GET", "health", None, health, None, ROOT),
    Route("GET", "version", None, version, None, ROOT),
    # ---- MLflow 3: traces (each handler checks access on the trace's experiment)
    Route("POST", "traces", tr.StartTraceV3, tr.start_trace, handler_checks),
    Route("POST", "traces/link-to-run", tr.LinkTracesToRun, tr.link_to_run, handler_checks),
    Route("POST", "traces/metrics", tr.QueryTraceMetrics, tr.trace_metrics, handler_checks),
    Route("POST", "traces/calculate-filter-correlation", tr.FilterCorrelation, tr.correlation, handler_checks),
    Route("GET", "get-trace-artifact", tr.TraceArtifactRef, tr.trace_artifact, handler_checks),
    Route("PATCH", "traces/{trace_id}", tr.EndTraceV2, tr.end_trace_v2, handler_checks),
    Route("GET", "traces/get", tr.TraceRef, tr.get_trace, handler_checks),
    Route("GET", "traces/batchGet", tr.TraceIds, tr.batch_get, handler_checks),
    Route("POST", "traces/batchGetInfos", tr.TraceIds, tr.batch_get_infos, handler_checks),
    Route("POST", "traces/search", tr.SearchTracesV3, tr.search, handler_checks),
    Route("POST", "traces/delete-traces", tr.DeleteTraces, tr.delete_traces, handler_checks),
    Route("GET", "traces/{trace_id}", tr.Nothing, tr.get_trace_info, handler_checks),
    Route("PATCH", "traces/{trace_id}/tags", tr.SetTraceTag, tr.set_tag, handler_checks),
    Route("DELETE", "traces/{trace_id}/tags", tr.DeleteTraceTag, tr.delete_tag, handler_checks),
    Route("POST", "traces/{trace_id}/assessments", tr.AssessmentBody, tr.create_assessment, handler_checks),
    Route("GET", "traces/{trace_id}/assessments/{assessment_id}", tr.Nothing, tr.get_assessment, handler_checks),
    Route("PATCH", "traces/{trace_id}/assessments/{assessment_id}", tr.AssessmentBody, tr.update_assessment,
          handler_checks),
    Route("DELETE", "traces/{trace_id}/assessments/{assessment_id}", tr.Nothing, tr.delete_assessment, handler_checks),
    # ---- OpenTelemetry: OTLP/HTTP spans (protobuf or JSON)
    Route("POST", "v1/traces", None, tr.otlp, handler_checks, ROOT),
]
