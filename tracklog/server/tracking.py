"""MLflow's tracking API: experiments, runs, metrics, params, tags, inputs and outputs, histories.

Every handler calls the server's `tracklog.Client` (its checks and errors are the library's)
and answers with the entities themselves (they are MLflow's wire format), their artifact URIs
shown as the proxy's ``mlflow-artifacts:/…`` where they lie in the artifact destination.
"""

from __future__ import annotations

import os

import msgspec

from eventlog.errors import ExperimentNotFoundError, InvalidInputError
from projections.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    ModelOutput,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from query.paging import decode_token, encode_token, signature
from tracklog.server import artifacts
from tracklog.server.errors import ApiError
from tracklog.server.routing import Call
from tracklog.tracking import messages as m

__all__ = ["experiment_out", "run_out"]

VIEW_TYPES = {"ACTIVE_ONLY": ViewType.ACTIVE_ONLY, "DELETED_ONLY": ViewType.DELETED_ONLY, "ALL": ViewType.ALL,
              1: ViewType.ACTIVE_ONLY, 2: ViewType.DELETED_ONLY, 3: ViewType.ALL}
RUN_STATUSES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
MAX_SEARCH_RESULTS = 50_000
MAX_HISTORY_RESULTS = 25_000
MAX_BULK_RUNS = 100


def _view(value: str | int) -> ViewType:
    view = VIEW_TYPES.get(value.upper() if isinstance(value, str) else value)
    if view is None:
        raise InvalidInputError(f"view type must be ACTIVE_ONLY, DELETED_ONLY or ALL, got {value!r}")
    return view


def _required(value: str, name: str) -> str:
    if not value:
        raise ApiError("INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{name}'. "
                       "See the API docs for more information about request parameters.")
    return value


# ---- presenting ---------------------------------------------------------------------------------


def experiment_out(call: Call, exp: Experiment) -> Experiment:
    location = call.server.experiment_location(exp.experiment_id, exp.artifact_location)
    return msgspec.structs.replace(exp, artifact_location=call.server.destination.present(location))


def run_out(call: Call, run: Run) -> Run:
    info = msgspec.structs.replace(run.info, artifact_uri=call.server.destination.present(run.info.artifact_uri))
    return msgspec.structs.replace(run, info=info)


# ---- experiments ----------------------------------------------------------------------------------


def create_experiment(call: Call, body: m.CreateExperiment) -> m.CreateExperimentReply:
    _required(body.name, "name")
    location = None
    if body.artifact_location:  # only where the operator lets artifacts live: never a URL, another bucket, /etc
        location = call.server.destination.check(_resolved(call, body.artifact_location), "artifact_location")
    experiment_id = call.client.create_experiment(body.name, location, {t.key: t.value for t in body.tags})
    call.granted("experiment", experiment_id)
    return m.CreateExperimentReply(experiment_id=experiment_id)


def _resolved(call: Call, location: str) -> str:
    """A relative path is resolved against the server's working folder (MLflow's rule)."""
    if "://" in location or ":" in location.split("/")[0] or location.startswith("/"):
        return call.server.destination.real(location)
    return os.path.abspath(location)


def get_experiment(call: Call, body: m.ExperimentId) -> m.ExperimentReply:
    exp = call.client.get_experiment(_required(body.experiment_id, "experiment_id"))
    return m.ExperimentReply(experiment=experiment_out(call, exp))


def get_experiment_by_name(call: Call, body: m.GetExperimentByName) -> m.ExperimentReply:
    exp = call.client.get_experiment_by_name(_required(body.experiment_name, "experiment_name"))
    if exp is None:
        raise ExperimentNotFoundError(f"Could not find experiment with name '{body.experiment_name}'")
    call.require("experiment", exp.experiment_id, "READ")
    return m.ExperimentReply(experiment=experiment_out(call, exp))


def search_experiments_(call: Call, body: m.SearchExperiments) -> m.ExperimentsReply:
    if body.max_results > MAX_SEARCH_RESULTS:
        raise InvalidInputError(f"max_results must be at most {MAX_SEARCH_RESULTS}, got {body.max_results}")
    found = call.client.search_experiments(_view(body.view_type), body.max_results or 1000, body.filter or None,
                                           body.order_by or None, body.page_token or None)
    allowed = call.readable_experiments()
    return m.ExperimentsReply(experiments=[experiment_out(call, e) for e in found if allowed(e.experiment_id)],
                              next_page_token=found.token or "")


def delete_experiment(call: Call, body: m.ExperimentId) -> m.Empty:
    call.client.delete_experiment(_required(body.experiment_id, "experiment_id"))
    return m.Empty()


def restore_experiment(call: Call, body: m.ExperimentId) -> m.Empty:
    call.client.restore_experiment(_required(body.experiment_id, "experiment_id"))
    return m.Empty()


