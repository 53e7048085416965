"""The model registry API, with MLflow's names: registered models, versions, stages, aliases.

Every change is an event (`eventlog.events`, ``RegisteredModel*``, ``ModelVersion*``,
``ModelAlias*``), so the registry at any past moment is a fold away: the getters and searches
take ``as_of=`` (a datetime or epoch milliseconds). Names are unique and version numbers are
unique and consecutive per model even across processes and machines: each is a claim created
put-if-absent in the store (``_claims/``) before its event is written.

`RegistryClient` is mixed into `tracklog.Client`; ``tracklog.register_model`` is the fluent
form. Model URIs ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
``models:/<name>/latest`` and ``models:/<name>/<stage>`` resolve through `resolve_models_uri`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from eventlog.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from eventlog.events import (
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
from eventlog.validation import check_key
from projections.entities import PagedList
from projections.registry import STAGES

if TYPE_CHECKING:  # the rest loads on first use: `import tracklog` stays fast
    from projections.registry import (
        ModelVersion,
        RegisteredModel,
        RegisteredModelState,
        RegistryState,
    )
    from query.filter import Key
    from tracklog._backend import Backend


__all__ = [
    "MODEL_ATTRIBUTES",
    "VERSION_ATTRIBUTES",
    "ModelAliasNotFoundError",
    "ModelVersionNotFoundError",
    "RegisteredModelAlreadyExistsError",
    "RegisteredModelNotFoundError",
    "RegistryClient",
    "parse_models_uri",
    "resolve_models_uri",
]

MODEL_ATTRIBUTES = {"name": "string", "description": "string", "creation_timestamp": "numeric",
                    "last_updated_timestamp": "numeric"}
VERSION_ATTRIBUTES = {"name": "string", "version_number": "numeric", "run_id": "string", "source_path": "string",
                      "current_stage": "string", "description": "string", "model_id": "string",
                      "creation_timestamp": "numeric", "last_updated_timestamp": "numeric"}
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
_NAMES = "registered-models"
_MAX_ALIAS = 255


class RegisteredModelNotFoundError(NotFoundError):
    pass


class ModelVersionNotFoundError(NotFoundError):
    pass


class ModelAliasNotFoundError(NotFoundError):
    pass


class RegisteredModelAlreadyExistsError(AlreadyExistsError):
    pass


# ---- validation ---------------------------------------------------------------------------


def _check_name(name: Any, what: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"Missing value for required parameter '{what}': a registered model needs a name")
    if "/" in name or ":" in name:
        raise InvalidInputError(f"Invalid model name {name!r}. Names cannot contain '/' or ':'.")
    if len(name) > 256:
        raise InvalidInputError(f"Invalid model name: {len(name)} characters, at most 256")
    return name


def _check_version(version: Any) -> int:
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise InvalidInputError(f"Parameter 'version' must be an integer, got {version!r}") from None
    if number < 1:
        raise InvalidInputError(f"Parameter 'version' must be a positive integer, got {version!r}")
    return number


def _check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not alias:
        raise InvalidInputError("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise InvalidInputError(f"Invalid alias name: {alias!r}. Names may only contain alphanumerics, "
                                "underscores (_), and dashes (-).")
    if len(alias) > _MAX_ALIAS:
        raise InvalidInputError(f"Registered model alias name is {len(alias)} characters, at most {_MAX_ALIAS}")
    if alias.lower() == "latest":
        raise InvalidInputError("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS.match(alias):
        raise InvalidInputError(f"Version alias name {alias!r} is reserved.")
    return alias


def _check_stage(stage: Any) -> str:
    for canonical in STAGES:
        if isinstance(stage, str) and stage.lower() == canonical.lower():
            return canonical
    raise InvalidInputError(f"Invalid Model Version stage: {stage!r}. Value must be one of {', '.join(STAGES)}.")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# ---- paging -------------------------------------------------------------------------------


def _page(items: list[Any], max_results: int | None, page_token: str | None, signature: str) -> PagedList[Any]:
    if max_results is not None and (not isinstance(max_results, int) or max_results < 1 or max_results > 200_000):
        raise InvalidInputError(f"max_results must be a positive integer up to 200000, got {max_results!r}")
    offset = 0
    if page_token:
        try:
            data = json.loads(base64.urlsafe_b64decode(page_token.encode()))
            offset, token_signature = int(data["offset"]), data["sig"]
        except (ValueError, KeyError, TypeError):
            raise InvalidInputError(f"invalid page_token {page_token!r}") from None
        if token_signature != signature:
            raise InvalidInputError("page_token belongs to a different search (filter or order changed)")
    end = len(items) if max_results is None else offset + max_results
    token = None
    if end < len(items):
        token = base64.urlsafe_b64encode(json.dumps({"offset": end, "sig": signature}).encode()).decode()
    return PagedList(items[offset:end], token)


def _sorted(items: list[Any], order_by: list[str] | None, attributes: dict[str, str], value: Any,
            default: list[tuple[Key, bool]]) -> list[Any]:
    from query.filter import parse_order_by

    orders = [parse_order_by(c, attributes) for c in order_by or []] + default
    for key, desc in reversed(orders):  # stable sorts, last key first
        present = [i for i in items if value(i, key) is not None]
        missing = [i for i in items if value(i, key) is None]
        present.sort(key=functools.partial(_flip, value, key), reverse=desc)
        items = present + missing  # missing values last, either direction
    return items


def _flip(value: Any, key: Key, item: Any) -> Any:
    return value(item, key)


def _model_value(model: RegisteredModel, key: Key) -> Any:
    if key.entity == "tag":
        return model.tags.get(key.name)
    if key.entity != "attribute":
        raise InvalidInputError(f"registered models are searched by name, description, timestamps and tags.<key>; "
                                f"got {key.entity}.{key.name}")
    return getattr(model, key.name)


def _version_value(version: ModelVersion, key: Key) -> Any:
    if key.entity == "tag":
        return version.tags.get(key.name)
    if key.entity != "attribute":
        raise InvalidInputError(f"model versions are searched by {', '.join(VERSION_ATTRIBUTES)} and tags.<key>; "
                                f"got {key.entity}.{key.name}")
    name = {"version_number": "version", "source_path": "source"}.get(key.name, key.name)
    return getattr(version, name)


# ---- the client mixin ---------------------------------------------------------------------


class RegistryClient:
    """MLflow's registry methods; mixed into `tracklog.Client` (which provides ``_b``)."""

    _b: Backend

    def _registry(self, as_of: Any = None) -> RegistryState:
        from projections.catalog import as_of_ns

        return self._b.state().registry(as_of_ns(as_of))

    def _own_state(self) -> RegistryState:
        """After this process's own write: its events are folded without listing the store."""
        return self._b.state(stale_ok=1.0).registry()

    def _own_model(self, name: str) -> RegisteredModel:
        found = self._own_state().by_name.get(name)
        return found.entity() if found is not None else self.get_registered_model(name)

    def _own_version(self, name: str, number: int) -> ModelVersion:
        found = self._own_state().by_name.get(name)
        if found is not None and number in found.versions:
            return found.version_entity(number)
        return self.get_model_version(name, number)

    def _model(self, name: str, as_of: Any = None) -> RegisteredModelState:
        _check_name(name)
        found = self._registry(as_of).by_name.get(name)
        if found is None:
            raise RegisteredModelNotFoundError(f"Registered Model with name={name} not found")
        return found

    def _version_of(self, name: str, version: Any, as_of: Any = None) -> tuple[RegisteredModelState, int]:
        number = _check_version(version)
        model = self._model(name, as_of)
        if number not in model.versions:
            raise ModelVersionNotFoundError(f"Model Version (name={name}, version={number}) not found")
        return model, number

    def _append(self, *events: Any) -> None:
        """Append and publish at once: a registry change is visible to other processes on return."""
        if not events:
            return
        for e in events:
            self._b.log.append(e)
        self._b.log.flush()

    # ---- registered models ------------------------------------------------------------

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None, description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        name = _check_name(name)
        checked_tags = {check_key("tag key", k): _text(v) for k, v in (tags or {}).items()}
        model_id = uuid.uuid4().hex
        holder = self._b.log.claim(_NAMES, name, model_id)
        if holder != model_id:
            deadline = time.monotonic() + 3.0  # the holder may be publishing its event right now
            while True:
                state = self._registry()
                if name in state.by_name or (holder in state.by_id and holder not in state.deleted):
                    raise RegisteredModelAlreadyExistsError(f"Registered Model (name={name}) already exists.")
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            raise RegisteredModelAlreadyExistsError(
                f"Registered Model name {name!r} is claimed by model id {holder}, which was never recorded (its "
                f"creator died mid-way?); delete {self._b.log._claim_path(_NAMES, name)} in the store to free it")
        self._append(RegisteredModelCreated(registered_model_id=model_id, model_name=name,
                                            description=_text(description)))
        self._append(*(RegisteredModelTagSet(registered_model_id=model_id, model_name=name, key=k, value=v)
                       for k, v in checked_tags.items()))
        return self._own_model(name)

    def get_registered_model(self, name: str, *, as_of: Any = None) -> RegisteredModel:
        return self._model(name, as_of).entity()

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        model = self._model(name)
        new_name = _check_name(new_name, "new_name")
        if new_name == name:
            return model.entity()
        holder = self._b.log.claim(_NAMES, new_name, model.registered_model_id)
        if holder != model.registered_model_id:
            raise RegisteredModelAlreadyExistsError(f"Registered Model (name={new_name}) already exists.")
        self._append(RegisteredModelRenamed(registered_model_id=model.registered_model_id, model_name=new_name,
                                            old_name=name))
        self._b.log.release_claim(_NAMES, name)
        return self._own_model(new_name)

    def update_registered_model(self, name: str, description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        model = self._model(name)
        if description is not None:
            self._append(RegisteredModelDescriptionSet(registered_model_id=model.registered_model_id, model_name=name,
                                                       description=_text(description)))
        return self._own_model(name)

    def delete_registered_model(self, name: str) -> None:
        """Delete the model with all its versions and aliases, as MLflow does; the name is free again."""
        model = self._model(name)
        self._append(RegisteredModelDeleted(registered_model_id=model.registered_model_id, model_name=name))
        self._b.log.release_claim(_NAMES, name)

    def search_registered_models(self, filter_string: str | None = None, max_results: int = 100,
                                 order_by: list[str] | None = None, page_token: str | None = None,
                                 *, as_of: Any = None) -> PagedList[RegisteredModel]:
        from query.evaluate import predicate
        from query.filter import Key, parse

        self._b.require_store()  # a search reads: a store that is not there is an error, not an empty list
        match = predicate(parse(filter_string, MODEL_ATTRIBUTES))
        models = [m.entity() for m in self._registry(as_of).by_name.values()]
        found = [m for m in models if match(functools.partial(_model_value, m))]
        found = _sorted(found, order_by, MODEL_ATTRIBUTES, _model_value, [(Key("attribute", "name"), False)])
        return _page(found, max_results, page_token, json.dumps([filter_string, order_by]))

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        model = self._model(name)
        self._append(RegisteredModelTagSet(registered_model_id=model.registered_model_id, model_name=name,
                                           key=check_key("tag key", key), value=_text(value)))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        model = self._model(name)
        if key not in model.tags:
            raise NotFoundError(f"No tag with name: {key} in registered model {name}")
        self._append(RegisteredModelTagDeleted(registered_model_id=model.registered_model_id, model_name=name, key=key))

    # ---- versions -----------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, Any] | None = None, run_link: str | None = None,
                             description: str | None = None, await_creation_for: int = 300,
                             model_id: str | None = None) -> ModelVersion:
        model = self._model(name)
        if not isinstance(source, str) or not source:
            raise InvalidInputError(f"Missing value for required parameter 'source' (a model URI), got {source!r}")
        checked_tags = {check_key("tag key", k): _text(v) for k, v in (tags or {}).items()}
        number = self._claim_version(model)
        rm = model.registered_model_id
        self._append(ModelVersionCreated(registered_model_id=rm, model_name=name, version=number, source=source,
                                         run_id=_text(run_id), model_id=_text(model_id),
                                         description=_text(description), run_link=_text(run_link)))
        self._append(*(ModelVersionTagSet(registered_model_id=rm, model_name=name, version=number, key=k, value=v)
                       for k, v in checked_tags.items()))
        return self._own_version(name, number)

    def _claim_version(self, model: RegisteredModelState) -> int:
        """The next free version number, claimed put-if-absent: unique across processes."""
        token = uuid.uuid4().hex
        namespace = f"model-versions/{model.registered_model_id}"
        number = model.max_version + 1
        for _ in range(100_000):
            if self._b.log.claim(namespace, str(number), token) == token:
                return number
            number += 1
        raise AlreadyExistsError(f"no free version number for {model.name} below {number}")  # pragma: no cover

    def get_model_version(self, name: str, version: Any, *, as_of: Any = None) -> ModelVersion:
        model, number = self._version_of(name, version, as_of)
        return model.version_entity(number)

    def update_model_version(self, name: str, version: Any, description: str | None = None) -> ModelVersion:
        model, number = self._version_of(name, version)
        if description is not None:
            self._append(ModelVersionDescriptionSet(registered_model_id=model.registered_model_id, model_name=name,
                                                    version=number, description=_text(description)))
        return self._own_version(name, number)

    def delete_model_version(self, name: str, version: Any) -> None:
        model, number = self._version_of(name, version)
        rm = model.registered_model_id
        self._append(*(ModelAliasDeleted(registered_model_id=rm, model_name=name, alias=a)
                       for a in model.aliases_of(number)))
        self._append(ModelVersionDeleted(registered_model_id=rm, model_name=name, version=number))

    def get_latest_versions(self, name: str, stages: list[str] | None = None, *, as_of: Any = None) -> list[ModelVersion]:
        """The newest version in each stage (all stages, or those given). Deprecated in MLflow, kept."""
        if stages is not None:
            stages = [_check_stage(s) for s in stages]
        return self._model(name, as_of).latest_versions(stages)

    def transition_model_version_stage(self, name: str, version: Any, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Move a version to a stage (MLflow's deprecated stages: None, Staging, Production, Archived)."""
        canonical = _check_stage(stage)
        model, number = self._version_of(name, version)
        if archive_existing_versions and canonical not in ("Staging", "Production"):
            raise InvalidInputError(f"archive_existing_versions=True applies only to Staging and Production, "
                                    f"not {canonical}")
        rm = model.registered_model_id
        self._append(ModelVersionStageSet(registered_model_id=rm, model_name=name, version=number, stage=canonical))
        if archive_existing_versions:
            self._append(*(ModelVersionStageSet(registered_model_id=rm, model_name=name, version=v.version,
                                                stage="Archived")
                           for v in model.versions.values() if v.version != number and v.stage == canonical))
        return self._own_version(name, number)

    def search_model_versions(self, filter_string: str | None = None, max_results: int = 10_000,
                              order_by: list[str] | None = None, page_token: str | None = None,
                              *, as_of: Any = None) -> PagedList[ModelVersion]:
        from query.evaluate import predicate
        from query.filter import Key, parse

        self._b.require_store()
        match = predicate(parse(filter_string, VERSION_ATTRIBUTES))
        versions = [m.version_entity(v) for m in self._registry(as_of).by_name.values() for v in m.versions]
        found = [v for v in versions if match(functools.partial(_version_value, v))]
        found = _sorted(found, order_by, VERSION_ATTRIBUTES, _version_value,
                        [(Key("attribute", "name"), False), (Key("attribute", "version_number"), True)])
        return _page(found, max_results, page_token, json.dumps([filter_string, order_by]))

    def set_model_version_tag(self, name: str, version: Any = None, key: str | None = None, value: Any = None,
                              stage: str | None = None) -> None:
        if version is None and stage is not None:
            latest = self.get_latest_versions(name, [stage])
            if not latest:
                raise ModelVersionNotFoundError(f"no version of {name} in stage {stage}")
            version = latest[0].version
        model, number = self._version_of(name, version)
        self._append(ModelVersionTagSet(registered_model_id=model.registered_model_id, model_name=name,
                                        version=number, key=check_key("tag key", key), value=_text(value)))

    def delete_model_version_tag(self, name: str, version: Any = None, key: str | None = None,
                                 stage: str | None = None) -> None:
        model, number = self._version_of(name, version)
        if key not in model.versions[number].tags:
            raise NotFoundError(f"No tag with name: {key} in model version {name}/{number}")
        self._append(ModelVersionTagDeleted(registered_model_id=model.registered_model_id, model_name=name,
                                            version=number, key=str(key)))

    # ---- aliases ------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        alias = _check_alias(alias)
        model, number = self._version_of(name, version)
        self._append(ModelAliasSet(registered_model_id=model.registered_model_id, model_name=name, alias=alias,
                                   version=number))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        model = self._model(name)
        if alias not in model.aliases:
            raise ModelAliasNotFoundError(f"Registered model alias {alias} not found for model {name}.")
        self._append(ModelAliasDeleted(registered_model_id=model.registered_model_id, model_name=name, alias=alias))

    def get_model_version_by_alias(self, name: str, alias: str, *, as_of: Any = None) -> ModelVersion:
        model = self._model(name, as_of)
        number = model.aliases.get(alias)
        if number is None:
            raise ModelAliasNotFoundError(f"Registered model alias {alias} not found for model {name}"
                                          + (" at that moment" if as_of is not None else "") + ".")
        return model.version_entity(number)

    # ---- copying and URIs -----------------------------------------------------------------

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        source = self.resolve_model_version(src_model_uri)
        with contextlib.suppress(RegisteredModelAlreadyExistsError):
            self.create_registered_model(dst_name)
        return self.create_model_version(dst_name, source.source or src_model_uri, run_id=source.run_id,
                                         model_id=source.model_id, description=source.description,
                                         tags=source.tags)

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        """Where the version's files are (the logged model's folder, or its source)."""
        return _source_location(self.get_model_version(name, version), self)

    def resolve_model_version(self, model_uri: str, *, as_of: Any = None) -> ModelVersion:
        """The version a ``models:/name/…`` or ``models:/name@alias`` URI names."""
        name, selector, kind = parse_models_uri(model_uri)
        if kind == "alias":
            return self.get_model_version_by_alias(name, selector, as_of=as_of)
        if kind == "version":
            return self.get_model_version(name, selector, as_of=as_of)
        model = self._model(name, as_of)
        if kind == "latest":
            if not model.versions:
                raise ModelVersionNotFoundError(f"Registered model {name} has no versions ({model_uri})")
            return model.version_entity(max(model.versions))
        latest = model.latest_versions([selector])
        if not latest:
            raise ModelVersionNotFoundError(f"Registered model {name} has no version in stage {selector} ({model_uri})")
        return latest[0]


def parse_models_uri(uri: str) -> tuple[str, str, str]:
    """``models:/name/3`` → (name, "3", "version"); ``@alias`` → "alias"; ``/latest``; ``/Stage`` → "stage"."""
    if not isinstance(uri, str) or not uri.startswith("models:/"):
        raise InvalidInputError(f"not a models:/ URI: {uri!r}")
    rest = uri[len("models:/"):].strip("/")
    if "@" in rest and "/" not in rest:
        name, _, alias = rest.partition("@")
        if not name or not alias:
            raise InvalidInputError(f"{uri!r}: an alias URI is models:/<name>@<alias>")
        return name, alias, "alias"
    name, _, selector = rest.partition("/")
    if not name or not selector or "/" in selector:
        raise InvalidInputError(f"{uri!r}: expected models:/<name>/<version|stage|latest> or models:/<name>@<alias>")
    if selector.isdigit():
        return name, selector, "version"
    if selector.lower() == "latest":
        return name, selector, "latest"
    return name, _check_stage(selector), "stage"


def _source_location(version: ModelVersion, client: Any) -> str:
    from tracklog.models._store import model_location

    source = version.source or ""
    if source.startswith(("models:/", "runs:/")):
        return model_location(source, client)
    return source


def resolve_models_uri(rest: str, client: Any) -> str | None:
    """The location of the model a ``models:/<rest>`` URI names in the registry."""
    version = client.resolve_model_version(f"models:/{rest}")
    return _source_location(version, client)


def register_model(model_uri: str, name: str, await_registration_for: int = 300, *,
                   tags: dict[str, Any] | None = None, client: Any = None) -> ModelVersion:
    """Create the model if needed, then a new version from `model_uri` (MLflow's ``register_model``)."""
    from tracklog.client import Client
    from tracklog.models._store import _run_model, find_logged_model

    client = client or Client()
    _check_name(name)
    run_id: str | None = None
    model_id: str | None = None
    source = model_uri
    if model_uri.startswith("runs:/"):
        run_id, _, path = model_uri[len("runs:/"):].strip("/").partition("/")
        logged = _run_model(run_id, path.partition("/")[0], client) if path else None
        if logged is not None:
            model_id, source = logged.model_id, f"models:/{logged.model_id}"
    elif model_uri.startswith("models:/"):
        rest = model_uri[len("models:/"):].strip("/")
        logged = find_logged_model(rest, client) if rest.startswith("m-") else None
        if logged is not None:
            model_id, run_id = logged.model_id, logged.run_id or None
        else:
            copied = client.resolve_model_version(model_uri)
            source, run_id, model_id = copied.source or model_uri, copied.run_id, copied.model_id
    elif "://" not in model_uri:
        from pathlib import Path

        source = str(Path(model_uri).absolute())
    with contextlib.suppress(RegisteredModelAlreadyExistsError):
        client.create_registered_model(name)
    deadline = time.monotonic() + 5
    while True:  # another process may have created the name a moment ago
        try:
            return client.create_model_version(name, source, run_id=run_id, tags=tags, model_id=model_id)
        except RegisteredModelNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
