"""The tracking read model: experiments and runs folded from events, in memory.

A pure, idempotent fold: applying an event twice, or events in any order, gives the same
state, because every field is resolved by a rule rather than by arrival order —

- last writer wins by ``(ts, writer_id, writer_seq)`` for names, status, lifecycle and tags;
- params: the first writer wins by the same order, later different values are conflicts;
- latest metric: the highest ``(step, timestamp, writer_seq, writer_id)``.

Idempotence is what lets a process fold its own unpublished events at once and fold them
again when their segment appears, and lets files be folded in name order, not time order.

This is the minimal read side (issue 2); the DuckDB projections of DESIGN.md build on it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from eventlog import (
    LOGGED_MODEL_EVENTS,
    REGISTRY_EVENTS,
    ArtifactLogged,
    CorruptFileError,
    CorruptFileWarning,
    DatasetInputLogged,
    Event,
    EventLog,
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentRenamed,
    ExperimentRestored,
    ExperimentTagDeleted,
    ExperimentTagSet,
    ModelLogged,
    ParamLogged,
    RunDeleted,
    RunDescriptionSet,
    RunEnded,
    RunRenamed,
    RunRestored,
    RunResumed,
    RunStarted,
    RunTagDeleted,
    RunTagSet,
)
from eventlog.codec import events_from_table
from eventlog.log import relisting
from eventlog.writer import Batch
from projections.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LifecycleStage,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_EXPERIMENT_ID", "ExperimentState", "RunState", "TrackingState", "TrackingView"]

DEFAULT_EXPERIMENT_ID = "0"
NOTE_TAG = "mlflow.note.content"
RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
_NEVER: tuple[int, str, int] = (-1, "", -1)
Order = tuple[int, str, int]


def _order(e: Event) -> Order:
    return (e.ts, e.writer_id, e.writer_seq)


class Register:
    """A last-writer-wins value."""

    __slots__ = ("order", "value")

    def __init__(self, value: Any = None, order: Order = _NEVER) -> None:
        self.value = value
        self.order = order

    def offer(self, value: Any, order: Order) -> None:
        if order > self.order:
            self.value, self.order = value, order


class ExperimentState:
    __slots__ = ("artifact_location", "created", "creation_time", "experiment_id", "last_update", "lifecycle", "name", "tags")

    def __init__(self, experiment_id: str) -> None:
        self.experiment_id = experiment_id
        self.created = False
        self.name = Register("")
        self.artifact_location = ""
        self.lifecycle = Register(LifecycleStage.ACTIVE)
        self.tags: dict[str, Register] = {}
        self.creation_time: int | None = None
        self.last_update = 0

    def touch(self, e: Event) -> None:
        self.last_update = max(self.last_update, e.ts)

    def to_entity(self) -> Experiment:
        return Experiment(
            experiment_id=self.experiment_id,
            name=self.name.value,
            artifact_location=self.artifact_location,
            lifecycle_stage=self.lifecycle.value,
            tags={k: r.value for k, r in sorted(self.tags.items()) if r.value is not None},
            creation_time=self.creation_time,
            last_update_time=self.last_update // 1_000_000 if self.last_update else self.creation_time,
        )


class RunState:
    __slots__ = (
        "artifact_uri", "end_time", "experiment_id", "inputs", "latest", "lifecycle", "param_conflicts",
        "params", "run_id", "run_name", "start_time", "started", "started_order", "status", "tags", "user_id",
        "artifacts", "models",
    )

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.started = False
        self.started_order: Order = _NEVER
        self.experiment_id = ""
        self.run_name = Register("")
        self.user_id = ""
        self.status = Register(RunStatus.RUNNING)
        self.start_time = 0
        self.end_time = Register(None)
        self.artifact_uri = ""
        self.lifecycle = Register(LifecycleStage.ACTIVE)
        self.params: dict[str, tuple[str, Order]] = {}
        self.param_conflicts: set[tuple[str, str, Order]] = set()  # a set: folds may repeat
        self.tags: dict[str, Register] = {}
        self.latest: dict[str, tuple[tuple[int, int, int, str], float, int]] = {}
        self.inputs: dict[tuple[str, str, str], DatasetInputLogged] = {}
        self.artifacts: dict[str, ArtifactLogged] = {}
        self.models: dict[str, ModelLogged] = {}

    def set_tag(self, key: str, value: str | None, order: Order) -> None:
        self.tags.setdefault(key, Register()).offer(value, order)

    def offer_param(self, key: str, value: str, order: Order) -> None:
        held = self.params.get(key)
        if held is None or order < held[1]:
            if held is not None and held[0] != value:
                self.param_conflicts.add((key, held[0], held[1]))
            self.params[key] = (value, order)
        elif held[0] != value and order != held[1]:
            self.param_conflicts.add((key, value, order))

    def offer_metric(self, key: str, value: float, step: int, timestamp: int, seq: int, writer_id: str) -> None:
        rank = (step, timestamp, seq, writer_id)
        held = self.latest.get(key)
        if held is None or rank > held[0]:
            self.latest[key] = (rank, value, timestamp)

    def param_value(self, key: str) -> str | None:
        held = self.params.get(key)
        return None if held is None else held[0]

    def to_entity(self) -> Run:
        tags = {k: r.value for k, r in sorted(self.tags.items()) if r.value is not None}
        info = RunInfo(
            run_id=self.run_id,
            experiment_id=self.experiment_id,
            run_name=self.run_name.value,
            user_id=self.user_id,
            status=self.status.value,
            start_time=self.start_time,
            end_time=self.end_time.value,
            artifact_uri=self.artifact_uri,
            lifecycle_stage=self.lifecycle.value,
        )
        data = RunData(
            metrics={k: v[1] for k, v in sorted(self.latest.items())},
            params={k: v[0] for k, v in sorted(self.params.items())},
            tags=tags,
        )
        inputs = RunInputs(dataset_inputs=[_dataset_input(e) for e in self.inputs.values()])
        return Run(info=info, data=data, inputs=inputs)


def _dataset_input(e: DatasetInputLogged) -> DatasetInput:
    dataset = Dataset(
        name=e.dataset_name, digest=e.dataset_digest, source_type=e.source_type, source=e.source,
        schema=e.dataset_schema or None, profile=e.profile or None,
    )
    tags = [InputTag(key="mlflow.data.context", value=e.context)] if e.context else []
    return DatasetInput(dataset=dataset, tags=tags)


class TrackingState:
    """Experiments and runs as of the events applied so far."""

    def __init__(self, default_artifact_location: str = "") -> None:
        self.experiments: dict[str, ExperimentState] = {}
        self.runs: dict[str, RunState] = {}
        self.models: dict[str, ModelLogged] = {}  # logged models by model_id
        self.registry_events: dict[tuple[str, int], Event] = {}  # by identity: folds may repeat
        self.logged_model_events: dict[tuple[str, int], Event] = {}  # status, tags, params, run links; by identity
        self._registry: tuple[int, Any, Any] | None = None  # (events folded, newest order, state)
        default = self._experiment(DEFAULT_EXPERIMENT_ID)
        default.created = True
        default.name.offer("Default", (0, "", 0))
        default.artifact_location = default_artifact_location
        default.creation_time = 0

    def _experiment(self, experiment_id: str) -> ExperimentState:
        exp = self.experiments.get(experiment_id)
        if exp is None:
            exp = self.experiments[experiment_id] = ExperimentState(experiment_id)
        return exp

    def registry(self, as_of_ns: int | None = None) -> Any:
        """The model registry (`projections.registry.RegistryState`), now or as of a moment."""
        from projections.registry import fold_registry

        if as_of_ns is not None:
            return fold_registry(self.registry_events.values(), as_of_ns)
        events = list(self.registry_events.values())  # insertion order: the order they were folded
        count = len(events)
        if self._registry is not None and self._registry[0] == count:
            return self._registry[2]
        if self._registry is not None and self._registry[0] < count:
            done, last, state = self._registry
            new = sorted(events[done:], key=_order)
            if _order(new[0]) > last:  # all newer than what was folded: apply on top
                for e in new:
                    state.apply(e)
                self._registry = (count, _order(new[-1]), state)
                return state
        state = fold_registry(events)  # an older event arrived late: fold again, in order
        self._registry = (count, max((_order(e) for e in events), default=(0, "", 0)), state)
        return state

    def _run(self, run_id: str) -> RunState:
        run = self.runs.get(run_id)
        if run is None:
            run = self.runs[run_id] = RunState(run_id)
        return run

    def apply(self, e: Event) -> None:
        handler = _HANDLERS.get(type(e))
        if handler is not None:
            handler(self, e)

    def apply_all(self, events: Iterable[Event]) -> None:
        for e in events:
            self.apply(e)

    def apply_metric_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Fold latest metric values from ``(run_id, key, value, step, timestamp, writer_seq, writer_id)`` rows."""
        for run_id, key, value, step, timestamp, seq, writer_id in rows:
            self._run(run_id).offer_metric(key, value, step, timestamp, seq, writer_id)

    # ---- lookups ------------------------------------------------------------------------

    def experiment(self, experiment_id: str) -> ExperimentState | None:
        exp = self.experiments.get(experiment_id)
        return exp if exp is not None and exp.created else None

    def experiment_by_name(self, name: str) -> ExperimentState | None:
        for exp in self.experiments.values():
            if exp.created and exp.name.value == name:
                return exp
        return None

    def run(self, run_id: str) -> RunState | None:
        run = self.runs.get(run_id)
        return run if run is not None and run.started else None


