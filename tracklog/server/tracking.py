"""MLflow's tracking API: experiments, runs, metrics, params, tags, inputs and outputs, histories.

Writes go through `tracklog.Client` (its validation and errors are the library's); reads come
from the in-memory fold (`ServerStore.state`), histories from the catalog plus this process's
points not folded there yet. Each handler takes the `Call` and the decoded body and returns
the reply Struct.
"""

from __future__ import annotations

from math import isfinite
from typing import TYPE_CHECKING

import anyio

from eventlog.errors import (
    ExperimentNotFoundError,
    InvalidInputError,
    RunNotActiveError,
    RunNotFoundError,
)
from eventlog.events import ModelInputLogged, ModelOutputLogged
from eventlog.validation import check_batch_size
from projections import (
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    RunStatus,
    RunTag,
    TrackingState,
    ViewType,
)
from projections.tracking import ExperimentState, RunState
from tracklog.server import messages as m
from tracklog.server.errors import ApiError
from tracklog.server.logged_models import find as find_logged_model
from tracklog.server.logged_models import fold_logged_models
from tracklog.server.search import page, search_experiments, search_runs

if TYPE_CHECKING:
    from tracklog.server.app import Call

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


def _kv(items: dict[str, str]) -> list[m.KeyValueOut]:
    return [m.KeyValueOut(key=k, value=v) for k, v in items.items()]


# ---- presenting ---------------------------------------------------------------------------------


def experiment_out(call: Call, exp: ExperimentState) -> m.ExperimentOut:
    tags = {k: r.value for k, r in sorted(exp.tags.items()) if r.value is not None}
    return m.ExperimentOut(
        experiment_id=exp.experiment_id, name=exp.name.value,
        artifact_location=call.server.destination.present(call.server.experiment_location(exp)),
        lifecycle_stage=str(exp.lifecycle.value),
        last_update_time=exp.last_update // 1_000_000 if exp.last_update else exp.creation_time,
        creation_time=exp.creation_time, tags=_kv(tags),
    )


def run_info_out(call: Call, run: RunState) -> m.RunInfoOut:
    return m.RunInfoOut(
        run_uuid=run.run_id, run_id=run.run_id, run_name=run.run_name.value or "", experiment_id=run.experiment_id,
        user_id=run.user_id, status=str(run.status.value), start_time=run.start_time, end_time=run.end_time.value,
        artifact_uri=call.server.destination.present(run.artifact_uri), lifecycle_stage=str(run.lifecycle.value),
    )


def run_out(call: Call, run: RunState, state: TrackingState) -> m.RunOut:
    metrics = [m.MetricOut(key=k, value=value if isfinite(value) else m.number(value), timestamp=timestamp,
                           step=rank[0]) for k, (rank, value, timestamp) in sorted(run.latest.items())]
    params = [m.KeyValueOut(key=k, value=v[0]) for k, v in sorted(run.params.items())]
    tags = [m.KeyValueOut(key=k, value=r.value) for k, r in sorted(run.tags.items()) if r.value is not None]
    datasets = [
        m.DatasetInputOut(
            tags=[m.KeyValueOut(key="mlflow.data.context", value=e.context)] if e.context else [],
            dataset=m.DatasetOut(name=e.dataset_name, digest=e.dataset_digest, source_type=e.source_type,
                                 source=e.source, schema=e.dataset_schema, profile=e.profile),
        ) for e in run.inputs.values()
    ]
    models = fold_logged_models(state) if state.logged_model_events else None
    outputs = models.outputs.get(run.run_id, {}) if models else {}
    inputs = models.inputs.get(run.run_id, []) if models else []
    return m.RunOut(
        info=run_info_out(call, run), data=m.RunDataOut(metrics=metrics, params=params, tags=tags),
        inputs=m.RunInputsOut(dataset_inputs=datasets, model_inputs=[m.ModelInputOut(model_id=i) for i in inputs]),
        outputs=m.RunOutputsOut(model_outputs=[m.ModelOutputOut(model_id=k, step=v) for k, v in outputs.items()]),
    )


# ---- experiments ----------------------------------------------------------------------------------


def _experiment(call: Call, experiment_id: str) -> ExperimentState:
    exp = call.store.state().experiment(_required(experiment_id, "experiment_id"))
    if exp is None:
        raise ExperimentNotFoundError(f"No Experiment with id={experiment_id} exists")
    return exp


