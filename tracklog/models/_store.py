"""Where models live: logging a model to the store, and turning any model URI into a local folder.

A logged model (MLflow 3's ``LoggedModel``) is kept under its experiment's artifact location
at ``models/<model_id>/artifacts/`` and recorded by a `ModelLogged` event. URIs:

- ``runs:/<run_id>/<name>[/sub/path]`` — the model the run logged under ``name``, else the
  run's artifact at that path (models logged by MLflow 2 as run artifacts);
- ``models:/<model_id>`` — a logged model; ``models:/<name>/<version>``, ``models:/<name>@<alias>``
  … — the registry (`tracklog.registry.resolve_models_uri`);
- a local path, ``file://…``, or any fsspec URL (downloaded to a temporary folder).
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventlog.errors import InvalidInputError, NotFoundError
from eventlog.events import ModelLogged
from tracklog.models.model import Model, ModelInfo

__all__ = ["find_logged_model", "local_model_path", "log_model", "model_location"]

_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")



class ModelNotFoundError(NotFoundError):
    """A model URI that names no model (says which part was not found)."""


def _client(tracking_uri: str | None = None) -> Any:
    from tracklog.client import Client

    return Client(tracking_uri)


def _remote(client: Any) -> bool:
    from tracklog._rest import RestClient

    return isinstance(client, RestClient)


def _remote_model(client: Any, model_id: str) -> ModelLogged | None:
    """A logged model described by a tracking server (``GET logged-models/<id>``)."""
    try:
        info = client._call("GET", f"logged-models/{model_id}")["model"]["info"]
    except NotFoundError:
        return None
    return ModelLogged(model_id=info["model_id"], experiment_id=str(info.get("experiment_id", "")),
                       run_id=info.get("source_run_id") or "", name=info.get("name", ""),
                       artifact_location=info["artifact_uri"])


def _remote_run_model(client: Any, run_id: str, name: str) -> ModelLogged | None:
    run = client.get_run(run_id)
    reply = client._call("POST", "logged-models/search", {
        "experiment_ids": [run.info.experiment_id], "max_results": 100,
        "filter": f"source_run_id = '{run_id}' AND name = '{name.replace(chr(39), chr(39) * 2)}'",
        "order_by": [{"field_name": "creation_time", "ascending": False}]})
    found = reply.get("models") or []
    return _remote_model(client, found[0]["info"]["model_id"]) if found else None


def find_logged_model(model_id: str, client: Any = None) -> ModelLogged | None:
    client = client or _client()
    if _remote(client):
        return _remote_model(client, model_id)
    backend = client._b
    return backend.state(stale_ok=1.0).models.get(model_id) or backend.state().models.get(model_id)


def _run_model(run_id: str, name: str, client: Any) -> ModelLogged | None:
    if _remote(client):
        return _remote_run_model(client, run_id, name)
    backend = client._b
    for state in (backend.state(stale_ok=1.0), backend.state()):
        run = state.runs.get(run_id)
        if run is not None:
            found = [m for m in run.models.values() if m.name == name]
            if found:
                return max(found, key=lambda m: (m.ts, m.writer_id, m.writer_seq))
    return None


def _runs_model(run_id: str, path: str, client: Any) -> str | None:
    """``runs:/<run_id>/<name>[/sub]``: the run's latest logged model named `name`, if any."""
    name, _, sub = path.partition("/")
    logged = _run_model(run_id, name, client) if name else None
    if logged is None:
        return None
    return logged.artifact_location.rstrip("/") + (f"/{sub}" if sub else "")


def _register_runs_resolver() -> None:
    from tracklog import artifacts

    if _runs_model not in artifacts.RUNS_URI_RESOLVERS:
        artifacts.RUNS_URI_RESOLVERS.append(_runs_model)


def model_location(model_uri: str, client: Any = None) -> str:
    """The concrete URI (local path, ``file://`` or fsspec URL) of the model folder `model_uri` names."""
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidInputError(f"a model URI must be a non-empty string, got {model_uri!r}")
    if model_uri.startswith("runs:/"):
        client = client or _client()
        rest = model_uri[len("runs:/"):].strip("/")
        run_id, _, path = rest.partition("/")
        if not run_id or not path:
            raise InvalidInputError(f"{model_uri!r}: a runs:/ URI is runs:/<run_id>/<path>")
        if not _remote(client) and client._b.find_run(run_id) is None:
            raise ModelNotFoundError(f"{model_uri!r}: run {run_id!r} not found")
        from tracklog.artifacts import resolve_artifact_uri

        return resolve_artifact_uri(model_uri, client.tracking_uri)  # a logged model first: _runs_model
    if model_uri.startswith("models:/"):
        client = client or _client()
        rest = model_uri[len("models:/"):].strip("/")
        if _MODEL_ID.match(rest):
            logged = find_logged_model(rest, client)
            if logged is None:
                raise ModelNotFoundError(f"{model_uri!r}: no logged model with id {rest!r}")
            return logged.artifact_location
        from tracklog.registry import resolve_models_uri

        return str(resolve_models_uri(rest, client))
    return model_uri