# ---- the fold, one function per event kind ----------------------------------------------


def _experiment_created(s: TrackingState, e: ExperimentCreated) -> None:
    exp = s._experiment(e.experiment_id)
    if not exp.created or exp.creation_time is None or e.ts // 1_000_000 < exp.creation_time:
        exp.artifact_location = e.artifact_location  # the first creation defines it
        exp.creation_time = e.ts // 1_000_000
    exp.created = True
    exp.name.offer(e.name, _order(e))
    exp.touch(e)


def _experiment_renamed(s: TrackingState, e: ExperimentRenamed) -> None:
    exp = s._experiment(e.experiment_id)
    exp.name.offer(e.name, _order(e))
    exp.touch(e)


def _lifecycle(stage: LifecycleStage) -> Callable[[TrackingState, Any], None]:
    def apply(s: TrackingState, e: Any) -> None:
        if hasattr(e, "run_id"):
            s._run(e.run_id).lifecycle.offer(stage, _order(e))
        else:
            exp = s._experiment(e.experiment_id)
            exp.lifecycle.offer(stage, _order(e))
            exp.touch(e)

    return apply


def _experiment_tag_set(s: TrackingState, e: ExperimentTagSet) -> None:
    exp = s._experiment(e.experiment_id)
    exp.tags.setdefault(e.key, Register()).offer(e.value, _order(e))
    exp.touch(e)