def create_experiment(call: Call, body: m.CreateExperiment) -> m.CreateExperimentReply:
    _required(body.name, "name")
    location = None
    if body.artifact_location:  # only where the operator lets artifacts live: never a URL, another bucket, /etc
        location = call.server.destination.check(call.server.destination.real(body.artifact_location), "artifact_location")
    experiment_id = call.client.create_experiment(body.name, location, {t.key: t.value for t in body.tags})
    call.granted("experiment", experiment_id)
    return m.CreateExperimentReply(experiment_id=experiment_id)


def get_experiment(call: Call, body: m.ExperimentId) -> m.ExperimentReply:
    return m.ExperimentReply(experiment=experiment_out(call, _experiment(call, body.experiment_id)))


def get_experiment_by_name(call: Call, body: m.GetExperimentByName) -> m.ExperimentReply:
    exp = call.store.state().experiment_by_name(_required(body.experiment_name, "experiment_name"))
    if exp is None:
        raise ExperimentNotFoundError(f"Could not find experiment with name '{body.experiment_name}'")
    call.require("experiment", exp.experiment_id, "READ")
    return m.ExperimentReply(experiment=experiment_out(call, exp))


def search_experiments_(call: Call, body: m.SearchExperiments) -> m.ExperimentsReply:
    if body.max_results > MAX_SEARCH_RESULTS:
        raise InvalidInputError(f"max_results must be at most {MAX_SEARCH_RESULTS}, got {body.max_results}")
    found, token = search_experiments(call.store.state(), body.filter, _view(body.view_type), body.max_results or 1000,
                                      body.order_by, body.page_token, call.readable_experiments(None))
    return m.ExperimentsReply(experiments=[experiment_out(call, e) for e in found], next_page_token=token)


def delete_experiment(call: Call, body: m.ExperimentId) -> m.Empty:
    call.client.delete_experiment(_experiment(call, body.experiment_id).experiment_id)
    return m.Empty()


def restore_experiment(call: Call, body: m.ExperimentId) -> m.Empty:
    call.client.restore_experiment(_experiment(call, body.experiment_id).experiment_id)
    return m.Empty()


def update_experiment(call: Call, body: m.UpdateExperiment) -> m.Empty:
    exp = _experiment(call, body.experiment_id)
    if body.new_name:
        call.client.rename_experiment(exp.experiment_id, body.new_name)
    return m.Empty()


def set_experiment_tag(call: Call, body: m.SetExperimentTag) -> m.Empty:
    call.client.set_experiment_tag(_experiment(call, body.experiment_id).experiment_id, body.key, body.value)
    return m.Empty()


def delete_experiment_tag(call: Call, body: m.DeleteExperimentTag) -> m.Empty:
    call.client.delete_experiment_tag(_experiment(call, body.experiment_id).experiment_id, body.key)
    return m.Empty()


# ---- runs -----------------------------------------------------------------------------------------


def _run(call: Call, run_id: str, *, active: bool = False) -> RunState:
    run = call.store.run_state(_required(run_id, "run_id"))
    if run is None:
        raise RunNotFoundError(f"Run with id={run_id} not found")
    if active and run.lifecycle.value != LifecycleStage.ACTIVE:
        raise RunNotActiveError(f"The run {run_id} must be in the 'active' state. Current state is deleted.")
    return run


def create_run(call: Call, body: m.CreateRun) -> m.RunReply:
    experiment_id = body.experiment_id or "0"
    _experiment(call, experiment_id)
    call.act_as(body.user_id)
    tags = {t.key: t.value for t in body.tags}
    run = call.client.create_run(experiment_id, start_time=body.start_time, tags=tags, run_name=body.run_name or None)
    state = call.store.state()
    return m.RunReply(run=run_out(call, _run(call, run.info.run_id), state))


def get_run(call: Call, body: m.RunRef) -> m.RunReply:
    state = call.store.state()
    return m.RunReply(run=run_out(call, _run(call, body.rid), state))


def update_run(call: Call, body: m.UpdateRun) -> m.RunInfoReply:
    run_id = _run(call, body.rid).run_id
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
    return m.RunInfoReply(run_info=run_info_out(call, _run(call, run_id)))


def delete_run(call: Call, body: m.RunRef) -> m.Empty:
    call.client.delete_run(_run(call, body.rid).run_id)
    return m.Empty()


