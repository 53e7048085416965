"""MLflow 3's logged models over REST: create, get, finalize, tags, params, search, delete.

MLflow's client logs a model in three steps: ``POST /logged-models`` (the server answers with
the model's id and an ``artifact_uri`` under the experiment, ``…/models/<model_id>/artifacts``),
uploads the files through the artifact proxy, then ``PATCH /logged-models/<id>`` to READY. The
model is a `ModelLogged` event (what ``log_model`` writes in process, so tracklog's ``models:/``
URIs resolve it) followed by `LoggedModelStatusSet` PENDING; tags, params, status changes, run
inputs and outputs are the other `eventlog.events.LOGGED_MODEL_EVENTS`, folded here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventlog.errors import InvalidInputError, NotFoundError
from eventlog.events import (
    Event,
    LoggedModelDeleted,
    LoggedModelParamLogged,
    LoggedModelStatusSet,
    LoggedModelTagDeleted,
    LoggedModelTagSet,
    ModelInputLogged,
    ModelLogged,
    ModelOutputLogged,
)
from eventlog.validation import (
    MAX_PARAM_VAL_LENGTH,
    MAX_TAG_VAL_LENGTH,
    check_key,
    check_string_value,
)
from projections import LifecycleStage, TrackingState, ViewType
from query.filter import Key, parse
from tracklog._names import random_run_name
from tracklog.server import messages as m
from tracklog.server.search import matcher, page, sorted_by

if TYPE_CHECKING:
    from tracklog.server.app import Call

__all__ = ["LoggedModelNotFoundError", "LoggedModelState", "fold_logged_models"]

STATUS_NAMES = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "UPLOAD_FAILED"}
ATTRIBUTES = {"model_id": "string", "name": "string", "model_type": "string", "status": "string",
              "source_run_id": "string", "experiment_id": "string", "creation_timestamp": "numeric",
              "creation_time": "numeric", "last_updated_timestamp": "numeric"}


class LoggedModelNotFoundError(NotFoundError):
    pass


@dataclass
class LoggedModelState:
    logged: ModelLogged
    status: str = "READY"  # a model with no status event was logged in process, whole
    status_message: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    updated_ns: int = 0
    deleted: bool = False


@dataclass
class LoggedModels:
    models: dict[str, LoggedModelState]
    outputs: dict[str, dict[str, int]]  # run id -> {model id: step}
    inputs: dict[str, list[str]]  # run id -> model ids


_cache: dict[int, tuple[tuple[int, int], LoggedModels]] = {}


def fold_logged_models(state: TrackingState) -> LoggedModels:
    """Logged models with their status, tags and params, and the runs' model inputs and outputs."""
    stamp = (len(state.models), len(state.logged_model_events))
    held = _cache.get(id(state))
    if held is not None and held[0] == stamp:
        return held[1]
    models = {mid: LoggedModelState(e, updated_ns=e.ts) for mid, e in state.models.items()}
    out = LoggedModels(models, {}, {})
    for e in sorted(state.logged_model_events.values(), key=lambda e: (e.ts, e.writer_id, e.writer_seq)):
        _apply(out, e)
    _cache[id(state)] = (stamp, out)
    return out


def _apply(out: LoggedModels, e: Event) -> None:
    if isinstance(e, ModelOutputLogged):
        out.outputs.setdefault(e.run_id, {})[e.model_id] = e.model_step
        return
    if isinstance(e, ModelInputLogged):
        if e.model_id not in out.inputs.setdefault(e.run_id, []):
            out.inputs[e.run_id].append(e.model_id)
        return
    model = out.models.get(e.model_id)  # type: ignore[attr-defined]
    if model is None:
        return
    model.updated_ns = max(model.updated_ns, e.ts)
    if isinstance(e, LoggedModelStatusSet):
        model.status, model.status_message = e.status, e.status_message
    elif isinstance(e, LoggedModelTagSet):
        model.tags[e.key] = e.value
    elif isinstance(e, LoggedModelTagDeleted):
        model.tags.pop(e.key, None)
    elif isinstance(e, LoggedModelParamLogged):
        model.params.setdefault(e.key, e.value)
    elif isinstance(e, LoggedModelDeleted):
        model.deleted = True


