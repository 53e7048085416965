"""What a re-import appends: the source's state of an entity minus what earlier imports wrote.

An importer describes an entity as the events that would create it from nothing (`Planned`:
the event, its original time, its actor). The store already holds the events of the earlier
imports of that entity (its completed generations, `tracklog.transfer._segments.Lineage`).
Both are reduced to *facets* — one value per thing that can change (a tag's value, the run's
status and end time, its name, its lifecycle…) — and only the events whose facets differ are
appended, plus the events that undo what the source no longer has (a deleted tag, a restored
run). So a run that gained a tag brings one `RunTagSet`, a run that finished one `RunEnded`, a
renamed experiment one `ExperimentRenamed`; after any number of re-imports the log holds each
change once and folds to the source's state.

Events appended to a non-empty history are dated at least 1 ms after its latest event: the read
models resolve conflicts by time (last writer wins), and MLflow keeps no time for a tag or a
description, which the importers date at the entity's creation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from eventlog.events import (
    ArtifactLogged,
    DatasetInputLogged,
    Event,
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentMerged,
    ExperimentRenamed,
    ExperimentRestored,
    ExperimentTagDeleted,
    ExperimentTagSet,
    LoggedModelMetricLogged,
    LoggedModelParamLogged,
    LoggedModelStatusSet,
    LoggedModelTagDeleted,
    LoggedModelTagSet,
    ModelAliasDeleted,
    ModelAliasSet,
    ModelInputLogged,
    ModelLogged,
    ModelOutputLogged,
    ModelVersionCreated,
    ModelVersionDeleted,
    ModelVersionDescriptionSet,
    ModelVersionStageSet,
    ModelVersionTagDeleted,
    ModelVersionTagSet,
    ParamLogged,
    RegisteredModelCreated,
    RegisteredModelDescriptionSet,
    RegisteredModelTagDeleted,
    RegisteredModelTagSet,
    RunDeleted,
    RunEnded,
    RunRenamed,
    RunRestored,
    RunStarted,
    RunTagDeleted,
    RunTagSet,
)

__all__ = ["Planned", "delta", "point_key"]

Slot = tuple[Any, ...]
_ONCE = ("start", "param", "input", "created", "version", "metric")  # facets a later value never changes


class Planned(NamedTuple):
    """An event an importer would write for the source's state, with its original time (ms) and actor."""

    event: Event
    ts_ms: int
    actor: str


def _same_value(value: Any) -> Any:
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def facets(event: Event) -> list[tuple[Slot, Any]]:
    """The facets `event` sets: the first is what it creates or changes, the others what it
    carries along (a run's name in `RunStarted`). None is "absent" (a deleted tag)."""
    e: Any = event
    match event:
        case RunStarted():
            return [(("start",), True), (("name",), e.run_name)]
        case RunRenamed() | ExperimentRenamed():
            return [(("name",), e.run_name if isinstance(event, RunRenamed) else e.name)]
        case ParamLogged() | LoggedModelParamLogged():
            return [(("param", e.key), e.value)]
        case RunTagSet() | ExperimentTagSet() | LoggedModelTagSet() | RegisteredModelTagSet():
            return [(("tag", e.key), e.value)]
        case RunTagDeleted() | ExperimentTagDeleted() | LoggedModelTagDeleted() | RegisteredModelTagDeleted():
            return [(("tag", e.key), None)]
        case DatasetInputLogged():
            return [(("input", e.dataset_name, e.dataset_digest, e.context), True)]
        case ModelInputLogged():
            return [(("model-input", e.model_id), True)]
        case ModelOutputLogged():
            return [(("model-output", e.model_id), e.model_step)]
        case ArtifactLogged():
            return [(("artifact", e.path), (e.size, e.sha256))]
        case RunEnded():
            return [(("end",), (e.status, e.end_time))]
        case RunDeleted() | ExperimentDeleted():
            return [(("deleted",), True)]
        case RunRestored() | ExperimentRestored():
            return [(("deleted",), None)]
        case ExperimentCreated():
            return [(("created",), True), (("name",), e.name)]
        case ExperimentMerged() | ModelLogged():
            return [(("created",), True)]
        case LoggedModelStatusSet():
            return [(("status",), (e.status, e.status_message))]
        case LoggedModelMetricLogged():
            return [(("metric", e.key, e.step, e.timestamp, e.run_id, e.dataset_name, e.dataset_digest,
                      _same_value(e.metric_value)), True)]
        case RegisteredModelCreated():
            return [(("created",), True), (("description",), e.description)]
        case RegisteredModelDescriptionSet():
            return [(("description",), e.description)]
        case ModelVersionCreated():
            return [(("version", e.version), True), (("version-description", e.version), e.description)]
        case ModelVersionDescriptionSet():
            return [(("version-description", e.version), e.description)]
        case ModelVersionDeleted():
            return [(("version", e.version), None)]
        case ModelVersionTagSet():
            return [(("version-tag", e.version, e.key), e.value)]
        case ModelVersionTagDeleted():
            return [(("version-tag", e.version, e.key), None)]
        case ModelVersionStageSet():
            return [(("stage", e.version), None if e.stage == "None" else e.stage)]
        case ModelAliasSet():
            return [(("alias", e.alias), e.version)]
        case ModelAliasDeleted():
            return [(("alias", e.alias), None)]
    return []


