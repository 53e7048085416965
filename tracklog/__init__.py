"""tracklog: ML experiment tracking on an event log — MLflow's API, Parquet + DuckDB underneath.

>>> import tempfile, tracklog
>>> tracklog.set_tracking_uri(tempfile.mkdtemp())
>>> with tracklog.start_run() as run:
...     tracklog.log_metric("loss", 0.25, step=3)
>>> tracklog.get_run(run.info.run_id).data.metrics
{'loss': 0.25}
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tracklog._version import __version__

if TYPE_CHECKING:  # the same names, loaded on first use at run time (see __getattr__)
    from eventlog.errors import (
        ExperimentAlreadyExistsError,
        ExperimentNotFoundError,
        InvalidInputError,
        NotFoundError,
        ParamChangedError,
        RunNotActiveError,
        RunNotFoundError,
        TracklogError,
    )
    from projections.entities import (
        Dataset,
        Experiment,
        LifecycleStage,
        Metric,
        Param,
        Run,
        RunStatus,
        RunTag,
        ViewType,
    )
    from tracklog._config import (
        get_artifact_root,
        get_tracking_uri,
        set_artifact_root,
        set_tracking_uri,
    )
    from tracklog._version import __version__
    from tracklog.integrations.autolog import autolog
    from tracklog.integrations.system_metrics import (
        disable_system_metrics_logging,
        enable_system_metrics_logging,
        set_system_metrics_samples_before_logging,
        set_system_metrics_sampling_interval,
    )
    from tracklog.tracing import (
        get_current_active_span,
        get_last_active_trace_id,
        get_trace,
        log_expectation,
        log_feedback,
        search_traces,
        start_span,
        trace,
        update_current_trace,
    )
    from tracklog.tracking.client import Client
    from tracklog.tracking.fluent import (
        ActiveRun,
        active_run,
        connect,
        create_experiment,
        create_external_model,
        create_logged_model,
        delete_experiment,
        delete_run,
        delete_tag,
        end_run,
        finalize_logged_model,
        flush,
        get_artifact_uri,
        get_experiment,
        get_experiment_by_name,
        get_logged_model,
        get_parent_run,
        get_run,
        initialize_logged_model,
        last_active_run,
        last_logged_model,
        load_table,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_image,
        log_input,
        log_metric,
        log_metrics,
        log_model_params,
        log_param,
        log_params,
        log_table,
        log_text,
        register_model,
        restore_experiment,
        restore_run,
        search_experiments,
        search_logged_models,
        search_runs,
        set_experiment,
        set_experiment_tag,
        set_experiment_tags,
        set_tag,
        set_tags,
        sql,
        start_run,
    )
    from tracklog.transfer.files import dataset

    MlflowClient = Client

__all__ = [
    "ActiveRun",
    "Client",
    "Dataset",
    "Experiment",
    "ExperimentAlreadyExistsError",
    "ExperimentNotFoundError",
    "InvalidInputError",
    "LifecycleStage",
    "Metric",
    "MlflowClient",
    "NotFoundError",
    "Param",
    "ParamChangedError",
    "Run",
    "RunNotActiveError",
    "RunNotFoundError",
    "RunStatus",
    "RunTag",
    "TracklogError",
    "ViewType",
    "__version__",
    "active_run",
    "autolog",
    "connect",
    "create_experiment",
    "create_external_model",
    "create_logged_model",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "end_run",
    "finalize_logged_model",
    "flush",
    "get_artifact_root",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_logged_model",
    "get_parent_run",
    "get_run",
    "get_tracking_uri",
    "initialize_logged_model",
    "last_active_run",
    "last_logged_model",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model_params",
    "log_param",
    "log_params",
    "register_model",
    "log_table",
    "log_text",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "search_logged_models",
    "search_runs",
    "set_artifact_root",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "sql",
    "start_run",
    # tracing (MLflow 3)
    "get_current_active_span",
    "get_last_active_trace_id",
    "get_trace",
    "log_expectation",
    "log_feedback",
    "search_traces",
    "start_span",
    "trace",
    "update_current_trace",
    "dataset",  # the live Parquet files, for other engines (issue 15)
]


# Where each public name lives. `import tracklog` loads none of these (msgspec, the store, pandas,
# DuckDB, Arrow): a script that only asks `tracklog.__version__`, a CLI that prints its help, a
# library that imports tracklog to offer an optional callback, pay for what they use.
_LAZY: dict[str, tuple[str, ...]] = {
    "eventlog.errors": (
        "ExperimentAlreadyExistsError", "ExperimentNotFoundError", "InvalidInputError", "NotFoundError",
        "ParamChangedError", "RunNotActiveError", "RunNotFoundError", "TracklogError",
    ),
    "projections.entities": (
        "Dataset", "Experiment", "LifecycleStage", "Metric", "Param", "Run", "RunStatus", "RunTag", "ViewType",
    ),
    "tracklog._config": (
        "get_artifact_root", "get_tracking_uri", "set_artifact_root", "set_tracking_uri",
    ),
    "tracklog.integrations.autolog": (
        "autolog",
    ),
    "tracklog.integrations.system_metrics": (
        "disable_system_metrics_logging", "enable_system_metrics_logging",
        "set_system_metrics_samples_before_logging", "set_system_metrics_sampling_interval",
    ),
    "tracklog.tracing": (
        "get_current_active_span", "get_last_active_trace_id", "get_trace", "log_expectation", "log_feedback",
        "search_traces", "start_span", "trace", "update_current_trace",
    ),
    "tracklog.transfer.files": (
        "dataset",
    ),
    "tracklog.tracking.client": (
        "Client",
    ),
    "tracklog.tracking.fluent": (
        "ActiveRun", "active_run", "connect", "create_experiment", "create_external_model",
        "create_logged_model", "delete_experiment", "delete_run", "delete_tag", "end_run",
        "finalize_logged_model", "flush", "get_artifact_uri", "get_experiment", "get_experiment_by_name",
        "get_logged_model", "get_parent_run", "get_run", "initialize_logged_model", "last_active_run",
        "last_logged_model", "load_table", "log_artifact", "log_artifacts", "log_dict", "log_figure",
        "log_image", "log_input", "log_metric", "log_metrics", "log_model_params", "log_param", "log_params",
        "log_table", "log_text", "register_model", "restore_experiment", "restore_run", "search_experiments",
        "search_logged_models", "search_runs", "set_experiment", "set_experiment_tag", "set_experiment_tags",
        "set_tag", "set_tags", "sql", "start_run",
    ),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}
_HOME["MlflowClient"] = "tracklog.tracking.client"  # so `from tracklog import MlflowClient` reads like MLflow

_SUBMODULES = ("artifacts", "integrations", "lightgbm", "models", "projects", "pyfunc", "registry", "server", "sklearn",
               "tracing", "tracking", "transfer", "xgboost")


def __getattr__(name: str) -> object:
    """A public name or a submodule (``tracklog.pyfunc``, ``tracklog.sklearn``…), loaded on first use
    as ``mlflow.<flavor>`` is, then kept in the module's namespace so the next access is plain."""
    if name in _SUBMODULES:
        return importlib.import_module(f"tracklog.{name}")
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'tracklog' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), "Client" if name == "MlflowClient" else name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
