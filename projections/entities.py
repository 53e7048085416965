"""What readers get back: frozen Structs with MLflow's nouns and field names.

``tracklog.entities`` re-exports these, so ``run.info.run_id``, ``run.data.metrics["acc"]`` and
``experiment.lifecycle_stage`` read as they do with MLflow.
"""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

import msgspec

__all__ = [
    "Dataset",
    "DatasetInput",
    "Experiment",
    "ExperimentTag",
    "InputTag",
    "LifecycleStage",
    "Metric",
    "PagedList",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunStatus",
    "RunTag",
    "ViewType",
]


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def is_terminated(cls, status: str) -> bool:
        return status in (cls.FINISHED, cls.FAILED, cls.KILLED)


class LifecycleStage(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(enum.IntEnum):
    """Which entities a search returns; MLflow's numbering."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    def admits(self, stage: str) -> bool:
        return self is ViewType.ALL or (stage == LifecycleStage.ACTIVE) == (self is ViewType.ACTIVE_ONLY)


class _Entity(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Metric(_Entity, frozen=True, kw_only=True):
    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None


class Param(_Entity, frozen=True, kw_only=True):
    key: str
    value: str


class RunTag(_Entity, frozen=True, kw_only=True):
    key: str
    value: str


class ExperimentTag(_Entity, frozen=True, kw_only=True):
    key: str
    value: str


class InputTag(_Entity, frozen=True, kw_only=True):
    key: str
    value: str


class Dataset(_Entity, frozen=True, kw_only=True):
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str | None = None
    profile: str | None = None


class DatasetInput(_Entity, frozen=True, kw_only=True):
    dataset: Dataset
    tags: list[InputTag] = []


class RunInputs(_Entity, frozen=True, kw_only=True):
    dataset_inputs: list[DatasetInput] = []


class RunInfo(_Entity, frozen=True, kw_only=True):
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: RunStatus
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: LifecycleStage

    @property
    def run_uuid(self) -> str:
        """MLflow's deprecated alias of `run_id`."""
        return self.run_id


class RunData(_Entity, frozen=True, kw_only=True):
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    tags: dict[str, str] = {}


class Run(_Entity, frozen=True, kw_only=True):
    info: RunInfo
    data: RunData
    inputs: RunInputs = RunInputs()


class Experiment(_Entity, frozen=True, kw_only=True):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: LifecycleStage
    tags: dict[str, str] = {}
    creation_time: int | None = None
    last_update_time: int | None = None


T = TypeVar("T")


class PagedList(list[T], Generic[T]):
    """A page of results; `token` fetches the next page (None on the last)."""

    def __init__(self, items: list[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token