def update_experiment(call: Call, body: m.UpdateExperiment) -> m.Empty:
    call.client.get_experiment(_required(body.experiment_id, "experiment_id"))
    if body.new_name:
        call.client.rename_experiment(body.experiment_id, body.new_name)
    return m.Empty()


def set_experiment_tag(call: Call, body: m.SetExperimentTag) -> m.Empty:
    call.client.set_experiment_tag(_required(body.experiment_id, "experiment_id"), body.key, body.value)
    return m.Empty()


def delete_experiment_tag(call: Call, body: m.DeleteExperimentTag) -> m.Empty:
    call.client.delete_experiment_tag(_required(body.experiment_id, "experiment_id"), body.key)
    return m.Empty()


# ---- runs -----------------------------------------------------------------------------------------


def create_run(call: Call, body: m.CreateRun) -> m.RunReply:
    call.act_as(body.user_id)
    tags = {t.key: t.value for t in body.tags}
    run = call.client.create_run(body.experiment_id or "0", start_time=body.start_time, tags=tags,
                                 run_name=body.run_name or None)
    return m.RunReply(run=run_out(call, run))


def get_run(call: Call, body: m.RunRef) -> m.RunReply:
    return m.RunReply(run=run_out(call, call.client.get_run(_required(body.rid, "run_id"))))


def update_run(call: Call, body: m.UpdateRun) -> m.RunInfoReply:
    run_id = _required(body.rid, "run_id")
    if body.status is not None:
        status = RUN_STATUSES.get(body.status) if isinstance(body.status, int) else str(body.status).upper()
        if status is None or status not in RunStatus.__members__:
            raise InvalidInputError(f"run status must be one of {', '.join(RunStatus)}, got {body.status!r}")
        if RunStatus.is_terminated(status):
            call.client.set_terminated(run_id, status, body.end_time)
        else:
            call.client.update_run(run_id, status=status)
    if body.run_name:
        call.client.update_run(run_id, name=body.run_name)
    return m.RunInfoReply(run_info=run_out(call, call.client.get_run(run_id)).info)


def delete_run(call: Call, body: m.RunRef) -> m.Empty:
    call.client.delete_run(_required(body.rid, "run_id"))
    return m.Empty()


def send_heartbeats(call: Call, body: m.SendHeartbeats) -> m.Empty:
    """tracklog's own: a client process keeps its runs alive (`tracklog.tracking.heartbeat`)."""
    for run_id in body.run_ids:
        call.require("run", run_id, "EDIT")
    call.client.store.send_heartbeats(body.run_ids)
    return m.Empty()


def restore_run(call: Call, body: m.RunRef) -> m.Empty:
    call.client.restore_run(_required(body.rid, "run_id"))
    return m.Empty()


def log_metric(call: Call, body: m.LogMetric) -> m.Empty:
    # an exact repeat of a point (MLflow's client repeats a run's metrics with the model id after
    # log_model; a client retries) is folded once by the catalog
    # a point with a model_id is also one of that logged model's metrics (MLflow 3)
    call.client.log_metric(_required(body.rid, "run_id"), body.key, body.value, body.timestamp, body.step,
                           dataset_name=body.dataset_name or None, dataset_digest=body.dataset_digest or None,
                           model_id=body.model_id or None)
    return m.Empty()


def log_param(call: Call, body: m.LogParam) -> m.Empty:
    call.client.log_param(_required(body.rid, "run_id"), body.key, body.value)
    return m.Empty()


def set_tag(call: Call, body: m.SetTag) -> m.Empty:
    call.client.set_tag(_required(body.rid, "run_id"), body.key, body.value)
    return m.Empty()


def delete_tag(call: Call, body: m.DeleteTag) -> m.Empty:
    call.client.delete_tag(_required(body.rid, "run_id"), body.key)
    return m.Empty()


def log_batch(call: Call, body: m.LogBatch) -> m.Empty:
    metrics = [Metric(x.key, x.value, x.timestamp, x.step, model_id=x.model_id or None,
                      dataset_name=x.dataset_name or None, dataset_digest=x.dataset_digest or None)
               for x in body.metrics]
    call.client.log_batch(_required(body.rid, "run_id"), metrics=metrics,
                          params=[Param(p.key, p.value) for p in body.params],
                          tags=[RunTag(t.key, t.value) for t in body.tags])
    return m.Empty()


def log_inputs(call: Call, body: m.LogInputs) -> m.Empty:
    datasets = [
        DatasetInput(
            dataset=Dataset(name=d.dataset.name, digest=d.dataset.digest, source_type=d.dataset.source_type,
                            source=d.dataset.source, schema=d.dataset.schema or None, profile=d.dataset.profile or None),
            tags=[InputTag(t.key, t.value) for t in d.tags],
        ) for d in body.datasets
    ]
    call.client.log_inputs(_required(body.rid, "run_id"), datasets, [x.model_id for x in body.models])
    return m.Empty()