def fold(events: Iterable[Event]) -> dict[Slot, Any]:
    """The facets of `events`, applied in the log's order (ts, writer id, writer seq)."""
    state: dict[Slot, Any] = {}
    for event in sorted(events, key=lambda e: (e.ts, e.writer_id, e.writer_seq)):
        state.update(facets(event))
    return state


def _changed(event: Event, slot: Slot, value: Any) -> Event | None:
    """The event that changes what `event` carries along (its facet `slot`) to `value`."""
    e: Any = event
    match event:
        case RunStarted():
            return RunRenamed(run_id=e.run_id, run_name=value)
        case ExperimentCreated():
            return ExperimentRenamed(experiment_id=e.experiment_id, name=value)
        case RegisteredModelCreated():
            return RegisteredModelDescriptionSet(registered_model_id=e.registered_model_id, model_name=e.model_name,
                                                 description=value)
        case ModelVersionCreated():
            return ModelVersionDescriptionSet(registered_model_id=e.registered_model_id, model_name=e.model_name,
                                              version=e.version, description=value)
    return None


def undo(slot: Slot, entity: Event) -> Event | None:
    """The event that removes the facet `slot` from the entity `entity` (any event of it) names:
    a tag deleted, a run or experiment restored, an alias or a model version deleted."""
    e: Any = entity
    what = slot[0]
    if isinstance(entity, (ModelLogged, LoggedModelStatusSet, LoggedModelTagSet, LoggedModelParamLogged,
                           LoggedModelMetricLogged)):
        return LoggedModelTagDeleted(model_id=e.model_id, key=slot[1]) if what == "tag" else None
    if hasattr(entity, "registered_model_id"):
        ids = {"registered_model_id": e.registered_model_id, "model_name": e.model_name}
        removed: dict[str, Callable[[], Event]] = {
            "tag": lambda: RegisteredModelTagDeleted(**ids, key=slot[1]),
            "alias": lambda: ModelAliasDeleted(**ids, alias=slot[1]),
            "version": lambda: ModelVersionDeleted(**ids, version=slot[1]),
            "version-tag": lambda: ModelVersionTagDeleted(**ids, version=slot[1], key=slot[2]),
            "stage": lambda: ModelVersionStageSet(**ids, version=slot[1], stage="None"),
        }
        return removed[what]() if what in removed else None
    if hasattr(entity, "run_id"):
        return (RunTagDeleted(run_id=e.run_id, key=slot[1]) if what == "tag"
                else RunRestored(run_id=e.run_id) if what == "deleted" else None)
    return (ExperimentTagDeleted(experiment_id=e.experiment_id, key=slot[1]) if what == "tag"
            else ExperimentRestored(experiment_id=e.experiment_id) if what == "deleted" else None)


def delta(planned: list[Planned], held: list[Event], actor: str) -> list[Planned]:
    """The events of `planned` (the source's state, as events from nothing) that change what
    `held` (the earlier imports' events of the entity) folds to, and those undoing what the
    source no longer has (dated after `held`, by `actor`); with no history, `planned` itself.

    >>> from eventlog.events import RunTagSet
    >>> old = [RunTagSet(run_id="r", key="a", value="1", ts=5_000_000)]
    >>> new = [Planned(RunTagSet(run_id="r", key="a", value="1"), 0, "me"),
    ...        Planned(RunTagSet(run_id="r", key="b", value="2"), 0, "me")]
    >>> [(p.event.key, p.ts_ms) for p in delta(new, old, "me")]
    [('b', 6)]
    """
    if not held:
        return planned
    before = fold(held)
    after_ms = max(e.ts for e in held) // 1_000_000 + 1
    out: list[Planned] = []
    target: dict[Slot, Any] = {}
    for item in planned:
        (slot, value), *carried = facets(item.event)
        target[slot] = value
        target.update(carried)
        if before.get(slot) != value and not (slot[0] in _ONCE and slot in before):
            out.append(item._replace(ts_ms=max(item.ts_ms, after_ms)))
            continue
        for extra, extra_value in carried:
            if before.get(extra) != extra_value and (change := _changed(item.event, extra, extra_value)) is not None:
                out.append(Planned(change, max(item.ts_ms, after_ms), item.actor))
    gone = [s for s, v in before.items() if v is not None and s not in target]
    for slot in gone:
        if slot[0] in ("version-tag", "stage") and ("version", slot[1]) in gone:
            continue  # a deleted version takes its tags and stage with it
        if (event := undo(slot, held[0])) is not None:
            out.append(Planned(event, after_ms, actor))
    return out


def point_key(key: str, step: int, timestamp: int, value: float) -> tuple[str, int, int, Any]:
    """A metric point as a set member (NaN equal to NaN, as the catalog keeps each exact point once)."""
    return key, int(step), int(timestamp), _same_value(float(value))

