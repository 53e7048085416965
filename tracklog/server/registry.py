"""MLflow's model registry API: registered models, versions, stages, tags and aliases.

Every operation is the `tracklog.Client`'s (names and version numbers claimed put-if-absent in
the store, so two servers on one bucket never hand out the same version). Version numbers
travel as strings, as in MLflow's protobufs. Like MLflow's stores, the store's searches leave
prompts (models tagged ``mlflow.prompt.is_prompt = 'true'``) out unless the filter asks for
them.
"""

from __future__ import annotations

import json

from projections.entities import ModelVersion, RegisteredModel
from tracklog.server.routing import Call
from tracklog.server.sources import check_model_version_source
from tracklog.tracking import messages as m

__all__ = ["MODEL_VERSIONS_TAG", "model_out", "version_out"]

MODEL_VERSIONS_TAG = "mlflow.modelVersions"


def version_out(call: Call, v: ModelVersion) -> m.ModelVersionOut:
    return m.version_out(v, call.server.destination.present)


def model_out(call: Call, r: RegisteredModel) -> m.RegisteredModelOut:
    return m.model_out(r, call.server.destination.present)


def _location(call: Call, kind: str, ref: str) -> str:
    """The real artifact location of a run or logged model (where a local source must lie)."""
    if kind == "run":
        return call.server.destination.real(call.client.get_run(ref).info.artifact_uri)
    return call.server.destination.real(call.client.get_logged_model(ref).artifact_location)


# ---- registered models ------------------------------------------------------------------------------


def create_registered_model(call: Call, body: m.CreateRegisteredModel) -> m.RegisteredModelReply:
    model = call.client.create_registered_model(body.name, {t.key: t.value for t in body.tags}, body.description)
    call.granted("model", model.name)
    return m.RegisteredModelReply(registered_model=model_out(call, model))


def get_registered_model(call: Call, body: m.NameRef) -> m.RegisteredModelReply:
    return m.RegisteredModelReply(registered_model=model_out(call, call.client.get_registered_model(body.name)))


def rename_registered_model(call: Call, body: m.RenameRegisteredModel) -> m.RegisteredModelReply:
    model = call.client.rename_registered_model(body.name, body.new_name)
    call.renamed("model", body.name, model.name)
    return m.RegisteredModelReply(registered_model=model_out(call, model))


def update_registered_model(call: Call, body: m.UpdateRegisteredModel) -> m.RegisteredModelReply:
    model = call.client.update_registered_model(body.name, body.description)
    return m.RegisteredModelReply(registered_model=model_out(call, model))


def delete_registered_model(call: Call, body: m.NameRef) -> m.Empty:
    call.client.delete_registered_model(body.name)
    call.deleted("model", body.name)  # a new model of this name starts with no grants
    return m.Empty()


def search_registered_models(call: Call, body: m.SearchRegisteredModels) -> m.RegisteredModelsReply:
    found = call.client.search_registered_models(body.filter or None,
                                                 body.max_results, body.order_by or None, body.page_token or None)
    allowed = call.readable_models()
    return m.RegisteredModelsReply(registered_models=[model_out(call, r) for r in found if allowed(r.name)],
                                   next_page_token=found.token or "")


def set_registered_model_tag(call: Call, body: m.SetRegisteredModelTag) -> m.Empty:
    call.client.set_registered_model_tag(body.name, body.key, body.value)
    return m.Empty()


def delete_registered_model_tag(call: Call, body: m.DeleteRegisteredModelTag) -> m.Empty:
    call.client.delete_registered_model_tag(body.name, body.key)
    return m.Empty()


def get_latest_versions(call: Call, body: m.GetLatestVersions) -> m.ModelVersionsReply:
    versions = call.client.get_latest_versions(body.name, body.stages or None)
    return m.ModelVersionsReply(model_versions=[version_out(call, v) for v in versions])


# ---- versions -----------------------------------------------------------------------------------------


