"""The model registry as state folded from its events, at any moment.

Registry events are few (a model version per training, not per step), so the state is a plain
ordered fold: events sorted by ``(ts, writer_id, writer_seq)`` — last writer wins for names,
descriptions, tags, stages and aliases — rebuilt when new events arrive, and for ``as_of``
rebuilt from the events up to that moment. A model is identified by its
``registered_model_id`` (fixed at creation), so renames never break its history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eventlog.events import (
    REGISTRY_EVENTS,
    Event,
    ModelAliasDeleted,
    ModelAliasSet,
    ModelVersionCreated,
    ModelVersionDeleted,
    ModelVersionDescriptionSet,
    ModelVersionStageSet,
    ModelVersionTagDeleted,
    ModelVersionTagSet,
    RegisteredModelCreated,
    RegisteredModelDeleted,
    RegisteredModelDescriptionSet,
    RegisteredModelRenamed,
    RegisteredModelTagDeleted,
    RegisteredModelTagSet,
)
from projections.entities import _Entity

__all__ = [
    "STAGES",
    "ModelVersion",
    "ModelVersionState",
    "RegisteredModel",
    "RegisteredModelState",
    "RegistryState",
    "fold_registry",
]

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


def _ms(ts_ns: int) -> int:
    return ts_ns // 1_000_000


@dataclass
class ModelVersionState:
    version: int
    created: ModelVersionCreated
    description: str = ""
    stage: str = "None"
    tags: dict[str, str] = field(default_factory=dict)
    updated_ns: int = 0

    def entity(self, name: str, aliases: list[str]) -> ModelVersion:
        c = self.created
        return ModelVersion(
            name=name, version=self.version, creation_timestamp=_ms(c.ts), last_updated_timestamp=_ms(self.updated_ns),
            description=self.description, user_id=c.actor or None, current_stage=self.stage, source=c.source,
            run_id=c.run_id or None, tags=dict(self.tags), run_link=c.run_link or None, aliases=sorted(aliases),
            model_id=c.model_id or None,
        )


@dataclass
class RegisteredModelState:
    registered_model_id: str
    name: str
    created_ns: int
    updated_ns: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    versions: dict[int, ModelVersionState] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    max_version: int = 0  # versions ever created, deleted ones included: numbers are never reused

    def aliases_of(self, version: int) -> list[str]:
        return [a for a, v in self.aliases.items() if v == version]

    def version_entity(self, version: int) -> ModelVersion:
        return self.versions[version].entity(self.name, self.aliases_of(version))

    def latest_versions(self, stages: list[str] | None = None) -> list[ModelVersion]:
        """The newest version in each stage (MLflow's ``latest_versions``)."""
        newest: dict[str, ModelVersionState] = {}
        for v in self.versions.values():
            held = newest.get(v.stage)
            if held is None or v.version > held.version:
                newest[v.stage] = v
        wanted = [s.lower() for s in stages] if stages else None
        return [self.version_entity(v.version) for stage, v in sorted(newest.items())
                if wanted is None or stage.lower() in wanted]

    def entity(self) -> RegisteredModel:
        return RegisteredModel(
            name=self.name, creation_timestamp=_ms(self.created_ns), last_updated_timestamp=_ms(self.updated_ns),
            description=self.description, latest_versions=self.latest_versions(), tags=dict(self.tags),
            aliases=dict(self.aliases),
        )


class RegistryState:
    """Registered models by name (live ones) and by id (every one, deleted included)."""

    def __init__(self) -> None:
        self.by_id: dict[str, RegisteredModelState] = {}
        self.by_name: dict[str, RegisteredModelState] = {}
        self.deleted: set[str] = set()

    def apply(self, e: Event) -> None:
        handler = _HANDLERS.get(type(e))
        if handler is not None:
            handler(self, e)

    def model(self, e: Any) -> RegisteredModelState | None:
        found = self.by_id.get(e.registered_model_id)
        if found is None or e.registered_model_id in self.deleted:
            return None
        found.updated_ns = max(found.updated_ns, e.ts)
        return found


def _created(s: RegistryState, e: RegisteredModelCreated) -> None:
    if e.registered_model_id in s.by_id:
        return
    model = RegisteredModelState(e.registered_model_id, e.model_name, e.ts, e.ts, e.description)
    s.by_id[e.registered_model_id] = model
    s.by_name[e.model_name] = model


def _renamed(s: RegistryState, e: RegisteredModelRenamed) -> None:
    model = s.model(e)
    if model is not None:
        if s.by_name.get(model.name) is model:
            del s.by_name[model.name]
        model.name = e.model_name
        s.by_name[e.model_name] = model


def _described(s: RegistryState, e: RegisteredModelDescriptionSet) -> None:
    model = s.model(e)
    if model is not None:
        model.description = e.description


def _deleted(s: RegistryState, e: RegisteredModelDeleted) -> None:
    model = s.model(e)
    if model is not None:
        s.deleted.add(e.registered_model_id)
        if s.by_name.get(model.name) is model:
            del s.by_name[model.name]


def _tag_set(s: RegistryState, e: RegisteredModelTagSet) -> None:
    model = s.model(e)
    if model is not None:
        model.tags[e.key] = e.value


def _tag_deleted(s: RegistryState, e: RegisteredModelTagDeleted) -> None:
    model = s.model(e)
    if model is not None:
        model.tags.pop(e.key, None)


def _version(s: RegistryState, e: Any) -> ModelVersionState | None:
    model = s.model(e)
    if model is None:
        return None
    found = model.versions.get(e.version)
    if found is not None:
        found.updated_ns = max(found.updated_ns, e.ts)
    return found


def _version_created(s: RegistryState, e: ModelVersionCreated) -> None:
    model = s.model(e)
    if model is not None and e.version not in model.versions:
        model.versions[e.version] = ModelVersionState(e.version, e, e.description, updated_ns=e.ts)
        model.max_version = max(model.max_version, e.version)


def _version_described(s: RegistryState, e: ModelVersionDescriptionSet) -> None:
    v = _version(s, e)
    if v is not None:
        v.description = e.description


def _version_stage(s: RegistryState, e: ModelVersionStageSet) -> None:
    v = _version(s, e)
    if v is not None:
        v.stage = e.stage


def _version_deleted(s: RegistryState, e: ModelVersionDeleted) -> None:
    model = s.model(e)
    if model is not None and model.versions.pop(e.version, None) is not None:
        for alias in model.aliases_of(e.version):
            del model.aliases[alias]


def _version_tag_set(s: RegistryState, e: ModelVersionTagSet) -> None:
    v = _version(s, e)
    if v is not None:
        v.tags[e.key] = e.value


def _version_tag_deleted(s: RegistryState, e: ModelVersionTagDeleted) -> None:
    v = _version(s, e)
    if v is not None:
        v.tags.pop(e.key, None)


def _alias_set(s: RegistryState, e: ModelAliasSet) -> None:
    model = s.model(e)
    if model is not None and e.version in model.versions:
        model.aliases[e.alias] = e.version


def _alias_deleted(s: RegistryState, e: ModelAliasDeleted) -> None:
    model = s.model(e)
    if model is not None:
        model.aliases.pop(e.alias, None)


_HANDLERS: dict[type, Any] = {
    RegisteredModelCreated: _created,
    RegisteredModelRenamed: _renamed,
    RegisteredModelDescriptionSet: _described,
    RegisteredModelDeleted: _deleted,
    RegisteredModelTagSet: _tag_set,
    RegisteredModelTagDeleted: _tag_deleted,
    ModelVersionCreated: _version_created,
    ModelVersionDescriptionSet: _version_described,
    ModelVersionStageSet: _version_stage,
    ModelVersionDeleted: _version_deleted,
    ModelVersionTagSet: _version_tag_set,
    ModelVersionTagDeleted: _version_tag_deleted,
    ModelAliasSet: _alias_set,
    ModelAliasDeleted: _alias_deleted,
}
assert set(_HANDLERS) == set(REGISTRY_EVENTS)


def fold_registry(events: Any, as_of_ns: int | None = None) -> RegistryState:
    """The registry after `events` (any order; sorted here), or after those up to `as_of_ns`."""
    state = RegistryState()
    chosen = [e for e in events if as_of_ns is None or e.ts <= as_of_ns]
    for e in sorted(chosen, key=lambda e: (e.ts, e.writer_id, e.writer_seq)):
        state.apply(e)
    return state