def local_model_path(model_uri: str, dst_path: str | None = None, client: Any = None) -> Path:
    """A local folder holding the model `model_uri` names (downloaded first if it is remote)."""
    location = model_location(str(model_uri), client)
    local = _as_local(location)
    if local is not None and dst_path is None:
        if not local.exists():
            raise ModelNotFoundError(f"no model at {location}" + (f" (from {model_uri})" if location != model_uri else ""))
        return local
    from tracklog.artifacts import download

    target = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="tracklog-model-"))
    try:
        return Path(download(location, target))
    except FileNotFoundError as exc:
        raise ModelNotFoundError(f"no model at {location} (from {model_uri})") from exc


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # s3://…, memory://…, mlflow-artifacts:/… (not C:\)


def _as_local(location: str) -> Path | None:
    if location.startswith("file://"):
        return Path(location[len("file://"):])
    if location.startswith("file:"):
        return Path(location[len("file:"):])
    if not _SCHEME.match(location):
        return Path(location)
    return None


# ---- logging ------------------------------------------------------------------------------


def log_model(save: Callable[..., None], *, name: str | None, artifact_path: str | None,
              registered_model_name: str | None, **save_kwargs: Any) -> ModelInfo:
    """Save with `save(path, mlflow_model=…, **save_kwargs)`, upload, and record a `ModelLogged` event.

    The model belongs to the active run if there is one (else to no run, in the current
    experiment), as in MLflow 3.
    """
    from tracklog import fluent
    from tracklog.artifacts import upload, validate_artifact_path

    if name is None:
        name = artifact_path
    elif artifact_path is not None and artifact_path != name:
        raise InvalidInputError(f"give name or artifact_path (deprecated), not both: {name!r} vs {artifact_path!r}")
    if not name:
        name = "model"
    name = validate_artifact_path(name)
    active = fluent.active_run()
    client: Any = active._client if active is not None else fluent._client()
    run_id = active.info.run_id if active is not None else ""
    experiment_id = active.info.experiment_id if active is not None else fluent._experiment_id()
    if _remote(client):  # a tracking server: create, upload through its proxy, finalize (as MLflow 3)
        reply = client._call("POST", "logged-models", {"experiment_id": str(experiment_id), "name": name,
                                                        "source_run_id": run_id})
        model_id, location = reply["model"]["info"]["model_id"], reply["model"]["info"]["artifact_uri"]
    else:
        experiment = client.get_experiment(experiment_id)
        model_id = f"m-{uuid.uuid4().hex}"
        location = f"{experiment.artifact_location.rstrip('/')}/models/{model_id}/artifacts"
    model = Model(artifact_path=location, run_id=run_id or None, model_id=model_id, model_uuid=model_id)
    try:
        with tempfile.TemporaryDirectory(prefix="tracklog-log-model-") as tmp:
            local = Path(tmp) / "model"
            save(local, mlflow_model=model, **save_kwargs)
            upload(local, location)
    except BaseException:
        if _remote(client):
            client._call("PATCH", f"logged-models/{model_id}", {"status": "LOGGED_MODEL_UPLOAD_FAILED"})
        raise
    if _remote(client):
        client._call("PATCH", f"logged-models/{model_id}", {"status": "LOGGED_MODEL_READY"})
    else:
        client._b.log.append(ModelLogged(model_id=model_id, experiment_id=experiment_id, run_id=run_id, name=name,
                                         artifact_location=location, flavors=",".join(model.flavors)))
    info = ModelInfo(
        artifact_path=location, flavors=model.flavors, model_uri=f"models:/{model_id}", model_uuid=model_id,
        run_id=run_id or None, saved_input_example_info=model.saved_input_example_info, signature=model.signature,
        utc_time_created=model.utc_time_created, model_id=model_id, name=name, metadata=model.metadata,
    )
    if registered_model_name is not None:
        from tracklog.models import register

        info.registered_model_version = register(info.model_uri, registered_model_name)
    return info


_register_runs_resolver()  # runs:/<run>/<model name> means the logged model everywhere