def _experiment_tag_deleted(s: TrackingState, e: ExperimentTagDeleted) -> None:
    exp = s._experiment(e.experiment_id)
    exp.tags.setdefault(e.key, Register()).offer(None, _order(e))
    exp.touch(e)


def _run_started(s: TrackingState, e: RunStarted) -> None:
    run = s._run(e.run_id)
    if not run.started or _order(e) < run.started_order:  # the first start defines the run
        run.started_order = _order(e)
        run.experiment_id = e.experiment_id
        run.user_id = e.actor
        run.start_time = e.start_time
        run.artifact_uri = e.artifact_uri
    run.started = True
    run.status.offer(RunStatus.RUNNING, _order(e))
    run.end_time.offer(None, _order(e))  # the end time goes with whichever status event wins
    run.run_name.offer(e.run_name, _order(e))
    run.set_tag(RUN_NAME_TAG, e.run_name, _order(e))


def _run_resumed(s: TrackingState, e: RunResumed) -> None:
    run = s._run(e.run_id)
    run.status.offer(RunStatus.RUNNING, _order(e))
    run.end_time.offer(None, _order(e))


def _run_ended(s: TrackingState, e: RunEnded) -> None:
    run = s._run(e.run_id)
    run.status.offer(RunStatus(e.status), _order(e))
    run.end_time.offer(e.end_time if RunStatus.is_terminated(e.status) else None, _order(e))


