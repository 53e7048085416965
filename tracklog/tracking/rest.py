"""`RestStore`: a tracking store answered by a tracking server's REST API (tracklog's or MLflow's).

Requests are the Structs of `tracklog.tracking.messages`, encoded by msgspec; replies decode
into the same entities the local store returns (`projections.entities` are MLflow's wire
format). Artifacts go through the server's proxy: the ``mlflow-artifacts:`` URIs the server
answers are made absolute (``mlflow-artifacts://<host:port>/…``) so they are reachable whatever
the current tracking URI (`tracklog.artifacts._proxy`). What needs the store itself —
``connect()``, ``as_of`` reads — is refused with a message saying so; SQL is sent to tracklog's
``/api/2.0/tracklog/sql``.

A server that goes away does not stop logging to runs that exist: the data calls go to a local
WAL that is published to the server once it is back (`tracklog.tracking.offline`). Creating
experiments and runs, and reads, still need the server.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from eventlog.errors import (
    EndpointNotFoundError,
    ExperimentAlreadyExistsError,
    ExperimentNotFoundError,
    InvalidInputError,
    LoggedModelNotFoundError,
    ModelAliasNotFoundError,
    ModelVersionNotFoundError,
    NotFoundError,
    RegisteredModelAlreadyExistsError,
    RegisteredModelNotFoundError,
    RunNotFoundError,
    TracklogError,
    UnsupportedStoreError,
)
from eventlog.events import (
    ParamLogged,
    RunEnded,
    RunHeartbeatSent,
    RunRenamed,
    RunResumed,
    RunTagDeleted,
    RunTagSet,
)
from eventlog.log import default_actor
from eventlog.validation import MetricColumns, MetricLink
from projections.catalog import as_of_ns
from projections.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    Metric,
    MetricHistory,
    ModelOutput,
    ModelVersion,
    PagedList,
    RegisteredModel,
    Run,
    ViewType,
    encode_hook,
    wire_float,
)
from query.sql import SqlResult
from tracklog._http import Http, read, server_for
from tracklog.tracking import messages as m
from tracklog.tracking import offline as off
from tracklog.tracking.heartbeat import SERVER_HEARTBEATS
from tracklog.tracking.store import KeyValues, TrackingStore

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["RestStore"]

_VIEWS = {ViewType.ACTIVE_ONLY: "ACTIVE_ONLY", ViewType.DELETED_ONLY: "DELETED_ONLY", ViewType.ALL: "ALL"}
_encode = msgspec.json.Encoder(enc_hook=encode_hook).encode
_Narrow = dict[str, type[TracklogError]]
_RUN: _Narrow = {"RESOURCE_DOES_NOT_EXIST": RunNotFoundError}
_EXPERIMENT: _Narrow = {"RESOURCE_DOES_NOT_EXIST": ExperimentNotFoundError, "RESOURCE_ALREADY_EXISTS": ExperimentAlreadyExistsError}
_MODEL: _Narrow = {"RESOURCE_DOES_NOT_EXIST": RegisteredModelNotFoundError,
          "RESOURCE_ALREADY_EXISTS": RegisteredModelAlreadyExistsError}
_VERSION: _Narrow = {"RESOURCE_DOES_NOT_EXIST": ModelVersionNotFoundError}
_LOGGED: _Narrow = {"RESOURCE_DOES_NOT_EXIST": LoggedModelNotFoundError}
_ALIAS: _Narrow = {"RESOURCE_DOES_NOT_EXIST": ModelAliasNotFoundError}
_PAGE = 1000


def _no_as_of(as_of: Any) -> None:
    if as_of is not None:
        raise UnsupportedStoreError("as_of reads need the store itself, not a tracking server; open the store's "
                                    "folder or bucket URI instead")


def _kv(items: KeyValues) -> list[m.KeyValue]:
    return [m.KeyValue(key=k, value=v) for k, v in items]


class RestStore(TrackingStore):
    """The tracking server at `uri` (``http(s)://host:port[/prefix]``)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.http: Http = server_for(uri)
        self._decoders: dict[type, msgspec.json.Decoder[Any]] = {}
        self._offline: off.OfflineLog | None = None  # set once a data call found the server away
        self._offline_lock = threading.Lock()
        self._namespace: str | None = None  # the writer-id prefix the server gives this caller
        self._asked = False  # whether the namespace was looked for
        # s a logging call waits for the server before its events go to the local WAL instead
        self._log_timeout = off.log_timeout()

    # ---- a server that went away ------------------------------------------------------------

    def _learn_namespace(self) -> None:
        """While the server answers (a run starts or resumes): know the writer-id namespace an
        offline writer will need, and publish what dead processes left in this machine's WAL."""
        if self._namespace is None and not self._asked:
            self._asked = True  # once per process: an MLflow server has no such endpoint
            self._namespace = off.namespace_of(self.http)
        if self._namespace is not None:
            off.recover_in_background(self.http, self._namespace)

    def _writer(self, exc: TracklogError) -> Any:
        """The offline writer; the first call creates it (one warning line says where events
        wait). Re-raises `exc` if this process cannot log offline (no namespace known)."""
        with self._offline_lock:
            if self._offline is None:
                namespace = self._namespace or off.local_namespace(self.http)
                if namespace is None:
                    raise exc
                self._offline = off.OfflineLog(self.http, namespace, exc)
            return self._offline.writer

    def _data_call(self, online: Any, offline: Any, *, switches: bool = True) -> None:
        """A data call: `online()` while the server answers; `offline(writer)` once it was away.
        A call that does not `switch` (a heartbeat: the next one tries again) only follows a
        switch another call made."""
        if self._offline is None:
            try:
                online()
                return
            except TracklogError as exc:
                if not switches or not off.unreachable(exc):
                    raise
                writer = self._writer(exc)
        else:
            writer = self._offline.writer
        offline(writer)

    # ---- plumbing -------------------------------------------------------------------------

    def _call(self, method: str, endpoint: str, body: msgspec.Struct | None = None, reply: type[Any] = m.Empty,
              query: list[tuple[str, Any]] | None = None, errors: dict[str, type[TracklogError]] | None = None,
              timeout: float | None = None) -> Any:
        data = self.http.call(method, endpoint, None if body is None else _encode(body), query, errors=errors,
                              timeout=timeout)
        decoder = self._decoders.get(reply)
        if decoder is None:
            decoder = self._decoders[reply] = msgspec.json.Decoder(reply, strict=False)
        try:
            return decoder.decode(data or b"{}")
        except msgspec.DecodeError as exc:
            raise TracklogError(f"{endpoint}: {self.http.base_url} answered something that is not MLflow's "
                                f"{reply.__name__}: {exc}") from exc

    def _absolute(self, uri: str) -> str:
        """``mlflow-artifacts:/x`` (this server's proxy) as ``mlflow-artifacts://<netloc>/x``."""
        if uri.startswith("mlflow-artifacts:") and not uri.startswith("mlflow-artifacts://"):
            return f"mlflow-artifacts://{self.http.netloc}/{uri[len('mlflow-artifacts:'):].lstrip('/')}"
        return uri

    def _run(self, run: Run) -> Run:
        info = msgspec.structs.replace(run.info, artifact_uri=self._absolute(run.info.artifact_uri))
        return msgspec.structs.replace(run, info=info)

    def _experiment(self, exp: Experiment) -> Experiment:
        return msgspec.structs.replace(exp, artifact_location=self._absolute(exp.artifact_location))

    def _logged(self, model: LoggedModel) -> LoggedModel:
        info = msgspec.structs.replace(model.info, artifact_uri=self._absolute(model.info.artifact_uri))
        return msgspec.structs.replace(model, info=info)

    def flush(self) -> None:
        """Nothing to publish while the server answers (it has every call once it returned);
        once it was away, publish what waits in the WAL (`StorageError` if it still is)."""
        if self._offline is not None:
            self._offline.writer.flush()

    # ---- experiments ----------------------------------------------------------------------

    def create_experiment(self, name: str, artifact_location: str | None, tags: KeyValues) -> str:
        body = m.CreateExperiment(name=name, artifact_location=artifact_location or "", tags=_kv(tags))
        return str(self._call("POST", "experiments/create", body, m.CreateExperimentReply, errors=_EXPERIMENT).experiment_id)

    def get_experiment(self, experiment_id: str) -> Experiment:
        reply = self._call("GET", "experiments/get", reply=m.ExperimentReply, query=[("experiment_id", experiment_id)],
                           errors=_EXPERIMENT)
        return self._experiment(reply.experiment)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            reply = self._call("GET", "experiments/get-by-name", reply=m.ExperimentReply,
                               query=[("experiment_name", name)])
        except NotFoundError:
            return None
        return self._experiment(reply.experiment)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._call("POST", "experiments/update", m.UpdateExperiment(experiment_id=experiment_id, new_name=new_name),
                   errors=_EXPERIMENT)

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/delete", m.ExperimentId(experiment_id=experiment_id), errors=_EXPERIMENT)

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/restore", m.ExperimentId(experiment_id=experiment_id), errors=_EXPERIMENT)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._call("POST", "experiments/set-experiment-tag",
                   m.SetExperimentTag(experiment_id=experiment_id, key=key, value=value), errors=_EXPERIMENT)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._call("POST", "experiments/delete-experiment-tag", m.DeleteExperimentTag(experiment_id=experiment_id, key=key),
                   errors=_EXPERIMENT)

    def search_experiments(self, view_type: int, max_results: int | None, filter_string: str | None,
                           order_by: Sequence[str] | None, page_token: str | None) -> PagedList[Experiment]:
        def page(size: int, token: str | None) -> tuple[list[Experiment], str | None]:
            body = m.SearchExperiments(view_type=_VIEWS[ViewType(view_type)], max_results=size, filter=filter_string or "",
                                       order_by=list(order_by or []), page_token=token or "")
            reply = self._call("POST", "experiments/search", body, m.ExperimentsReply)
            return [self._experiment(e) for e in reply.experiments], reply.next_page_token or None

        return _pages(page, max_results, page_token)

    # ---- runs -----------------------------------------------------------------------------

    def create_run(self, experiment_id: str, start_time: int | None, tags: KeyValues, run_name: str,
                   user_id: str | None = None) -> Run:
        body = m.CreateRun(experiment_id=experiment_id, user_id=user_id or dict(tags).get("mlflow.user") or default_actor(),
                           run_name=run_name, start_time=start_time if start_time is not None else time.time_ns() // 1_000_000,
                           tags=_kv(tags))
        run = self._run(self._call("POST", "runs/create", body, m.RunReply, errors=_EXPERIMENT).run)
        SERVER_HEARTBEATS.watch(self, run.info.run_id)  # this process keeps it alive until it ends
        self._learn_namespace()
        return run

    def get_run(self, run_id: str) -> Run:
        return self._run(self._call("GET", "runs/get", reply=m.RunReply, query=[("run_id", run_id)], errors=_RUN).run)

    def update_run(self, run_id: str, status: str | None = None, end_time: int | None = None,
                   name: str | None = None) -> None:
        if status is not None and status != "RUNNING" and end_time is None:
            end_time = time.time_ns() // 1_000_000
        body = m.UpdateRun(run_id=run_id, status=status, end_time=end_time, run_name=name)
        if status is not None and status != "RUNNING":
            SERVER_HEARTBEATS.unwatch(run_id)

        def offline(writer: Any) -> None:
            if status == "RUNNING":
                writer.append(RunResumed(run_id=run_id))
            elif status is not None:
                writer.append(RunEnded(run_id=run_id, status=status, end_time=end_time or 0))
            if name is not None:
                writer.append(RunRenamed(run_id=run_id, run_name=name))
            if status is not None and status != "RUNNING":  # a bounded wait, then a word on what waits where
                writer.publish_soon(0.0)
                writer.wait_or_warn()

        self._data_call(lambda: self._call("POST", "runs/update", body, m.RunInfoReply, errors=_RUN,
                                           timeout=self._log_timeout), offline)
        if status == "RUNNING":
            SERVER_HEARTBEATS.watch(self, run_id)
            if self._offline is None:
                self._learn_namespace()

    def delete_run(self, run_id: str) -> None:
        SERVER_HEARTBEATS.unwatch(run_id)
        self._call("POST", "runs/delete", m.RunRef(run_id=run_id), errors=_RUN)

    def send_heartbeats(self, run_ids: Sequence[str]) -> None:
        """tracklog's own endpoint; a server without it (MLflow's) raises `EndpointNotFoundError`."""
        body = _encode(m.SendHeartbeats(run_ids=list(run_ids)))

        def online() -> None:
            resp = self.http.request("POST", "/api/2.0/tracklog/runs/heartbeats", body,
                                     {"Content-Type": "application/json"}, timeout=self._log_timeout)
            if resp.status == 404 and b"error_code" not in read(resp):
                raise EndpointNotFoundError(f"{self.uri} has no heartbeat endpoint (not a tracklog server)")
            if not 200 <= resp.status < 300:
                raise self.http.error(resp, read(resp), "runs/heartbeats", _RUN)

        def offline(writer: Any) -> None:
            for run_id in run_ids:
                writer.append(RunHeartbeatSent(run_id=run_id))

        self._data_call(online, offline, switches=False)  # a run's process beating alone is no reason to log offline

    def restore_run(self, run_id: str) -> None:
        self._call("POST", "runs/restore", m.RunRef(run_id=run_id), errors=_RUN)

    def require_active_run(self, run_id: str) -> None:
        """The server checks on every write; nothing to ask beforehand."""

    def log_metric(self, run_id: str, key: str, value: float, step: int, timestamp: int | None) -> None:
        if self._offline is not None:  # the server was away: a WAL append, as fast as a local store's
            self._offline.writer.log_metric(run_id, key, value, step, timestamp)
            return
        stamp = time.time_ns() // 1_000_000 if timestamp is None else timestamp
        self.log_batch(run_id, MetricColumns([key], [value], [step], [stamp]), (), ())

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int, timestamp: int | None) -> None:
        if self._offline is not None:
            self._offline.writer.log_metrics(run_id, metrics, step, timestamp)
            return
        stamp = time.time_ns() // 1_000_000 if timestamp is None else timestamp
        items = list(metrics.items())
        for start in range(0, len(items), 1000):
            chunk = items[start:start + 1000]
            self.log_batch(run_id, MetricColumns([k for k, _ in chunk], [v for _, v in chunk], [step] * len(chunk),
                                                 [stamp] * len(chunk)), (), ())

    def log_batch(self, run_id: str, metrics: MetricColumns, params: KeyValues, tags: KeyValues,
                  links: Mapping[int, MetricLink] | None = None) -> None:
        points = [m.MetricIn(key=k, value=wire_float(v), timestamp=t, step=s)
                  for k, v, s, t in zip(*metrics, strict=True)]
        for i, link in (links or {}).items():
            points[i] = m.MetricIn(key=points[i].key, value=points[i].value, timestamp=points[i].timestamp,
                                   step=points[i].step, model_id=link.model_id, dataset_name=link.dataset_name,
                                   dataset_digest=link.dataset_digest)
        body = m.LogBatch(run_id=run_id, params=_kv(params), tags=_kv(tags), metrics=points)

        def offline(writer: Any) -> None:
            if links:
                raise InvalidInputError(f"{self.uri} is away: metrics linked to logged models are not logged offline "
                                        "(they need the server's logged models); log them once it is back")
            for key, value in params:  # in the order the server appends them
                writer.append(ParamLogged(run_id=run_id, key=key, value=value))
            for key, value in tags:
                writer.append(RunTagSet(run_id=run_id, key=key, value=value))
            writer.log_batch(run_id, *metrics)

        self._data_call(lambda: self._call("POST", "runs/log-batch", body, errors=_RUN, timeout=self._log_timeout),
                        offline)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._data_call(lambda: self._call("POST", "runs/delete-tag", m.DeleteTag(run_id=run_id, key=key), errors=_RUN,
                                           timeout=self._log_timeout),
                        lambda writer: writer.append(RunTagDeleted(run_id=run_id, key=key)))

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput], models: Sequence[str] = ()) -> None:
        body = m.LogInputs(run_id=run_id, models=[m.ModelIdIn(model_id=i) for i in models], datasets=[
            m.DatasetInputIn(tags=[m.KeyValue(key=t.key, value=t.value) for t in d.tags], dataset=m.DatasetIn(
                name=d.dataset.name, digest=d.dataset.digest, source_type=d.dataset.source_type,
                source=d.dataset.source, schema=d.dataset.schema or "", profile=d.dataset.profile or ""))
            for d in datasets])
        self._call("POST", "runs/log-inputs", body, errors=_RUN)

    def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None:
        body = m.LogOutputs(run_id=run_id, models=[m.ModelOutputIn(model_id=o.model_id, step=o.step) for o in models])
        self._call("POST", "runs/outputs", body, errors=_RUN)

    def search_runs(self, experiment_ids: Sequence[str], filter_string: str | None, view_type: int,
                    max_results: int | None, order_by: Sequence[str] | None, page_token: str | None) -> PagedList[Run]:
        def page(size: int, token: str | None) -> tuple[list[Run], str | None]:
            body = m.SearchRuns(experiment_ids=list(experiment_ids), filter=filter_string or "",
                                run_view_type=_VIEWS[ViewType(view_type)], max_results=size,
                                order_by=list(order_by or []), page_token=token or "")
            reply = self._call("POST", "runs/search", body, m.RunsReply)
            return [self._run(r) for r in reply.runs], reply.next_page_token or None

        return _pages(page, max_results, page_token)

    def search_runs_table(self, experiment_ids: Sequence[str], filter_string: str | None, view_type: int,
                          max_results: int | None, order_by: Sequence[str] | None) -> pa.Table:
        return _runs_table(self.search_runs(experiment_ids, filter_string, view_type, max_results, order_by, None))

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        import pyarrow as pa

        points: list[Metric] = []
        token = ""
        while True:
            reply = self._call("GET", "metrics/get-history", reply=m.MetricsReply, errors=_RUN, query=[
                ("run_id", run_id), ("metric_key", key), ("max_results", 25_000), ("page_token", token or None)])
            points += reply.metrics
            token = reply.next_page_token
            if not token:
                break
        table = pa.table({"value": pa.array([float(p.value) for p in points], pa.float64()),
                          "timestamp": pa.array([p.timestamp for p in points], pa.int64()),
                          "step": pa.array([p.step for p in points], pa.int64())})
        return MetricHistory(table, run_id, key)

    def record_artifacts(self, run_id: str, files: Sequence[tuple[str, int, str]]) -> None:
        """The server's artifact proxy records each file it receives."""

    # ---- logged models ----------------------------------------------------------------------

    def create_logged_model(self, experiment_id: str, name: str, source_run_id: str | None, model_type: str,
                            params: KeyValues, tags: KeyValues, flavors: Sequence[str] = ()) -> LoggedModel:
        body = m.CreateLoggedModel(experiment_id=experiment_id, name=name, model_type=model_type,
                                   source_run_id=source_run_id or "", params=_kv(params), tags=_kv(tags))
        return self._logged(self._call("POST", "logged-models", body, m.LoggedModelReply, errors=_EXPERIMENT).model)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self._logged(self._call("GET", f"logged-models/{model_id}", reply=m.LoggedModelReply, errors=_LOGGED).model)

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        body = m.FinalizeLoggedModel(model_id=model_id, status=f"LOGGED_MODEL_{status}")
        return self._logged(self._call("PATCH", f"logged-models/{model_id}", body, m.LoggedModelReply, errors=_LOGGED).model)

    def set_logged_model_tags(self, model_id: str, tags: KeyValues) -> None:
        self._call("PATCH", f"logged-models/{model_id}/tags", m.SetLoggedModelTags(model_id=model_id, tags=_kv(tags)),
                   errors=_LOGGED)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._call("DELETE", f"logged-models/{model_id}/tags/{key}", errors=_LOGGED)

    def log_logged_model_params(self, model_id: str, params: KeyValues) -> None:
        self._call("POST", f"logged-models/{model_id}/params",
                   m.LogLoggedModelParams(model_id=model_id, params=_kv(params)), errors=_LOGGED)

    def delete_logged_model(self, model_id: str) -> None:
        self._call("DELETE", f"logged-models/{model_id}", errors=_LOGGED)

    def search_logged_models(self, experiment_ids: Sequence[str], filter_string: str | None,
                             max_results: int | None, order_by: Sequence[tuple[str, bool]] | None,
                             page_token: str | None,
                             datasets: Sequence[tuple[str, str | None]] = ()) -> PagedList[LoggedModel]:
        def page(size: int, token: str | None) -> tuple[list[LoggedModel], str | None]:
            body = m.SearchLoggedModels(experiment_ids=list(experiment_ids), filter=filter_string or "",
                                        max_results=size, page_token=token or "",
                                        datasets=[m.DatasetFilter(dataset_name=n, dataset_digest=d or "")
                                                  for n, d in datasets],
                                        order_by=[m.OrderBy(field_name=f, ascending=a) for f, a in order_by or ()])
            reply = self._call("POST", "logged-models/search", body, m.LoggedModelsReply)
            return [self._logged(x) for x in reply.models], reply.next_page_token or None

        return _pages(page, max_results, page_token, size=50)

    # ---- the model registry -------------------------------------------------------------------

    def create_registered_model(self, name: str, tags: KeyValues, description: str | None) -> RegisteredModel:
        body = m.CreateRegisteredModel(name=name, tags=_kv(tags), description=description)
        return m.model_in(self._call("POST", "registered-models/create", body, m.RegisteredModelReply,
                                     errors=_MODEL).registered_model)

    def get_registered_model(self, name: str, as_of: Any = None) -> RegisteredModel:
        _no_as_of(as_of)
        return m.model_in(self._call("GET", "registered-models/get", reply=m.RegisteredModelReply,
                                     query=[("name", name)], errors=_MODEL).registered_model)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        body = m.RenameRegisteredModel(name=name, new_name=new_name)
        return m.model_in(self._call("POST", "registered-models/rename", body, m.RegisteredModelReply,
                                     errors=_MODEL).registered_model)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        body = m.UpdateRegisteredModel(name=name, description=description)
        return m.model_in(self._call("PATCH", "registered-models/update", body, m.RegisteredModelReply,
                                     errors=_MODEL).registered_model)

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", "registered-models/delete", m.NameRef(name=name), errors=_MODEL)

    def search_registered_models(self, filter_string: str | None, max_results: int | None,
                                 order_by: Sequence[str] | None, page_token: str | None,
                                 as_of: Any = None) -> PagedList[RegisteredModel]:
        _no_as_of(as_of)

        def page(size: int, token: str | None) -> tuple[list[RegisteredModel], str | None]:
            reply = self._call("GET", "registered-models/search", reply=m.RegisteredModelsReply, query=[
                ("filter", filter_string or None), ("max_results", size), ("page_token", token or None),
                *(("order_by", o) for o in order_by or ())])
            return [m.model_in(x) for x in reply.registered_models], reply.next_page_token or None

        return _pages(page, max_results, page_token)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("POST", "registered-models/set-tag", m.SetRegisteredModelTag(name=name, key=key, value=value),
                   errors=_MODEL)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", "registered-models/delete-tag", m.DeleteRegisteredModelTag(name=name, key=key), errors=_MODEL)

    def create_model_version(self, name: str, source: str, run_id: str | None, tags: KeyValues,
                             run_link: str | None, description: str | None, model_id: str | None) -> ModelVersion:
        body = m.CreateModelVersion(name=name, source=source, run_id=run_id or "", tags=_kv(tags),
                                    run_link=run_link or "", description=description or "", model_id=model_id or "")
        return m.version_in(self._call("POST", "model-versions/create", body, m.ModelVersionReply,
                                       errors=_MODEL).model_version)

    def get_model_version(self, name: str, version: int, as_of: Any = None) -> ModelVersion:
        _no_as_of(as_of)
        return m.version_in(self._call("GET", "model-versions/get", reply=m.ModelVersionReply, errors=_VERSION,
                                       query=[("name", name), ("version", str(version))]).model_version)

    def update_model_version(self, name: str, version: int, description: str | None) -> ModelVersion:
        body = m.UpdateModelVersion(name=name, version=str(version), description=description)
        return m.version_in(self._call("PATCH", "model-versions/update", body, m.ModelVersionReply,
                                       errors=_VERSION).model_version)

    def delete_model_version(self, name: str, version: int) -> None:
        self._call("DELETE", "model-versions/delete", m.VersionRef(name=name, version=str(version)), errors=_VERSION)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None, as_of: Any = None) -> list[ModelVersion]:
        _no_as_of(as_of)
        reply = self._call("POST", "registered-models/get-latest-versions",
                           m.GetLatestVersions(name=name, stages=list(stages or [])), m.ModelVersionsReply, errors=_MODEL)
        return [m.version_in(v) for v in reply.model_versions]

    def transition_model_version_stage(self, name: str, version: int, stage: str,
                                       archive_existing_versions: bool) -> ModelVersion:
        body = m.TransitionModelVersionStage(name=name, version=str(version), stage=stage,
                                             archive_existing_versions=archive_existing_versions)
        return m.version_in(self._call("POST", "model-versions/transition-stage", body, m.ModelVersionReply,
                                       errors=_VERSION).model_version)

    def search_model_versions(self, filter_string: str | None, max_results: int | None,
                              order_by: Sequence[str] | None, page_token: str | None,
                              as_of: Any = None) -> PagedList[ModelVersion]:
        _no_as_of(as_of)

        def page(size: int, token: str | None) -> tuple[list[ModelVersion], str | None]:
            reply = self._call("GET", "model-versions/search", reply=m.ModelVersionsReply, query=[
                ("filter", filter_string or None), ("max_results", size), ("page_token", token or None),
                *(("order_by", o) for o in order_by or ())])
            return [m.version_in(x) for x in reply.model_versions], reply.next_page_token or None

        return _pages(page, max_results, page_token, size=10_000)

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._call("POST", "model-versions/set-tag",
                   m.SetModelVersionTag(name=name, version=str(version), key=key, value=value), errors=_VERSION)

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        self._call("DELETE", "model-versions/delete-tag", m.DeleteModelVersionTag(name=name, version=str(version), key=key),
                   errors=_VERSION)

    def set_registered_model_alias(self, name: str, alias: str, version: int) -> None:
        self._call("POST", "registered-models/alias",
                   m.SetRegisteredModelAlias(name=name, alias=alias, version=str(version)), errors=_VERSION)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", "registered-models/alias", m.AliasRef(name=name, alias=alias),
                   errors=_ALIAS)

    def get_model_version_by_alias(self, name: str, alias: str, as_of: Any = None) -> ModelVersion:
        _no_as_of(as_of)
        reply = self._call("GET", "registered-models/alias", reply=m.ModelVersionReply,
                           query=[("name", name), ("alias", alias)],
                           errors=_ALIAS)
        return m.version_in(reply.model_version)

    # ---- SQL ----------------------------------------------------------------------------------

    def sql(self, query: str, as_of: Any = None) -> Any:
        """Read-only SQL run by the server (sandboxed there), as a `query.sql.SqlResult`."""
        moment = as_of_ns(as_of)
        body = json.dumps({"query": query, "format": "parquet",
                           "as_of": None if moment is None else moment // 1_000_000}).encode()
        resp = self.http.request("POST", "/api/2.0/tracklog/sql", body, {"Content-Type": "application/json"})
        data = getattr(resp, "_tracklog_body", b"")
        if resp.status != 200:
            raise self.http.error(resp, data, "sql")
        result = SqlResult(_parquet_table(data), truncated=resp.getheader("X-Tracklog-Truncated") == "true")
        if result.truncated:
            warnings.warn(f"the server answered the first {len(result)} rows only (its --sql-max-rows); aggregate, "
                          "or narrow the query", stacklevel=3)
        return result

    def connect(self, as_of: Any = None) -> Any:
        raise UnsupportedStoreError(f"connect() needs the store itself (its DuckDB catalog); {self.uri} is a tracking "
                                    "server — use tracklog.sql(query) (the server runs it), or open the store's own URI")


def _parquet_table(data: bytes) -> pa.Table:
    """A Parquet file in memory as a table, read on this thread.

    Not `pq.read_table`: its dataset scanner releases the file on one of Arrow's threads after the call
    returns, and when that release lands after interpreter exit began, taking the GIL aborts the process
    ("terminate called without an active exception"; CI saw `tracklog sql --store http://…` exit -6).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(pa.BufferReader(data)) as parquet:
        return parquet.read()


def _pages(fetch: Any, max_results: int | None, token: str | None, *, size: int = _PAGE) -> PagedList[Any]:
    """One page of `max_results` (a server's pages may be smaller), or every page for None."""
    items: list[Any] = []
    while True:
        want = size if max_results is None else min(size, max_results - len(items))
        got, token = fetch(want, token)
        items += got
        if not token or (max_results is not None and len(items) >= max_results):
            return PagedList(items, token if max_results is not None else None)


def _runs_table(runs: list[Run]) -> pa.Table:
    """Runs in MLflow's ``search_runs`` columns: info, then ``metrics.*``, ``params.*``, ``tags.*``."""
    import pyarrow as pa

    def when(ms: int | None) -> Any:
        return None if ms is None else ms * 1000

    columns: dict[str, Any] = {
        "run_id": pa.array([r.info.run_id for r in runs], pa.string()),
        "experiment_id": pa.array([r.info.experiment_id for r in runs], pa.string()),
        "status": pa.array([str(r.info.status) for r in runs], pa.string()),
        "artifact_uri": pa.array([r.info.artifact_uri for r in runs], pa.string()),
        "start_time": pa.array([when(r.info.start_time) for r in runs], pa.timestamp("us", tz="UTC")),
        "end_time": pa.array([when(r.info.end_time) for r in runs], pa.timestamp("us", tz="UTC")),
    }
    for prefix, kind, get in (("metrics", pa.float64(), lambda r: r.data.metrics),
                              ("params", pa.string(), lambda r: r.data.params),
                              ("tags", pa.string(), lambda r: r.data.tags)):
        for key in sorted({k for r in runs for k in get(r)}):
            columns[f"{prefix}.{key}"] = pa.array([get(r).get(key) for r in runs], kind)
    return pa.table(columns)
