"""What readers get back: frozen msgspec Structs with MLflow's nouns and field names.

These Structs are also MLflow's REST wire format: ``msgspec.json.encode(run)`` (with
`encode_hook` for non-finite doubles) is the ``run`` object MLflow's server answers, and
``msgspec.json.decode(body, type=Run, strict=False)`` reads one back. Where MLflow's Python
entities differ from its JSON — ``run.data.metrics`` is a dict in Python, a list of
``{key, value, timestamp, step}`` on the wire — the Struct holds the wire's list under another
attribute name (``metric_list`` is encoded as ``metrics``) and the Python view is a cached
property. So a run is built once (`projections.read.run_entities`, from the catalog) and every
surface — the Python API, the REST server, the REST client — hands the same Struct on.

``tracklog.entities`` re-exports these, so ``run.info.run_id``, ``run.data.metrics["acc"]`` and
``experiment.lifecycle_stage`` read as they do with MLflow.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Sequence
from functools import cached_property
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
    "LoggedModel",
    "LoggedModelData",
    "LoggedModelInfo",
    "LoggedModelParameter",
    "LoggedModelTag",
    "Metric",
    "MetricHistory",
    "ModelVersion",
    "ModelInput",
    "ModelOutput",
    "NonFinite",
    "PagedList",
    "RegisteredModel",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
    "STAGES",
    "ViewType",
    "encode_hook",
    "wire_float",
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


class NonFinite(float):
    """A NaN or ±inf double: JSON has none, so the wire writes ``"NaN"``/``"Infinity"`` (protobuf's
    JSON spelling) through `encode_hook`. It is a float for every other purpose."""

    __slots__ = ()


def wire_float(value: float) -> float:
    """`value`, marked for the wire if it is not finite (finite values pass through as they are)."""
    return value if math.isfinite(value) else NonFinite(value)


def encode_hook(value: Any) -> Any:
    """msgspec's ``enc_hook`` for the entities: non-finite doubles as protobuf's JSON writes them."""
    if isinstance(value, float):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, enum.Enum):
        return value.value
    raise NotImplementedError(f"cannot encode {type(value).__name__} as JSON")


class _Entity(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, dict=True):
    """Frozen; fields at their default are left out of the JSON, as protobuf leaves unset ones;
    ``dict=True`` lets the Python views (`functools.cached_property`) be computed once."""


class Metric(_Entity, frozen=True, kw_only=False):
    """One metric point: ``Metric(key, value, timestamp, step)`` as MLflow's."""

    key: str
    value: float
    timestamp: int
    step: int  # required, so always on the wire (MLflow's JSON has ``"step": 0``)
    run_id: str | None = None
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class Param(_Entity, frozen=True, kw_only=False):
    key: str
    value: str


class RunTag(_Entity, frozen=True, kw_only=False):
    key: str
    value: str


class ExperimentTag(_Entity, frozen=True, kw_only=False):
    key: str
    value: str


class InputTag(_Entity, frozen=True, kw_only=False):
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

    @property
    def context(self) -> str | None:
        """The ``mlflow.data.context`` tag (training, evaluation…), if any."""
        return next((t.value for t in self.tags if t.key == "mlflow.data.context"), None)


class ModelInput(_Entity, frozen=True, kw_only=True):
    model_id: str


class ModelOutput(_Entity, frozen=True, kw_only=True):
    model_id: str
    step: int = 0


class RunInputs(_Entity, frozen=True, kw_only=True):
    dataset_inputs: list[DatasetInput] = []
    model_inputs: list[ModelInput] = []


class RunOutputs(_Entity, frozen=True, kw_only=True):
    model_outputs: list[ModelOutput] = []


class RunInfo(_Entity, frozen=True, kw_only=True):
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    artifact_uri: str
    lifecycle_stage: LifecycleStage
    run_uuid: str | None = None  # MLflow's deprecated alias, sent on the wire for old clients

    def __post_init__(self) -> None:
        if self.run_uuid is None:
            msgspec.structs.force_setattr(self, "run_uuid", self.run_id)