def create_model_version(call: Call, body: m.CreateModelVersion) -> m.ModelVersionReply:
    check_model_version_source(body.source, body.run_id, body.model_id, lambda kind, ref: _location(call, kind, ref))
    run_id = body.run_id
    if body.model_id and not run_id:  # MLflow fills the run in from the logged model
        run_id = call.client.get_logged_model(body.model_id).source_run_id or ""
    version = call.client.create_model_version(
        body.name, body.source, run_id=run_id or None, tags={t.key: t.value for t in body.tags},
        run_link=body.run_link or None, description=body.description or None, model_id=body.model_id or None)
    if body.model_id:
        _note_version_on_model(call, body.model_id, version)
    return m.ModelVersionReply(model_version=version_out(call, version))


def _note_version_on_model(call: Call, model_id: str, version: ModelVersion) -> None:
    """The logged model's ``mlflow.modelVersions`` tag lists the versions made from it, as MLflow's
    server keeps it (its UI links a model to its registered versions by this tag)."""
    tags = call.client.get_logged_model(model_id).tags
    try:
        noted = json.loads(tags.get(MODEL_VERSIONS_TAG, "[]"))
    except ValueError:
        noted = []
    noted = [*(noted if isinstance(noted, list) else []), {"name": version.name, "version": int(version.version)}]
    call.client.set_logged_model_tags(model_id, {MODEL_VERSIONS_TAG: json.dumps(noted)})


def get_model_version(call: Call, body: m.VersionRef) -> m.ModelVersionReply:
    return m.ModelVersionReply(model_version=version_out(call, call.client.get_model_version(body.name, body.version)))


def update_model_version(call: Call, body: m.UpdateModelVersion) -> m.ModelVersionReply:
    version = call.client.update_model_version(body.name, body.version, body.description)
    return m.ModelVersionReply(model_version=version_out(call, version))


def transition_model_version_stage(call: Call, body: m.TransitionModelVersionStage) -> m.ModelVersionReply:
    version = call.client.transition_model_version_stage(body.name, body.version, body.stage,
                                                          body.archive_existing_versions)
    return m.ModelVersionReply(model_version=version_out(call, version))


def delete_model_version(call: Call, body: m.VersionRef) -> m.Empty:
    call.client.delete_model_version(body.name, body.version)
    return m.Empty()


def search_model_versions(call: Call, body: m.SearchModelVersions) -> m.ModelVersionsReply:
    found = call.client.search_model_versions(body.filter or None,
                                              body.max_results, body.order_by or None, body.page_token or None)
    allowed = call.readable_models()
    return m.ModelVersionsReply(model_versions=[version_out(call, v) for v in found if allowed(v.name)],
                                next_page_token=found.token or "")


def get_model_version_download_uri(call: Call, body: m.VersionRef) -> m.DownloadUriReply:
    uri = call.client.get_model_version_download_uri(body.name, body.version)
    return m.DownloadUriReply(artifact_uri=call.server.destination.present(uri))


def set_model_version_tag(call: Call, body: m.SetModelVersionTag) -> m.Empty:
    call.client.set_model_version_tag(body.name, body.version, body.key, body.value)
    return m.Empty()


def delete_model_version_tag(call: Call, body: m.DeleteModelVersionTag) -> m.Empty:
    call.client.delete_model_version_tag(body.name, body.version, body.key)
    return m.Empty()


# ---- aliases --------------------------------------------------------------------------------------------


def set_registered_model_alias(call: Call, body: m.SetRegisteredModelAlias) -> m.Empty:
    call.client.set_registered_model_alias(body.name, body.alias, body.version)
    return m.Empty()


def delete_registered_model_alias(call: Call, body: m.AliasRef) -> m.Empty:
    call.client.delete_registered_model_alias(body.name, body.alias)
    return m.Empty()


def get_model_version_by_alias(call: Call, body: m.AliasRef) -> m.ModelVersionReply:
    version = call.client.get_model_version_by_alias(body.name, body.alias)
    return m.ModelVersionReply(model_version=version_out(call, version))