def _run_renamed(s: TrackingState, e: RunRenamed) -> None:
    run = s._run(e.run_id)
    run.run_name.offer(e.run_name, _order(e))
    run.set_tag(RUN_NAME_TAG, e.run_name, _order(e))


def _run_description_set(s: TrackingState, e: RunDescriptionSet) -> None:
    s._run(e.run_id).set_tag(NOTE_TAG, e.description, _order(e))


def _param_logged(s: TrackingState, e: ParamLogged) -> None:
    s._run(e.run_id).offer_param(e.key, e.value, _order(e))


def _run_tag_set(s: TrackingState, e: RunTagSet) -> None:
    run = s._run(e.run_id)
    run.set_tag(e.key, e.value, _order(e))
    if e.key == RUN_NAME_TAG:
        run.run_name.offer(e.value, _order(e))


def _run_tag_deleted(s: TrackingState, e: RunTagDeleted) -> None:
    s._run(e.run_id).set_tag(e.key, None, _order(e))


def _dataset_input_logged(s: TrackingState, e: DatasetInputLogged) -> None:
    s._run(e.run_id).inputs.setdefault((e.dataset_name, e.dataset_digest, e.context), e)


def _artifact_logged(s: TrackingState, e: ArtifactLogged) -> None:
    run = s._run(e.run_id)
    held = run.artifacts.get(e.path)
    if held is None or _order(e) > _order(held):
        run.artifacts[e.path] = e


def _registry_event(s: TrackingState, e: Event) -> None:
    s.registry_events[(e.writer_id, e.writer_seq)] = e


def _logged_model_event(s: TrackingState, e: Event) -> None:
    s.logged_model_events[(e.writer_id, e.writer_seq)] = e


def _model_logged(s: TrackingState, e: ModelLogged) -> None:
    s.models.setdefault(e.model_id, e)
    if e.run_id:
        s._run(e.run_id).models.setdefault(e.model_id, e)


_HANDLERS: dict[type, Callable[[TrackingState, Any], None]] = {
    ExperimentCreated: _experiment_created,
    ExperimentRenamed: _experiment_renamed,
    ExperimentDeleted: _lifecycle(LifecycleStage.DELETED),
    ExperimentRestored: _lifecycle(LifecycleStage.ACTIVE),
    ExperimentTagSet: _experiment_tag_set,
    ExperimentTagDeleted: _experiment_tag_deleted,
    RunStarted: _run_started,
    RunResumed: _run_resumed,
    RunEnded: _run_ended,
    RunRenamed: _run_renamed,
    RunDeleted: _lifecycle(LifecycleStage.DELETED),
    RunRestored: _lifecycle(LifecycleStage.ACTIVE),
    RunDescriptionSet: _run_description_set,
    ParamLogged: _param_logged,
    RunTagSet: _run_tag_set,
    RunTagDeleted: _run_tag_deleted,
    DatasetInputLogged: _dataset_input_logged,
    ArtifactLogged: _artifact_logged,
    ModelLogged: _model_logged,
    **{t: _registry_event for t in REGISTRY_EVENTS},
    **{t: _logged_model_event for t in LOGGED_MODEL_EVENTS},
}


# ---- keeping a state up to date with a log --------------------------------------------------


