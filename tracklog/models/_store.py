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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventlog.errors import (
    InvalidInputError,
    LoggedModelNotFoundError,
    ModelNotFoundError,
    RunNotFoundError,
)
from projections.entities import LoggedModel, ModelOutput
from tracklog import artifacts
from tracklog.artifacts import download, upload, validate_artifact_path
from tracklog.models.model import Model, ModelInfo
from tracklog.tracking import fluent
from tracklog.tracking.client import Client

__all__ = ["local_model_path", "log_model", "model_location"]

_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")


def _run_model(run_id: str, name: str, client: Client) -> LoggedModel | None:
    """The run's newest logged model called `name` (MLflow 3: ``runs:/<run>/<name>`` means it)."""
    experiment_id = client.get_run(run_id).info.experiment_id
    escaped = name.replace("'", "''")
    found = client.search_logged_models([experiment_id], f"source_run_id = '{run_id}' AND name = '{escaped}'",
                                        max_results=1, order_by=[{"field_name": "creation_timestamp", "ascending": False}])
    return found[0] if found else None


def _runs_model(run_id: str, path: str, tracking_uri: str | None) -> str | None:
    """``runs:/<run_id>/<name>[/sub]``: the run's latest logged model named `name`, if any."""
    name, _, sub = path.partition("/")
    if not name:
        return None
    logged = _run_model(run_id, name, Client(tracking_uri))
    if logged is None:
        return None
    return logged.artifact_location.rstrip("/") + (f"/{sub}" if sub else "")


def model_location(model_uri: str, client: Client | None = None) -> str:
    """The concrete URI (local path, ``file://`` or fsspec URL) of the model folder `model_uri` names."""
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidInputError(f"a model URI must be a non-empty string, got {model_uri!r}")
    client = client or Client()
    if model_uri.startswith("runs:/"):
        rest = model_uri[len("runs:/"):].strip("/")
        run_id, _, path = rest.partition("/")
        if not run_id or not path:
            raise InvalidInputError(f"{model_uri!r}: a runs:/ URI is runs:/<run_id>/<path>")
        try:
            client.get_run(run_id)
        except RunNotFoundError as exc:
            raise ModelNotFoundError(f"{model_uri!r}: run {run_id!r} not found") from exc
    if model_uri.startswith("models:/") and _MODEL_ID.match(model_uri[len("models:/"):].strip("/")):
        try:
            return client.model_location(model_uri)
        except LoggedModelNotFoundError as exc:
            raise ModelNotFoundError(f"{model_uri!r}: no logged model with id {model_uri[len('models:/'):]!r}") from exc
    return client.model_location(model_uri)


def local_model_path(model_uri: str, dst_path: str | None = None, client: Any = None) -> Path:
    """A local folder holding the model `model_uri` names (downloaded first if it is remote)."""
    location = model_location(str(model_uri), client)
    local = _as_local(location)
    if local is not None and dst_path is None:
        if not local.exists():
            raise ModelNotFoundError(f"no model at {location}" + (f" (from {model_uri})" if location != model_uri else ""))
        return local
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
              registered_model_name: str | None, run_id: str | None = None, **save_kwargs: Any) -> ModelInfo:
    """Save with `save(path, mlflow_model=…, **save_kwargs)` into a new logged model, as MLflow 3
    does: create it (PENDING), upload its files to its artifact location, finalize it READY
    (UPLOAD_FAILED if saving or uploading fails).

    The model belongs to `run_id`, else to the active run if there is one (else to no run, in
    the current experiment).
    """
    if name is None:
        name = artifact_path
    elif artifact_path is not None and artifact_path != name:
        raise InvalidInputError(f"give name or artifact_path (deprecated), not both: {name!r} vs {artifact_path!r}")
    name = validate_artifact_path(name or "model")
    active = fluent.active_run()
    client: Client = active._client if active is not None else fluent._client()
    if run_id is not None:
        experiment_id = client.get_run(run_id).info.experiment_id
    else:
        run_id = active.info.run_id if active is not None else None
        experiment_id = active.info.experiment_id if active is not None else fluent._experiment_id()
    logged = client.create_logged_model(experiment_id, name, source_run_id=run_id)
    model_id, location = logged.model_id, logged.artifact_location
    fluent._last_model_id.set(model_id)
    model = Model(artifact_path=location, run_id=run_id, model_id=model_id, model_uuid=model_id)
    try:
        with tempfile.TemporaryDirectory(prefix="tracklog-log-model-") as tmp:
            local = Path(tmp) / "model"
            save(local, mlflow_model=model, **save_kwargs)
            upload(local, location)
    except BaseException:
        client.finalize_logged_model(model_id, "UPLOAD_FAILED")
        raise
    if model.flavors:
        client.set_logged_model_tags(model_id, {"tracklog.flavors": ",".join(model.flavors)})
    client.finalize_logged_model(model_id, "READY")
    if run_id is not None:  # the run's outputs name the model, as MLflow 3 records them
        client.log_outputs(run_id, [ModelOutput(model_id=model_id, step=0)])
    info = ModelInfo(
        artifact_path=location, flavors=model.flavors, model_uri=f"models:/{model_id}", model_uuid=model_id,
        run_id=run_id, saved_input_example_info=model.saved_input_example_info, signature=model.signature,
        utc_time_created=model.utc_time_created, model_id=model_id, name=name, metadata=model.metadata,
    )
    if registered_model_name is not None:
        info.registered_model_version = fluent.register_model(info.model_uri, registered_model_name, client=client).version
    return info


# runs:/<run>/<model name> means the logged model everywhere: tried before the run's artifacts
artifacts.RUNS_URI_RESOLVERS.insert(0, _runs_model)