def restore_run(call: Call, body: m.RunRef) -> m.Empty:
    call.client.restore_run(_run(call, body.rid).run_id)
    return m.Empty()


def _logging_to(call: Call, run_id: str) -> str:
    """The run a write goes to; runs known active skip the lookup (the Client checks them too)."""
    if run_id and run_id in call.server.client._b.active_runs:
        return run_id
    return _run(call, run_id).run_id


def log_metric(call: Call, body: m.LogMetric) -> m.Empty:
    run_id = _logging_to(call, body.rid)
    if body.model_id and _has_point(call, run_id, body.key, body.value, body.step, body.timestamp):
        return m.Empty()  # MLflow's client repeats a run's metrics with the model id after log_model
    call.server.client.log_metric(run_id, body.key, body.value, body.timestamp, body.step)  # metrics only: no refold
    call.store.wrote_metrics(run_id, [(body.key, body.step, body.timestamp, body.value)])
    return m.Empty()


def log_param(call: Call, body: m.LogParam) -> m.Empty:
    call.client.log_param(_run(call, body.rid).run_id, body.key, body.value)
    return m.Empty()


def set_tag(call: Call, body: m.SetTag) -> m.Empty:
    call.client.set_tag(_run(call, body.rid).run_id, body.key, body.value)
    return m.Empty()


def delete_tag(call: Call, body: m.DeleteTag) -> m.Empty:
    call.client.delete_tag(_run(call, body.rid).run_id, body.key)
    return m.Empty()


def log_batch(call: Call, body: m.LogBatch) -> m.Empty:
    run_id = _logging_to(call, body.rid)
    check_batch_size(len(body.metrics), len(body.params), len(body.tags))
    points = [x for x in body.metrics
              if not (x.model_id and _has_point(call, run_id, x.key, x.value, x.step, x.timestamp))]
    metrics = [Metric(key=x.key, value=x.value, timestamp=x.timestamp, step=x.step) for x in points]
    client = call.client if body.params or body.tags else call.server.client  # metrics only: no refold
    client.log_batch(run_id, metrics=metrics, params=[Param(key=p.key, value=p.value) for p in body.params],
                     tags=[RunTag(key=t.key, value=t.value) for t in body.tags])
    if metrics:
        call.store.wrote_metrics(run_id, [(x.key, x.step, x.timestamp, x.value) for x in points])
    return m.Empty()


def _has_point(call: Call, run_id: str, key: str, value: float, step: int, timestamp: int) -> bool:
    """Whether the run holds this exact point already (MLflow's stores keep points unique)."""
    return any((s, t) == (step, timestamp) and (v == value or v != v and value != value)
               for s, t, v in call.store.history(run_id, key))


def log_inputs(call: Call, body: m.LogInputs) -> m.Empty:
    run_id = _run(call, body.rid, active=True).run_id
    datasets = [
        DatasetInput(
            dataset=Dataset(name=d.dataset.name, digest=d.dataset.digest, source_type=d.dataset.source_type,
                            source=d.dataset.source, schema=d.dataset.schema or None, profile=d.dataset.profile or None),
            tags=[InputTag(key=t.key, value=t.value) for t in d.tags],
        ) for d in body.datasets
    ]
    for model in body.models:
        find_logged_model(call, model.model_id)
    if datasets:
        call.client.log_inputs(run_id, datasets)
    for model in body.models:
        call.store.append(ModelInputLogged(run_id=run_id, model_id=model.model_id))
    return m.Empty()


def log_outputs(call: Call, body: m.LogOutputs) -> m.Empty:
    run_id = _run(call, body.rid, active=True).run_id
    for model in body.models:
        find_logged_model(call, model.model_id)
    for model in body.models:
        call.store.append(ModelOutputLogged(run_id=run_id, model_id=model.model_id, model_step=model.step))
    return m.Empty()


def search_runs_(call: Call, body: m.SearchRuns) -> m.RunsReply:
    if body.max_results > MAX_SEARCH_RESULTS:
        raise InvalidInputError(f"Invalid value {body.max_results} for parameter 'max_results' supplied. "
                                f"It must be at most {MAX_SEARCH_RESULTS}.")
    allowed = call.readable_experiments(set(body.experiment_ids))
    experiment_ids = [e for e in body.experiment_ids if allowed(e)]
    state = call.store.state()
    found, token = search_runs(state, experiment_ids, body.filter, _view(body.run_view_type), body.max_results or 1000,
                               body.order_by, body.page_token)
    return m.RunsReply(runs=[run_out(call, r, state) for r in found], next_page_token=token)


