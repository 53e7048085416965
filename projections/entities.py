"""What readers get back: frozen Structs with MLflow's nouns and field names.

``tracklog.entities`` re-exports these, so ``run.info.run_id``, ``run.data.metrics["acc"]`` and
``experiment.lifecycle_stage`` read as they do with MLflow.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

import msgspec

__all__ = [
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


class FileInfo(_Entity, frozen=True, kw_only=True):
    """One entry of an artifact listing, as MLflow's: `path` (relative, posix), `is_dir`, and
    `file_size` in bytes (None for a folder)."""

    path: str
    is_dir: bool
    file_size: int | None = None


T = TypeVar("T")


class MetricHistory(Sequence[Metric]):
    """Every point of one metric: a sequence of `Metric`, backed by an Arrow table.

    Indexing and iterating build the entities on demand, so a million-point history arrives
    in milliseconds; `arrow()` and `df()` hand over the columns without any per-point objects.
    """

    def __init__(self, table: Any, run_id: str, key: str) -> None:
        self._table = table  # columns: value, timestamp, step
        self.run_id = run_id
        self.key = key
        self._cache: list[Metric] | None = None

    def _items(self) -> list[Metric]:
        if self._cache is None:
            cols = [self._table.column(c).to_pylist() for c in ("value", "timestamp", "step")]
            self._cache = [Metric(key=self.key, value=v, timestamp=t, step=s, run_id=self.run_id) for v, t, s in zip(*cols, strict=True)]
        return self._cache

    def __len__(self) -> int:
        return self._table.num_rows

    @overload
    def __getitem__(self, index: int) -> Metric: ...
    @overload
    def __getitem__(self, index: slice) -> list[Metric]: ...
    def __getitem__(self, index: int | slice) -> Metric | list[Metric]:
        if isinstance(index, slice) or self._cache is not None:
            return self._items()[index]
        i = index + len(self) if index < 0 else index
        if not 0 <= i < len(self):
            raise IndexError(f"history index {index} out of range for {len(self)} points")
        row = self._table.slice(i, 1).to_pylist()[0]
        return Metric(key=self.key, value=row["value"], timestamp=row["timestamp"], step=row["step"], run_id=self.run_id)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._items())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"<MetricHistory {self.key!r} of run {self.run_id}: {len(self)} points>"

    def arrow(self) -> Any:
        return self._table

    def df(self) -> Any:
        return self._table.to_pandas()


class PagedList(list[T], Generic[T]):
    """A page of results; `token` fetches the next page (None on the last)."""

    def __init__(self, items: list[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token