class RunData(_Entity, frozen=True, kw_only=True):
    """A run's latest metrics, params and tags: lists on the wire, dicts in Python (MLflow's)."""

    metric_list: list[Metric] = msgspec.field(default_factory=list, name="metrics")
    param_list: list[Param] = msgspec.field(default_factory=list, name="params")
    tag_list: list[RunTag] = msgspec.field(default_factory=list, name="tags")

    @cached_property
    def metrics(self) -> dict[str, float]:
        return {m.key: m.value for m in self.metric_list}

    @cached_property
    def params(self) -> dict[str, str]:
        return {p.key: p.value for p in self.param_list}

    @cached_property
    def tags(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tag_list}

    @classmethod
    def of(cls, metrics: dict[str, float] | None = None, params: dict[str, str] | None = None,
           tags: dict[str, str] | None = None) -> RunData:
        """RunData from plain dicts (metric timestamps and steps 0)."""
        return cls(metric_list=[Metric(k, wire_float(v), 0, 0) for k, v in (metrics or {}).items()],
                   param_list=[Param(k, v) for k, v in (params or {}).items()],
                   tag_list=[RunTag(k, v) for k, v in (tags or {}).items()])


class Run(_Entity, frozen=True, kw_only=True):
    info: RunInfo
    data: RunData = msgspec.field(default_factory=RunData)
    inputs: RunInputs = msgspec.field(default_factory=RunInputs)
    outputs: RunOutputs = msgspec.field(default_factory=RunOutputs)


class Experiment(_Entity, frozen=True, kw_only=True):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: LifecycleStage
    tag_list: list[ExperimentTag] = msgspec.field(default_factory=list, name="tags")
    creation_time: int | None = None
    last_update_time: int | None = None

    @cached_property
    def tags(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tag_list}


STAGES = ("None", "Staging", "Production", "Archived")


class ModelVersion(_Entity, frozen=True, kw_only=True):
    """MLflow's ``ModelVersion`` (``version`` is an int, as MLflow's local stores return it)."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str = "None"
    source: str | None = None
    run_id: str | None = None
    status: str = "READY"
    status_message: str | None = None
    tags: dict[str, str] = {}
    run_link: str | None = None
    aliases: list[str] = []
    model_id: str | None = None


class RegisteredModel(_Entity, frozen=True, kw_only=True):
    name: str
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: list[ModelVersion] = []
    tags: dict[str, str] = {}
    aliases: dict[str, int] = {}


class LoggedModelTag(_Entity, frozen=True, kw_only=False):
    key: str
    value: str


class LoggedModelParameter(_Entity, frozen=True, kw_only=False):
    key: str
    value: str


class LoggedModelInfo(_Entity, frozen=True, kw_only=True):
    """The ``info`` half of MLflow 3's logged model on the wire (``status`` as
    ``LOGGED_MODEL_READY``…)."""

    model_id: str
    experiment_id: str
    name: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    artifact_uri: str
    status: str
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tag_list: list[LoggedModelTag] = msgspec.field(default_factory=list, name="tags")


class LoggedModelData(_Entity, frozen=True, kw_only=True):
    param_list: list[LoggedModelParameter] = msgspec.field(default_factory=list, name="params")
    metric_list: list[Metric] = msgspec.field(default_factory=list, name="metrics")


class LoggedModel(_Entity, frozen=True, kw_only=True):
    """MLflow 3's ``LoggedModel``: ``{info, data}`` on the wire, MLflow's flat attributes in Python
    (``model.model_id``, ``model.tags["k"]``, ``model.params``, ``model.status``…)."""

    info: LoggedModelInfo
    data: LoggedModelData = msgspec.field(default_factory=LoggedModelData)

    model_id = property(lambda self: self.info.model_id)
    experiment_id = property(lambda self: self.info.experiment_id)
    name = property(lambda self: self.info.name)
    artifact_location = property(lambda self: self.info.artifact_uri)
    creation_timestamp = property(lambda self: self.info.creation_timestamp_ms)
    last_updated_timestamp = property(lambda self: self.info.last_updated_timestamp_ms)
    model_type = property(lambda self: self.info.model_type)
    source_run_id = property(lambda self: self.info.source_run_id)
    status_message = property(lambda self: self.info.status_message)
    metrics = property(lambda self: self.data.metric_list)

    @property
    def status(self) -> str:
        """PENDING, READY or UPLOAD_FAILED (the wire's ``LOGGED_MODEL_`` prefix dropped)."""
        return self.info.status.removeprefix("LOGGED_MODEL_")

    @cached_property
    def tags(self) -> dict[str, str]:
        return {t.key: t.value for t in self.info.tag_list}

    @cached_property
    def params(self) -> dict[str, str]:
        return {p.key: p.value for p in self.data.param_list}

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"


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
            key, run_id = self.key, self.run_id
            self._cache = [Metric(key, v, t, s, run_id) for v, t, s in zip(*cols, strict=True)]
        return self._cache

    def __len__(self) -> int:
        return int(self._table.num_rows)

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
        return Metric(self.key, row["value"], row["timestamp"], row["step"], self.run_id)

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
