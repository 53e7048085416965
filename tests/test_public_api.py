"""The public surface of each package is curated and pinned; the fluent API matches MLflow's names."""

from __future__ import annotations

import inspect

import pytest

import eventlog
import projections
import tracklog
import tracklog.artifacts
import tracklog.tracking

PINNED = {
    tracklog: {
        "ActiveRun", "Client", "Dataset", "Experiment", "ExperimentAlreadyExistsError",
        "ExperimentNotFoundError", "InvalidInputError", "LifecycleStage", "Metric", "MlflowClient",
        "NotFoundError", "Param", "ParamChangedError", "Run", "RunNotActiveError", "RunNotFoundError",
        "RunStatus", "RunTag", "TracklogError", "ViewType", "active_run", "create_experiment",
        "delete_experiment", "delete_run", "delete_tag", "end_run", "flush", "get_experiment",
        "get_experiment_by_name", "get_parent_run", "get_run", "get_tracking_uri", "last_active_run",
        "log_input", "log_metric", "log_metrics", "log_param", "log_params", "restore_experiment",
        "restore_run", "search_experiments", "set_experiment", "set_experiment_tag",
        "set_experiment_tags", "set_tag", "set_tags", "set_tracking_uri", "start_run",
        "connect", "search_runs", "sql", "register_model",
        "get_artifact_root", "get_artifact_uri", "load_table", "log_artifact", "log_artifacts", "log_dict",
        "log_figure", "log_image", "log_table", "log_text", "set_artifact_root", "__version__",
        # MLflow 3's logged models, autologging and system metrics (issue 14)
        "autolog", "create_external_model", "create_logged_model", "finalize_logged_model", "get_logged_model",
        "initialize_logged_model", "last_logged_model", "log_model_params", "search_logged_models",
        "enable_system_metrics_logging", "disable_system_metrics_logging",
        "set_system_metrics_samples_before_logging", "set_system_metrics_sampling_interval",
        # MLflow 3 tracing (issue 18)
        "get_current_active_span", "get_last_active_trace_id", "get_trace", "log_expectation", "log_feedback",
        "search_traces", "start_span", "trace", "update_current_trace",
        "dataset",  # issue 15: the live Parquet files for other engines
    },
    projections: {
        "DEFAULT_EXPERIMENT_ID", "Dataset", "DatasetInput", "Experiment", "ExperimentTag", "FileInfo", "InputTag",
        "LifecycleStage", "LoggedModel", "Metric", "MetricHistory", "ModelVersion", "PagedList", "Param",
        "RegisteredModel", "Run", "RunData", "RunInfo", "RunInputs", "RunOutputs", "RunStatus", "RunTag", "STAGES",
        "ViewType",
    },
    tracklog.tracking: {"Client", "LocalStore", "RestStore", "TrackingStore", "store_for"},
    tracklog.artifacts: {
        "CHUNK_SIZE", "MODELS_URI_RESOLVERS", "RUNS_URI_RESOLVERS", "split_models_uri", "check_no_links", "download", "download_artifacts", "list_artifacts",
        "list_uri", "load_dict", "load_image", "load_text", "resolve_artifact_uri", "upload",
        "validate_artifact_path", "join_path", "join_uri", "run_artifact_path", "run_download",
    },
}


@pytest.mark.parametrize("module", list(PINNED), ids=lambda m: m.__name__)
def test_all_is_pinned_and_importable(module) -> None:
    assert set(module.__all__) == PINNED[module]
    for name in module.__all__:
        assert hasattr(module, name), name


def test_eventlog_exports_every_event_and_error() -> None:
    from eventlog import errors, events

    assert set(events.event_kinds()) <= set(eventlog.__all__)
    assert set(errors.__all__) <= set(eventlog.__all__)


def test_layers_import_only_downwards() -> None:
    """eventlog imports nothing of ours; projections never imports query or tracklog."""
    import pathlib
    import re

    root = pathlib.Path(__file__).parent.parent
    forbidden = {"eventlog": ("projections", "query", "tracklog"), "projections": ("query", "tracklog"), "query": ("tracklog",)}
    for package, banned in forbidden.items():
        for path in (root / package).rglob("*.py"):
            for match in re.finditer(r"^\s*(?:from|import)\s+(\w+)", path.read_text(), re.M):
                assert match.group(1) not in banned, f"{path} imports {match.group(1)}"


FLUENT = [
    "set_tracking_uri", "get_tracking_uri", "create_experiment", "set_experiment", "get_experiment",
    "get_experiment_by_name", "delete_experiment", "search_experiments", "start_run", "end_run",
    "active_run", "last_active_run", "log_param", "log_params", "log_metric", "log_metrics", "set_tag",
    "set_tags", "delete_tag", "get_run", "delete_run", "log_input", "get_parent_run",
    "set_experiment_tag", "set_experiment_tags", "search_runs",
    "log_artifact", "log_artifacts", "log_text", "log_dict", "log_figure", "log_image", "log_table",
    "load_table", "get_artifact_uri",
]
CLIENT = [
    "create_experiment", "get_experiment", "get_experiment_by_name", "rename_experiment",
    "delete_experiment", "restore_experiment", "set_experiment_tag", "delete_experiment_tag",
    "search_experiments", "create_run", "get_run", "update_run", "set_terminated", "delete_run",
    "restore_run", "log_metric", "log_param", "set_tag", "delete_tag", "log_batch", "log_inputs",
    "get_metric_history", "search_runs",
    "log_artifact", "log_artifacts", "log_text", "log_dict", "log_figure", "log_image", "log_table",
    "load_table", "list_artifacts", "download_artifacts",
]
ARTIFACTS = ["download_artifacts", "list_artifacts", "load_text", "load_dict", "load_image"]


def _params(fn) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD]


@pytest.mark.parametrize("name", FLUENT)
def test_fluent_signatures_match_mlflow(name: str) -> None:
    """Every parameter MLflow's function takes, ours takes, in the same position."""
    mlflow = pytest.importorskip("mlflow")
    theirs, ours = _params(getattr(mlflow, name)), _params(getattr(tracklog, name))
    assert ours[: len(theirs)] == theirs or set(theirs) <= set(ours), f"mlflow.{name}{theirs} vs tracklog.{name}{ours}"


@pytest.mark.parametrize("name", CLIENT)
def test_client_signatures_match_mlflow(name: str) -> None:
    mlflow = pytest.importorskip("mlflow")
    theirs = _params(getattr(mlflow.MlflowClient, name))
    ours = _params(getattr(tracklog.Client, name))
    assert set(theirs) <= set(ours), f"MlflowClient.{name}{theirs} vs Client.{name}{ours}"


@pytest.mark.parametrize("name", ARTIFACTS)
def test_artifacts_module_signatures_match_mlflow(name: str) -> None:
    """``tracklog.artifacts`` takes what ``mlflow.artifacts`` takes, in the same order."""
    mlflow = pytest.importorskip("mlflow")
    theirs, ours = _params(getattr(mlflow.artifacts, name)), _params(getattr(tracklog.artifacts, name))
    assert ours[: len(theirs)] == theirs, f"mlflow.artifacts.{name}{theirs} vs tracklog.artifacts.{name}{ours}"