def log_outputs(call: Call, body: m.LogOutputs) -> m.Empty:
    call.client.log_outputs(_required(body.rid, "run_id"), [ModelOutput(model_id=x.model_id, step=x.step)
                                                              for x in body.models])
    return m.Empty()


def search_runs_(call: Call, body: m.SearchRuns) -> m.RunsReply:
    if body.max_results > MAX_SEARCH_RESULTS:
        raise InvalidInputError(f"Invalid value {body.max_results} for parameter 'max_results' supplied. "
                                f"It must be at most {MAX_SEARCH_RESULTS}.")
    allowed = call.readable_experiments(set(body.experiment_ids))
    experiment_ids = [e for e in body.experiment_ids if allowed(e)]
    found = call.client.search_runs(experiment_ids, body.filter, _view(body.run_view_type), body.max_results or 1000,
                                    body.order_by or None, body.page_token or None)
    return m.RunsReply(runs=[run_out(call, r) for r in found], next_page_token=found.token or "")


# ---- metric histories ------------------------------------------------------------------------------


def _page(points: list[Metric], max_results: int | None, token: str, *scope: str) -> tuple[list[Metric], str]:
    """A page of a history (by offset; the history of a run and key only grows at its end)."""
    sig = signature("history", *scope)
    offset = int(decode_token(token, sig)[0]) if token else 0
    end = len(points) if max_results is None else offset + max_results
    return points[offset:end], encode_token(sig, [end]) if end < len(points) else ""


def get_metric_history(call: Call, body: m.GetMetricHistory) -> m.MetricsReply:
    run_id = _required(body.rid, "run_id")
    key = _required(body.metric_key, "metric_key")
    if body.max_results is not None and body.max_results <= 0:
        raise InvalidInputError(f"Invalid value {body.max_results} for parameter 'max_results' supplied. "
                                "It must be a positive integer.")
    history = list(call.client.get_metric_history(run_id, key))
    items, token = _page(history, body.max_results, body.page_token, run_id, key)
    return m.MetricsReply(metrics=[msgspec.structs.replace(p, run_id=None) for p in items], next_page_token=token)


def get_metric_history_bulk(call: Call, body: m.GetMetricHistoryBulk) -> m.MetricsReply:
    if not body.run_id:
        raise InvalidInputError("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(body.run_id) > MAX_BULK_RUNS:
        raise InvalidInputError(f"GetMetricHistoryBulk request cannot specify more than {MAX_BULK_RUNS} run_ids. "
                                f"Received {len(body.run_id)} run_ids.")
    if not body.metric_key:
        raise InvalidInputError("GetMetricHistoryBulk request must specify a metric_key.")
    key = body.metric_key
    out: list[Metric] = []
    for run_id in sorted(set(body.run_id)):
        call.require("run", run_id, "READ")
        points = sorted(call.client.get_metric_history(run_id, key), key=lambda p: (p.timestamp, p.step, p.value))
        out += points[:min(body.max_results, MAX_HISTORY_RESULTS)]
    return m.MetricsReply(metrics=out)


def get_metric_history_bulk_interval(call: Call, body: m.GetMetricHistoryBulkInterval) -> m.MetricsReply:
    """MLflow's sampling: every (steps // max_results)-th step of all the runs' steps together,
    plus each run's last step; each run's points at those steps, by step and timestamp."""
    run_ids = body.run_ids
    if not run_ids:
        raise ApiError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_ids'.")
    if len(run_ids) > MAX_BULK_RUNS:
        raise InvalidInputError(f"GetMetricHistoryBulkInterval request must specify at most {MAX_BULK_RUNS} "
                                f"run_ids. Received {len(run_ids)} run_ids.")
    if not 1 <= body.max_results <= 2500:
        raise InvalidInputError("max_results must be between 1 and 2500.")
    _required(body.metric_key, "metric_key")
    start, end = body.start_step, body.end_step
    if (start is None) != (end is None):
        raise InvalidInputError("If either start step or end step are specified, both must be specified.")
    if start is not None and end is not None and start > end:
        raise InvalidInputError(f"end_step must be greater than start_step. Found start_step={start} and end_step={end}.")
    histories = {}
    for run_id in run_ids:
        call.require("run", run_id, "READ")
        points = list(call.client.get_metric_history(run_id, body.metric_key))
        if start is not None and end is not None:
            points = [p for p in points if start <= p.step <= end]
        histories[run_id] = sorted(points, key=lambda p: (p.step, p.timestamp))
    steps = sorted({p.step for points in histories.values() for p in points})
    chosen = set(steps[::max(1, len(steps) // body.max_results)])
    chosen |= {points[-1].step for points in histories.values() if points}
    return m.MetricsReply(metrics=[msgspec.structs.replace(p, run_id=run_id) for run_id, points in histories.items()
                                   for p in points if p.step in chosen])


def list_artifacts(call: Call, body: m.ListArtifacts) -> m.FilesReply:
    run = call.client.get_run(_required(body.rid, "run_id"))
    return artifacts.run_files(call, run.info.artifact_uri, body.path)