def _status(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        name = STATUS_NAMES.get(value)
    else:
        name = str(value).upper().removeprefix("LOGGED_MODEL_")
    if name not in ("PENDING", "READY", "UPLOAD_FAILED"):
        raise InvalidInputError(f"status must be LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or "
                                f"LOGGED_MODEL_UPLOAD_FAILED, got {value!r}")
    return name


def model_out(call: Call, model: LoggedModelState) -> m.LoggedModelOut:
    e = model.logged
    info = m.LoggedModelInfoOut(
        model_id=e.model_id, experiment_id=e.experiment_id, name=e.name,
        creation_timestamp_ms=e.ts // 1_000_000, last_updated_timestamp_ms=model.updated_ns // 1_000_000,
        artifact_uri=call.server.destination.present(e.artifact_location), status=f"LOGGED_MODEL_{model.status}",
        model_type=e.model_type, source_run_id=e.run_id, status_message=model.status_message,
        tags=[m.KeyValueOut(key=k, value=v) for k, v in sorted(model.tags.items())],
    )
    data = m.LoggedModelDataOut(params=[m.KeyValueOut(key=k, value=v) for k, v in sorted(model.params.items())])
    return m.LoggedModelOut(info=info, data=data)


def find(call: Call, model_id: str) -> LoggedModelState:
    model = fold_logged_models(call.store.state()).models.get(model_id)
    if model is None or model.deleted:
        raise LoggedModelNotFoundError(f"Logged model with ID '{model_id}' not found.")
    return model


def _tags(items: list[m.KeyValue]) -> list[tuple[str, str]]:
    return [(check_key("tag key", t.key), check_string_value("tag value", t.key, t.value, MAX_TAG_VAL_LENGTH))
            for t in items]


def _params(items: list[m.KeyValue]) -> list[tuple[str, str]]:
    return [(check_key("param key", p.key), check_string_value("param value", p.key, p.value, MAX_PARAM_VAL_LENGTH))
            for p in items]


# ---- handlers ------------------------------------------------------------------------------------


def create(call: Call, body: m.CreateLoggedModel) -> m.LoggedModelReply:
    state = call.store.state()
    exp = state.experiment(body.experiment_id)
    if exp is None:
        raise NotFoundError(f"No Experiment with id={body.experiment_id} exists")
    if exp.lifecycle.value != LifecycleStage.ACTIVE:
        raise InvalidInputError(f"The experiment {body.experiment_id} must be in the 'active' state to log models in it")
    if body.source_run_id and state.run(body.source_run_id) is None:
        raise NotFoundError(f"Run with id={body.source_run_id} not found")
    tags, params = _tags(body.tags), _params(body.params)
    model_id = f"m-{uuid.uuid4().hex}"
    location = f"{call.server.experiment_location(exp).rstrip('/')}/models/{model_id}/artifacts"
    log = call.store
    log.append(ModelLogged(model_id=model_id, experiment_id=exp.experiment_id, run_id=body.source_run_id,
                           name=body.name or random_run_name(), artifact_location=location,
                           model_type=body.model_type))
    log.append(LoggedModelStatusSet(model_id=model_id, status="PENDING"))
    for key, value in params:
        log.append(LoggedModelParamLogged(model_id=model_id, key=key, value=value))
    for key, value in tags:
        log.append(LoggedModelTagSet(model_id=model_id, key=key, value=value))
    return m.LoggedModelReply(model=model_out(call, find(call, model_id)))


def get(call: Call, body: m.Body) -> m.LoggedModelReply:
    return m.LoggedModelReply(model=model_out(call, find(call, call.params["model_id"])))


def finalize(call: Call, body: m.FinalizeLoggedModel) -> m.LoggedModelReply:
    model_id = call.params["model_id"]
    find(call, model_id)
    call.store.append(LoggedModelStatusSet(model_id=model_id, status=_status(body.status)))
    return m.LoggedModelReply(model=model_out(call, find(call, model_id)))


def set_tags(call: Call, body: m.SetLoggedModelTags) -> m.Empty:
    model_id = call.params["model_id"]
    find(call, model_id)
    for key, value in _tags(body.tags):
        call.store.append(LoggedModelTagSet(model_id=model_id, key=key, value=value))
    return m.Empty()


def delete_tag(call: Call, body: m.Body) -> m.Empty:
    model_id, key = call.params["model_id"], call.params["tag_key"]
    if key not in find(call, model_id).tags:
        raise NotFoundError(f"No tag with key {key!r} on logged model {model_id}")
    call.store.append(LoggedModelTagDeleted(model_id=model_id, key=key))
    return m.Empty()


def log_params(call: Call, body: m.LogLoggedModelParams) -> m.Empty:
    model_id = call.params["model_id"]
    find(call, model_id)
    for key, value in _params(body.params):
        call.store.append(LoggedModelParamLogged(model_id=model_id, key=key, value=value))
    return m.Empty()


def delete(call: Call, body: m.Body) -> m.Empty:
    model_id = call.params["model_id"]
    find(call, model_id)
    call.store.append(LoggedModelDeleted(model_id=model_id))
    return m.Empty()


def list_artifacts(call: Call, body: m.ListLoggedModelArtifacts) -> m.FilesReply:
    from tracklog.server.artifacts import run_files

    model = find(call, call.params["model_id"])
    return run_files(call, model.logged.artifact_location, body.artifact_directory_path)


def _value(model: LoggedModelState, key: Key) -> Any:
    if key.entity == "tag":
        return model.tags.get(key.name)
    if key.entity == "param":
        return model.params.get(key.name)
    if key.entity == "metric":
        return None  # metrics are linked to runs, not to logged models, in tracklog
    e = model.logged
    return {
        "model_id": e.model_id, "name": e.name, "model_type": e.model_type, "status": f"LOGGED_MODEL_{model.status}",
        "source_run_id": e.run_id, "experiment_id": e.experiment_id, "creation_timestamp": e.ts // 1_000_000,
        "creation_time": e.ts // 1_000_000, "last_updated_timestamp": model.updated_ns // 1_000_000,
    }.get(key.name)


def search(call: Call, body: m.SearchLoggedModels) -> m.LoggedModelsReply:
    state = call.store.state()
    match = matcher(parse(body.filter, ATTRIBUTES), _value)
    wanted = set(body.experiment_ids)
    allowed = call.readable_experiments(wanted or None)
    found = [s for s in fold_logged_models(state).models.values()
             if not s.deleted and (not wanted or s.logged.experiment_id in wanted)
             and allowed(s.logged.experiment_id) and _visible(state, s.logged.experiment_id) and match(s)]
    orders = [(_order_key(o.field_name), not o.ascending) for o in body.order_by]
    orders += [(Key("attribute", "creation_timestamp"), True), (Key("attribute", "model_id"), False)]
    items, token = page(sorted_by(found, orders, _value), body.max_results, body.page_token,
                        body.filter, sorted(wanted), [(o.field_name, o.ascending) for o in body.order_by])
    return m.LoggedModelsReply(models=[model_out(call, s) for s in items], next_page_token=token)


def _visible(state: TrackingState, experiment_id: str) -> bool:
    exp = state.experiment(experiment_id)
    return exp is not None and ViewType.ACTIVE_ONLY.admits(exp.lifecycle.value)


def _order_key(name: str) -> Key:
    for prefix, entity in (("metrics.", "metric"), ("params.", "param"), ("tags.", "tag")):
        if name.startswith(prefix):
            return Key(entity, name[len(prefix):])
    if name.removeprefix("attributes.") not in ATTRIBUTES:
        raise InvalidInputError(f"logged models are ordered by {', '.join(ATTRIBUTES)}, metrics.<key>, params.<key> "
                                f"or tags.<key>; got {name!r}")
    return Key("attribute", name.removeprefix("attributes."))
