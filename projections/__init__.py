"""Fold: read models built from the event log.

Imports `eventlog` only; never `query` or `tracklog`.
"""

from projections.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    FileInfo,
    InputTag,
    LifecycleStage,
    Metric,
    MetricHistory,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)
from projections.tracking import DEFAULT_EXPERIMENT_ID, TrackingState, TrackingView

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "ExperimentTag",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "Metric",
    "MetricHistory",
    "PagedList",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunStatus",
    "RunTag",
    "TrackingState",
    "TrackingView",
    "ViewType",
]
