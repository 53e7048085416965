"""Fold: the read models built from the event log — one DuckDB catalog per store.

Imports `eventlog` only; never `query` or `tracklog`. The catalog (`projections.catalog`, which
loads DuckDB and pyarrow) is imported on first use by its callers; this package's own import
is light.
"""

from projections.entities import (
    STAGES,
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    FileInfo,
    InputTag,
    LifecycleStage,
    LoggedModel,
    Metric,
    MetricHistory,
    ModelVersion,
    PagedList,
    Param,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    ViewType,
)

DEFAULT_EXPERIMENT_ID = "0"

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "STAGES",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "ExperimentTag",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "LoggedModel",
    "Metric",
    "MetricHistory",
    "ModelVersion",
    "PagedList",
    "Param",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
    "ViewType",
]