class TrackingView:
    """A `TrackingState` kept current with an `EventLog`, folding only files it has not seen."""

    def __init__(self, log: EventLog, default_artifact_location: str = "") -> None:
        self.log = log
        self.state = TrackingState(default_artifact_location)
        self._folded: set[str] = set()
        self._lock = threading.Lock()
        self.problems: dict[str, str] = {}
        self._own: dict[str, Batch] = {}  # segments this process published: fold from memory
        self._own_lock = threading.Lock()
        # this process's pending events are folded once each: (writer, next control seq, next metric seq)
        self._cursor: tuple[str, int, int] = ("", 0, 0)
        log.writer.on_publish.append(self._published)

    def _published(self, stream: str, path: str, batch: Batch) -> None:
        with self._own_lock:
            self._own[path] = batch
            while len(self._own) > 256:  # unread for long: let refresh read them from the store
                self._own.pop(next(iter(self._own)))

    def refresh(self, attempts: int = 5) -> TrackingState:
        """Fold new segments and this process's pending events; returns the state.

        The pending events are taken before the listing: an event is always pending or
        published, so whichever it was at that instant, one of the two has it. A listed file
        that compaction removed before it was read makes the listing start again (folding is
        idempotent, so what was folded meanwhile stays right).
        """
        return relisting(self._refresh, attempts)

    def _refresh(self) -> TrackingState:
        with self._lock:
            writer, (writer_id, control_from, metrics_from) = self.log.writer, self._own_cursor()
            control, control_next = writer.pending_control(control_from)
            latest, metrics_next = writer.pending_latest_metrics(metrics_from)
            for stream in ("control", "metric"):
                for path in self.log.files(stream):  # type: ignore[arg-type]
                    if path not in self._folded:
                        self._fold_file(stream, path)
            self.state.apply_all(control)
            self.state.apply_metric_rows(latest)
            self._cursor = (writer_id, control_next, metrics_next)
            return self.state

    def refresh_own(self) -> TrackingState:
        """Fold only this process's own events (pending, and published since the last refresh).

        Cheap: no listing of the store; other processes' new events are not seen.
        """
        with self._lock:
            writer_id, control_from, metrics_from = self._own_cursor()
            control, control_next = self.log.writer.pending_control(control_from)
            with self._own_lock:
                own, self._own = self._own, {}
            for path, batch in own.items():
                if path not in self._folded:
                    self._fold_batch(path, batch)
            self.state.apply_all(control)
            self._cursor = (writer_id, control_next, metrics_from)
            return self.state

    def _own_cursor(self) -> tuple[str, int, int]:
        """How far this process's pending events are folded (each is folded once: the fold keeps it)."""
        writer_id = self.log.writer.writer_id
        if self._cursor[0] != writer_id:  # a new writer (after a fork) counts from 0
            self._cursor = (writer_id, 0, 0)
        return self._cursor

    def _fold_batch(self, path: str, batch: Batch) -> None:
        if path.startswith("events/stream=control"):
            self.state.apply_all(batch.control)
        else:
            self.state.apply_metric_rows(batch.latest_metric_rows())
        self._folded.add(path)

    def _fold_file(self, stream: str, path: str) -> None:
        with self._own_lock:
            own = self._own.pop(path, None)
        if own is not None:
            self._fold_batch(path, own)
            return
        try:
            table = self.log.read(path)
            if stream == "control":
                self.state.apply_all(events_from_table(table, where=f"{self.log.uri}/{path}"))
            else:
                self.state.apply_metric_rows(_latest_rows(table))
        except CorruptFileError as exc:
            warnings.warn(str(exc), CorruptFileWarning, stacklevel=3)
            self.problems[path] = str(exc)
        self._folded.add(path)


def _latest_rows(table: pa.Table) -> Iterable[tuple[Any, ...]]:
    """The latest point per (run, key) of one metric segment."""
    import pyarrow.compute as pc

    ordered = table.sort_by(
        [("run_id", "ascending"), ("key", "ascending"), ("step", "descending"),
         ("timestamp", "descending"), ("writer_seq", "descending")]
    )
    run, key = ordered["run_id"], ordered["key"]
    if ordered.num_rows == 0:
        return []
    changed = pc.or_(pc.not_equal(run[1:], run[:-1]), pc.not_equal(key[1:], key[:-1]))
    import pyarrow as pa

    first = pa.concat_arrays([pa.array([True]), changed.combine_chunks()])
    heads = ordered.filter(first)
    cols = [heads[c].to_pylist() for c in ("run_id", "key", "value", "step", "timestamp", "writer_seq", "writer_id")]
    return zip(*cols, strict=True)