# ---- metric histories ------------------------------------------------------------------------------

async def history(call: Call, run_id: str, key: str) -> list[tuple[int, int, float]]:
    """Every point of one metric, (step, timestamp, value) by step then time (`ServerStore.history`);
    a history the catalog answered since its last refresh needs no worker thread."""
    if call.store.cached_history(run_id, key) is not None:
        return call.store.history(run_id, key)
    return await anyio.to_thread.run_sync(call.store.history, run_id, key)


async def get_metric_history(call: Call, body: m.GetMetricHistory) -> m.MetricsReply:
    run_id = _run(call, body.rid).run_id
    key = _required(body.metric_key, "metric_key")
    if body.max_results is not None and body.max_results <= 0:
        raise InvalidInputError(f"Invalid value {body.max_results} for parameter 'max_results' supplied. "
                                "It must be a positive integer.")
    points = await history(call, run_id, key)
    items, token = page(points, body.max_results or max(len(points), 1), body.page_token, run_id, key)
    return m.MetricsReply(metrics=[m.MetricOut(key=key, value=v if isfinite(v) else m.number(v), timestamp=t, step=s)
                                   for s, t, v in items], next_page_token=token)


async def get_metric_history_bulk(call: Call, body: m.GetMetricHistoryBulk) -> m.MetricsReply:
    if not body.run_id:
        raise InvalidInputError("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(body.run_id) > MAX_BULK_RUNS:
        raise InvalidInputError(f"GetMetricHistoryBulk request cannot specify more than {MAX_BULK_RUNS} run_ids. "
                                f"Received {len(body.run_id)} run_ids.")
    key = _required(body.metric_key, "metric_key")
    out = []
    for run_id in sorted(set(body.run_id)):
        _run(call, run_id)
        call.require("run", run_id, "READ")
        points = sorted(await history(call, run_id, key), key=lambda p: (p[1], p[0], p[2]))
        out += [m.MetricOut(key=key, value=m.number(v), timestamp=t, step=s, run_id=run_id)
                for s, t, v in points[:min(body.max_results, MAX_HISTORY_RESULTS)]]
    return m.MetricsReply(metrics=out)


def _evenly_spaced(total: int, count: int) -> list[int]:
    """At most `count` evenly spaced indices into `total` items, first and last included (MLflow's)."""
    if total <= count:
        return list(range(total))
    if count == 1:
        return [total - 1]
    step = (total - 1) / (count - 1)
    return sorted({round(i * step) for i in range(count)})


async def get_metric_history_bulk_interval(call: Call, body: m.GetMetricHistoryBulkInterval) -> m.MetricsReply:
    run_ids = body.run_ids
    if not run_ids:
        raise ApiError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_ids'.")
    if len(run_ids) > MAX_BULK_RUNS:
        raise InvalidInputError(f"GetMetricHistoryBulkInterval request must specify at most {MAX_BULK_RUNS} "
                                f"run_ids. Received {len(run_ids)} run_ids.")
    if not 1 <= body.max_results <= 2500:
        raise InvalidInputError("max_results must be between 1 and 2500.")
    start, end = body.start_step, body.end_step
    if (start is None) != (end is None):
        raise InvalidInputError("If either start step or end step are specified, both must be specified.")
    if start is not None and end is not None and start > end:
        raise InvalidInputError(f"end_step must be greater than start_step. Found start_step={start} and end_step={end}.")
    out: list[m.MetricOut] = []
    for run_id in run_ids:
        _run(call, run_id)
        call.require("run", run_id, "READ")
        points = await history(call, run_id, body.metric_key)
        if start is not None and end is not None:
            points = [p for p in points if start <= p[0] <= end]
        steps = sorted({p[0] for p in points})
        chosen = {steps[i] for i in _evenly_spaced(len(steps), body.max_results)}
        out += [m.MetricOut(key=body.metric_key, value=m.number(v), timestamp=t, step=s, run_id=run_id)
                for s, t, v in points if s in chosen][:body.max_results]
    return m.MetricsReply(metrics=out)


def list_artifacts(call: Call, body: m.ListArtifacts) -> m.FilesReply:
    from tracklog.server.artifacts import run_files

    run = _run(call, body.rid)
    return run_files(call, run.artifact_uri, body.path)

