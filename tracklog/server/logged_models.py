"""MLflow 3's logged models over REST: create, get, finalize, tags, params, search, delete.

MLflow's client logs a model in three steps: ``POST /logged-models`` (the server answers with
the model's id and an ``artifact_uri`` under the experiment, ``…/models/<model_id>/artifacts``),
uploads the files through the artifact proxy, then ``PATCH /logged-models/<id>`` to READY —
the same steps tracklog's own ``log_model`` takes through `tracklog.Client`, whose methods each
handler calls.
"""

from __future__ import annotations

import msgspec

from projections.entities import LoggedModel
from tracklog.server import artifacts
from tracklog.server.routing import Call
from tracklog.tracking import messages as m

__all__ = ["model_out"]


def model_out(call: Call, model: LoggedModel) -> LoggedModel:
    info = msgspec.structs.replace(model.info, artifact_uri=call.server.destination.present(model.info.artifact_uri))
    return msgspec.structs.replace(model, info=info)


def create(call: Call, body: m.CreateLoggedModel) -> m.LoggedModelReply:
    model = call.client.create_logged_model(body.experiment_id, body.name or None, body.source_run_id or None,
                                            {t.key: t.value for t in body.tags}, {p.key: p.value for p in body.params},
                                            body.model_type or None)
    return m.LoggedModelReply(model=model_out(call, model))


def get(call: Call, body: m.Body) -> m.LoggedModelReply:
    return m.LoggedModelReply(model=model_out(call, call.client.get_logged_model(call.params["model_id"])))


def finalize(call: Call, body: m.FinalizeLoggedModel) -> m.LoggedModelReply:
    return m.LoggedModelReply(model=model_out(call, call.client.finalize_logged_model(call.params["model_id"],
                                                                                      body.status)))


def set_tags(call: Call, body: m.SetLoggedModelTags) -> m.Empty:
    call.client.set_logged_model_tags(call.params["model_id"], {t.key: t.value for t in body.tags})
    return m.Empty()


def delete_tag(call: Call, body: m.Body) -> m.Empty:
    call.client.delete_logged_model_tag(call.params["model_id"], call.params["tag_key"])
    return m.Empty()


def log_params(call: Call, body: m.LogLoggedModelParams) -> m.Empty:
    call.client.log_model_params(call.params["model_id"], {p.key: p.value for p in body.params})
    return m.Empty()


def delete(call: Call, body: m.Body) -> m.Empty:
    call.client.delete_logged_model(call.params["model_id"])
    return m.Empty()


def list_artifacts(call: Call, body: m.ListLoggedModelArtifacts) -> m.FilesReply:
    model = call.client.get_logged_model(call.params["model_id"])
    return artifacts.run_files(call, model.artifact_location, body.artifact_directory_path)


def search(call: Call, body: m.SearchLoggedModels) -> m.LoggedModelsReply:
    allowed = call.readable_experiments(set(body.experiment_ids))
    wanted = [e for e in body.experiment_ids if allowed(e)]
    if body.experiment_ids and not wanted:
        return m.LoggedModelsReply()
    orders = [{"field_name": o.field_name, "ascending": o.ascending} for o in body.order_by]
    datasets = [{"dataset_name": d.dataset_name, "dataset_digest": d.dataset_digest or None} for d in body.datasets]
    found = call.client.search_logged_models(wanted, body.filter or None, body.max_results, orders,
                                             body.page_token or None, datasets=datasets)
    return m.LoggedModelsReply(models=[model_out(call, x) for x in found if allowed(x.experiment_id)],
                               next_page_token=found.token or "")
