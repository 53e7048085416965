"""`RestClient`: `tracklog.Client` over a tracking server's REST API (``http(s)://`` tracking URIs).

``tracklog.Client("http://host:5000")`` (or ``set_tracking_uri("http://…")`` for the fluent API)
gives a `RestClient`: the same methods, answered by the server — a tracklog server or MLflow's.
Artifacts go through the server's proxy (``mlflow-artifacts:`` URIs, read and written by
`ArtifactsFileSystem`, an fsspec filesystem), so ``log_artifact``, ``log_text``, ``log_image``,
``download_artifacts``… work unchanged. What needs the store itself — ``connect()``, ``as_of``
reads — is refused with a message saying so; ``tracklog.sql`` is sent to the server.

Credentials: ``TRACKLOG_TRACKING_TOKEN`` (or MLflow's ``MLFLOW_TRACKING_TOKEN``) is sent as a
bearer token; ``TRACKLOG_TRACKING_USERNAME``/``_PASSWORD`` (or MLflow's) as basic auth.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import os
import tempfile
import threading
import urllib.parse
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from eventlog.errors import (
    AlreadyExistsError,
    ExperimentAlreadyExistsError,
    ExperimentNotFoundError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    RunNotActiveError,
    RunNotFoundError,
    StorageError,
    TracklogError,
    UnsupportedStoreError,
)
from projections.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LifecycleStage,
    Metric,
    MetricHistory,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)
from projections.registry import ModelVersion, RegisteredModel
from tracklog.client import Client

__all__ = ["ArtifactsFileSystem", "RemoteError", "RestClient", "is_remote"]

API = "/api/2.0/mlflow/"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
_VIEWS = {ViewType.ACTIVE_ONLY: "ACTIVE_ONLY", ViewType.DELETED_ONLY: "DELETED_ONLY", ViewType.ALL: "ALL"}


def is_remote(uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith(("http://", "https://"))


class RemoteError(TracklogError):
    """An error the server answered that maps to no more specific tracklog error."""


_CODES: dict[str, type[TracklogError]] = {
    "RESOURCE_DOES_NOT_EXIST": NotFoundError,
    "RESOURCE_ALREADY_EXISTS": AlreadyExistsError,
    "INVALID_PARAMETER_VALUE": InvalidInputError,
    "MALFORMED_REQUEST": InvalidInputError,
    "BAD_REQUEST": InvalidInputError,
    "INVALID_STATE": InvalidStateError,
    "TEMPORARILY_UNAVAILABLE": StorageError,
}


# ---- HTTP -----------------------------------------------------------------------------------------


class Http:
    """Keep-alive connections to one server (one per thread), JSON in and out, errors raised typed."""

    def __init__(self, base_url: str) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.base_url = f"{parsed.scheme}://{parsed.hostname}{f':{parsed.port}' if parsed.port else ''}{parsed.path.rstrip('/')}"
        self.scheme, self.host, self.port = parsed.scheme, parsed.hostname or "127.0.0.1", parsed.port
        self.prefix = parsed.path.rstrip("/")
        self.headers = _auth_headers(parsed)
        self._local = threading.local()
        self.timeout = float(os.environ.get("TRACKLOG_HTTP_TIMEOUT", "120"))

    def connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = None if fresh else getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = kind(self.host, self.port, timeout=self.timeout)
            if not fresh:
                self._local.conn = conn
        return conn

    def request(self, method: str, path: str, body: bytes | Any = None, headers: dict[str, str] | None = None,
                *, stream: bool = False) -> http.client.HTTPResponse:
        """One request; a keep-alive connection the server closed meanwhile is retried once."""
        all_headers = {**self.headers, **(headers or {})}
        for attempt in (0, 1):
            conn = self.connection(fresh=stream)
            try:
                conn.request(method, self.prefix + path, body=body, headers=all_headers)
                resp = conn.getresponse()
                if not stream:
                    resp._tracklog_body = resp.read()  # type: ignore[attr-defined]  # read: the connection is reusable
                return resp
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                conn.close()
                self._local.conn = None
                rewindable = body is None or isinstance(body, bytes)
                if attempt or not rewindable or isinstance(exc, TimeoutError):
                    raise StorageError(f"cannot reach the tracking server at {self.base_url}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, endpoint: str, payload: dict[str, Any] | None = None, *,
             errors: dict[str, type[TracklogError]] | None = None) -> dict[str, Any]:
        """MLflow's API: JSON body (GET: query string) to ``/api/2.0/mlflow/<endpoint>``; the reply's JSON."""
        path = API + endpoint
        body = None
        headers = {}
        if method == "GET":
            if payload:
                path += "?" + urllib.parse.urlencode(
                    [(k, x) for k, v in payload.items() if v is not None for x in (v if isinstance(v, list) else [v])])
        else:
            body = json.dumps(payload or {}, allow_nan=False, default=str).encode()
            headers["Content-Type"] = "application/json"
        resp = self.request(method, path, body, headers)
        return self.reply(resp, _read(resp), endpoint, errors)

    def reply(self, resp: http.client.HTTPResponse, data: bytes, what: str,
              errors: dict[str, type[TracklogError]] | None = None) -> dict[str, Any]:
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = None
        if 200 <= resp.status < 300 and isinstance(decoded, dict):
            return decoded
        if isinstance(decoded, dict) and "error_code" in decoded:
            code, message = str(decoded["error_code"]), str(decoded.get("message", ""))
            kind = (errors or {}).get(code) or _CODES.get(code, RemoteError)
            raise kind(f"{message} ({code} from {self.base_url}, {what})")
        raise RemoteError(f"{what}: HTTP {resp.status} from {self.base_url}: {data[:300]!r}")


def _read(resp: http.client.HTTPResponse) -> bytes:
    """The body `Http.request` already read (http.client keeps it)."""
    return getattr(resp, "_tracklog_body", b"") or b""


def _auth_headers(parsed: urllib.parse.SplitResult) -> dict[str, str]:
    env = os.environ.get
    token = env("TRACKLOG_TRACKING_TOKEN") or env("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = parsed.username or env("TRACKLOG_TRACKING_USERNAME") or env("MLFLOW_TRACKING_USERNAME")
    password = parsed.password or env("TRACKLOG_TRACKING_PASSWORD") or env("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        pair = base64.b64encode(f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


_servers: dict[str, Http] = {}  # netloc -> Http: how mlflow-artifacts://<netloc>/… URIs are reached


def _register(http_: Http) -> str:
    netloc = urllib.parse.urlsplit(http_.base_url).netloc
    _servers.setdefault(netloc, http_)
    return netloc


# ---- entities ----------------------------------------------------------------------------------------


def _num(value: Any) -> float:
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, math.nan) \
            if value in ("NaN", "Infinity", "-Infinity") else float(value)
    return float(value)


def _tags(items: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items or ()}


def _experiment(e: dict[str, Any]) -> Experiment:
    return Experiment(experiment_id=e["experiment_id"], name=e.get("name", ""),
                      artifact_location=e.get("artifact_location", ""),
                      lifecycle_stage=LifecycleStage(e.get("lifecycle_stage", "active")), tags=_tags(e.get("tags")),
                      creation_time=e.get("creation_time"), last_update_time=e.get("last_update_time"))


def _run(r: dict[str, Any]) -> Run:
    info, data, inputs = r["info"], r.get("data", {}), r.get("inputs", {})
    run_info = RunInfo(
        run_id=info.get("run_id") or info["run_uuid"], experiment_id=info.get("experiment_id", ""),
        run_name=info.get("run_name", ""), user_id=info.get("user_id", ""), status=RunStatus(info.get("status", "RUNNING")),
        start_time=int(info.get("start_time", 0)), end_time=info.get("end_time"),
        artifact_uri=info.get("artifact_uri", ""), lifecycle_stage=LifecycleStage(info.get("lifecycle_stage", "active")),
    )
    run_data = RunData(metrics={m["key"]: _num(m["value"]) for m in data.get("metrics", ())},
                       params=_tags(data.get("params")), tags=_tags(data.get("tags")))
    datasets = [DatasetInput(dataset=Dataset(name=d["dataset"]["name"], digest=d["dataset"]["digest"],
                                             source_type=d["dataset"].get("source_type", ""),
                                             source=d["dataset"].get("source", ""),
                                             schema=d["dataset"].get("schema") or None,
                                             profile=d["dataset"].get("profile") or None),
                             tags=[InputTag(key=t["key"], value=t.get("value", "")) for t in d.get("tags", ())])
                for d in inputs.get("dataset_inputs", ())]
    return Run(info=run_info, data=run_data, inputs=RunInputs(dataset_inputs=datasets))


def _version(v: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=v["name"], version=int(v["version"]), creation_timestamp=int(v.get("creation_timestamp", 0)),
        last_updated_timestamp=v.get("last_updated_timestamp"), description=v.get("description") or None,
        user_id=v.get("user_id") or None, current_stage=v.get("current_stage", "None"), source=v.get("source"),
        run_id=v.get("run_id") or None, status=v.get("status", "READY"), status_message=v.get("status_message"),
        tags=_tags(v.get("tags")), run_link=v.get("run_link") or None, aliases=list(v.get("aliases", ())),
        model_id=v.get("model_id") or None,
    )


def _model(r: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=r["name"], creation_timestamp=int(r.get("creation_timestamp", 0)),
        last_updated_timestamp=r.get("last_updated_timestamp"), description=r.get("description") or None,
        latest_versions=[_version(v) for v in r.get("latest_versions", ())], tags=_tags(r.get("tags")),
        aliases={a["alias"]: int(a["version"]) for a in r.get("aliases", ())},
    )


class _Tag:
    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value


class _RemoteRun:
    """What tracklog's artifact helpers read of a run (`Client._run_state`): its artifact URI, tags."""

    def __init__(self, run: Run, netloc: str) -> None:
        uri = run.info.artifact_uri
        if uri.startswith("mlflow-artifacts:") and not uri.startswith("mlflow-artifacts://"):
            uri = f"mlflow-artifacts://{netloc}/{uri[len('mlflow-artifacts:'):].lstrip('/')}"
        self.artifact_uri = uri
        self.tags = {k: _Tag(v) for k, v in run.data.tags.items()}
        self.lifecycle = run.info.lifecycle_stage


class _RemoteBackend:
    """The few backend calls tracklog's artifact code makes, answered over REST; the rest refused."""

    def __init__(self, client: RestClient) -> None:
        self.client = client
        self.uri = client.tracking_uri
        self.log = self

    def require_active_run(self, run_id: str) -> None:
        run = self.client.get_run(run_id)
        if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise RunNotActiveError(f"The run {run_id} must be in the 'active' state to be logged to")

    def append(self, event: Any) -> Any:
        if type(event).__name__ == "ArtifactLogged":
            return event  # the server records uploads into a run's folder itself
        raise UnsupportedStoreError(f"{type(event).__name__} cannot be appended through a tracking server; "
                                    "use the REST API's operations")

    def flush(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        raise UnsupportedStoreError(
            f"{name} needs the store itself, but {self.uri} is a tracking server; open the store's folder or "
            "bucket with tracklog directly for SQL connections and time travel (or use tracklog.sql, which asks "
            "the server)")


# ---- the client --------------------------------------------------------------------------------------


def _no_as_of(as_of: Any) -> None:
    if as_of is not None:
        raise UnsupportedStoreError("as_of reads need the store itself, not a tracking server")


class RestClient(Client):
    """`tracklog.Client` for an ``http(s)://`` tracking URI: every call is a request to the server."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        from tracklog._config import get_tracking_uri

        self._tracking_uri = tracking_uri or get_tracking_uri()
        self._http = Http(self._tracking_uri)
        self._netloc = _register(self._http)
        self._b = _RemoteBackend(self)  # type: ignore[assignment]

    def _call(self, method: str, endpoint: str, payload: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return self._http.call(method, endpoint, payload, **kw)

    def flush(self) -> None:
        """Nothing to publish: the server has every call once it returned."""

    # ---- experiments ----------------------------------------------------------------------

    def create_experiment(self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None) -> str:
        body = {"name": name, "artifact_location": artifact_location or "",
                "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()]}
        return str(self._call("POST", "experiments/create", body,
                              errors={"RESOURCE_ALREADY_EXISTS": ExperimentAlreadyExistsError})["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        reply = self._call("GET", "experiments/get", {"experiment_id": str(experiment_id)},
                           errors={"RESOURCE_DOES_NOT_EXIST": ExperimentNotFoundError})
        return _experiment(reply["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            return _experiment(self._call("GET", "experiments/get-by-name", {"experiment_name": name})["experiment"])
        except NotFoundError:
            return None

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._call("POST", "experiments/update", {"experiment_id": str(experiment_id), "new_name": new_name},
                   errors={"RESOURCE_ALREADY_EXISTS": ExperimentAlreadyExistsError})

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/delete", {"experiment_id": str(experiment_id)})

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/restore", {"experiment_id": str(experiment_id)})

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self._call("POST", "experiments/set-experiment-tag",
                   {"experiment_id": str(experiment_id), "key": key, "value": str(value)})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._call("POST", "experiments/delete-experiment-tag", {"experiment_id": str(experiment_id), "key": key})

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = 1000,
                           filter_string: str | None = None, order_by: list[str] | None = None,
                           page_token: str | None = None) -> PagedList[Experiment]:
        if max_results is None:
            return _all_pages(lambda token: self.search_experiments(view_type, 1000, filter_string, order_by, token))
        reply = self._call("POST", "experiments/search", {
            "view_type": _VIEWS[ViewType(view_type)], "max_results": max_results, "filter": filter_string or "",
            "order_by": order_by or [], "page_token": page_token or ""})
        return PagedList([_experiment(e) for e in reply.get("experiments", ())], reply.get("next_page_token") or None)

    # ---- runs ----------------------------------------------------------------------------------

    def search_runs(self, experiment_ids: list[str] | str, filter_string: str = "",
                    run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                    order_by: list[str] | None = None, page_token: str | None = None) -> PagedList[Run]:
        ids = [experiment_ids] if isinstance(experiment_ids, str) else [str(e) for e in experiment_ids]
        reply = self._call("POST", "runs/search", {
            "experiment_ids": ids, "filter": filter_string or "", "run_view_type": _VIEWS[ViewType(run_view_type)],
            "max_results": max_results, "order_by": order_by or [], "page_token": page_token or ""})
        return PagedList([_run(r) for r in reply.get("runs", ())], reply.get("next_page_token") or None)

    def create_run(self, experiment_id: str, start_time: int | None = None, tags: dict[str, Any] | None = None,
                   run_name: str | None = None) -> Run:
        from eventlog.log import default_actor

        tags = dict(tags or {})
        body = {"experiment_id": str(experiment_id), "user_id": tags.get("mlflow.user") or default_actor(),
                "run_name": run_name or "", "start_time": start_time,
                "tags": [{"key": k, "value": str(v)} for k, v in tags.items()]}
        return _run(self._call("POST", "runs/create", body,
                               errors={"RESOURCE_DOES_NOT_EXIST": ExperimentNotFoundError})["run"])

    def _run_state(self, run_id: str) -> Any:
        return _RemoteRun(self.get_run(run_id), self._netloc)

    def get_run(self, run_id: str) -> Run:
        return _run(self._call("GET", "runs/get", {"run_id": run_id},
                               errors={"RESOURCE_DOES_NOT_EXIST": RunNotFoundError})["run"])

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        body: dict[str, Any] = {"run_id": run_id}
        if status is not None:
            body["status"] = str(status).upper()
        if name is not None:
            body["run_name"] = str(name)
        self._call("POST", "runs/update", body, errors={"RESOURCE_DOES_NOT_EXIST": RunNotFoundError})

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        import time

        self._call("POST", "runs/update", {"run_id": run_id, "status": str(status or RunStatus.FINISHED).upper(),
                                           "end_time": end_time if end_time is not None else int(time.time() * 1000)},
                   errors={"RESOURCE_DOES_NOT_EXIST": RunNotFoundError})

    def resume_run(self, run_id: str) -> None:
        self.update_run(run_id, status=RunStatus.RUNNING)

    def delete_run(self, run_id: str) -> None:
        self._call("POST", "runs/delete", {"run_id": run_id}, errors={"RESOURCE_DOES_NOT_EXIST": RunNotFoundError})

    def restore_run(self, run_id: str) -> None:
        self._call("POST", "runs/restore", {"run_id": run_id}, errors={"RESOURCE_DOES_NOT_EXIST": RunNotFoundError})

    def set_description(self, run_id: str, description: str) -> None:
        self.set_tag(run_id, "mlflow.note.content", description)

    # ---- logging -------------------------------------------------------------------------------

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None, step: int | None = None,
                   synchronous: bool | None = None, dataset_name: str | None = None,
                   dataset_digest: str | None = None, model_id: str | None = None) -> None:
        self.log_batch(run_id, metrics=[Metric(key=key, value=value, timestamp=timestamp, step=step or 0)])  # type: ignore[arg-type]

    def _log_metrics(self, run_id: str, metrics: dict[str, Any], step: int | None, timestamp: int | None) -> None:
        self.log_batch(run_id, metrics=[Metric(key=k, value=v, timestamp=timestamp, step=step or 0)  # type: ignore[arg-type]
                                        for k, v in metrics.items()])

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        self.log_batch(run_id, params=[Param(key=key, value=str(value))])
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        self.log_batch(run_id, tags=[RunTag(key=key, value=str(value))])

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("POST", "runs/delete-tag", {"run_id": run_id, "key": key},
                   errors={"RESOURCE_DOES_NOT_EXIST": RunNotFoundError})

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = (), synchronous: bool | None = None) -> None:
        import time

        now = int(time.time() * 1000)
        body = {"run_id": run_id,
                "metrics": [{"key": m.key, "value": _json_number(m.value),
                             "timestamp": now if m.timestamp is None else m.timestamp, "step": m.step or 0}
                            for m in metrics],
                "params": [{"key": p.key, "value": str(p.value)} for p in params],
                "tags": [{"key": t.key, "value": str(t.value)} for t in tags]}
        self._call("POST", "runs/log-batch", body, errors={"RESOURCE_DOES_NOT_EXIST": RunNotFoundError})

    def log_inputs(self, run_id: str, datasets: Iterable[DatasetInput] | None = None, models: Any = None) -> None:
        body = {"run_id": run_id, "datasets": [
            {"tags": [{"key": t.key, "value": t.value} for t in d.tags],
             "dataset": {"name": d.dataset.name, "digest": d.dataset.digest, "source_type": d.dataset.source_type,
                         "source": d.dataset.source, "schema": d.dataset.schema or "", "profile": d.dataset.profile or ""}}
            for d in datasets or ()]}
        self._call("POST", "runs/log-inputs", body, errors={"RESOURCE_DOES_NOT_EXIST": RunNotFoundError})

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        import pyarrow as pa

        points: list[dict[str, Any]] = []
        token = ""
        while True:
            reply = self._call("GET", "metrics/get-history", {"run_id": run_id, "metric_key": key,
                                                             "max_results": 25000, "page_token": token or None},
                               errors={"RESOURCE_DOES_NOT_EXIST": RunNotFoundError})
            points += reply.get("metrics", ())
            token = reply.get("next_page_token", "")
            if not token:
                break
        table = pa.table({"value": pa.array([_num(p["value"]) for p in points], pa.float64()),
                          "timestamp": pa.array([int(p.get("timestamp", 0)) for p in points], pa.int64()),
                          "step": pa.array([int(p.get("step", 0)) for p in points], pa.int64())})
        return MetricHistory(table, run_id, key)

    def load_table(self, experiment_id: str, artifact_file: str, run_ids: list[str] | None = None,
                   extra_columns: list[str] | None = None) -> Any:
        raise UnsupportedStoreError("load_table reads the store's run table; open the store directly")

    # ---- the registry -------------------------------------------------------------------------

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None, description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        body = {"name": name, "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()],
                "description": description}
        return _model(self._call("POST", "registered-models/create", body)["registered_model"])

    def get_registered_model(self, name: str, *, as_of: Any = None) -> RegisteredModel:
        _no_as_of(as_of)
        return _model(self._call("GET", "registered-models/get", {"name": name})["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return _model(self._call("POST", "registered-models/rename", {"name": name, "new_name": new_name})["registered_model"])

    def update_registered_model(self, name: str, description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        return _model(self._call("PATCH", "registered-models/update",
                                 {"name": name, "description": description})["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", "registered-models/delete", {"name": name})

    def search_registered_models(self, filter_string: str | None = None, max_results: int = 100,
                                 order_by: list[str] | None = None, page_token: str | None = None,
                                 *, as_of: Any = None) -> PagedList[RegisteredModel]:
        _no_as_of(as_of)
        reply = self._call("GET", "registered-models/search", {"filter": filter_string or None, "max_results": max_results,
                                                              "order_by": order_by or None, "page_token": page_token})
        return PagedList([_model(r) for r in reply.get("registered_models", ())], reply.get("next_page_token") or None)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self._call("POST", "registered-models/set-tag", {"name": name, "key": key, "value": str(value)})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    def create_model_version(self, name: str, source: str, run_id: str | None = None, tags: dict[str, Any] | None = None,
                             run_link: str | None = None, description: str | None = None,
                             await_creation_for: int = 300, model_id: str | None = None) -> ModelVersion:
        body = {"name": name, "source": source, "run_id": run_id or "", "run_link": run_link or "",
                "description": description or "", "model_id": model_id or "",
                "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()]}
        return _version(self._call("POST", "model-versions/create", body)["model_version"])

    def get_model_version(self, name: str, version: Any, *, as_of: Any = None) -> ModelVersion:
        _no_as_of(as_of)
        return _version(self._call("GET", "model-versions/get", {"name": name, "version": str(version)})["model_version"])

    def update_model_version(self, name: str, version: Any, description: str | None = None) -> ModelVersion:
        return _version(self._call("PATCH", "model-versions/update",
                                   {"name": name, "version": str(version), "description": description})["model_version"])

    def delete_model_version(self, name: str, version: Any) -> None:
        self._call("DELETE", "model-versions/delete", {"name": name, "version": str(version)})

    def get_latest_versions(self, name: str, stages: list[str] | None = None, *, as_of: Any = None) -> list[ModelVersion]:
        _no_as_of(as_of)
        reply = self._call("POST", "registered-models/get-latest-versions", {"name": name, "stages": stages or []})
        return [_version(v) for v in reply.get("model_versions", ())]

    def transition_model_version_stage(self, name: str, version: Any, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        return _version(self._call("POST", "model-versions/transition-stage", {
            "name": name, "version": str(version), "stage": stage,
            "archive_existing_versions": archive_existing_versions})["model_version"])

    def search_model_versions(self, filter_string: str | None = None, max_results: int = 10_000,
                              order_by: list[str] | None = None, page_token: str | None = None,
                              *, as_of: Any = None) -> PagedList[ModelVersion]:
        _no_as_of(as_of)
        reply = self._call("GET", "model-versions/search", {"filter": filter_string or None, "max_results": max_results,
                                                           "order_by": order_by or None, "page_token": page_token})
        return PagedList([_version(v) for v in reply.get("model_versions", ())], reply.get("next_page_token") or None)

    def set_model_version_tag(self, name: str, version: Any = None, key: str | None = None, value: Any = None,
                              stage: str | None = None) -> None:
        if version is None and stage is not None:
            version = self.get_latest_versions(name, [stage])[0].version
        self._call("POST", "model-versions/set-tag", {"name": name, "version": str(version), "key": key,
                                                      "value": str(value)})

    def delete_model_version_tag(self, name: str, version: Any = None, key: str | None = None,
                                 stage: str | None = None) -> None:
        self._call("DELETE", "model-versions/delete-tag", {"name": name, "version": str(version), "key": key})

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        self._call("POST", "registered-models/alias", {"name": name, "alias": alias, "version": str(version)})

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str, *, as_of: Any = None) -> ModelVersion:
        _no_as_of(as_of)
        return _version(self._call("GET", "registered-models/alias", {"name": name, "alias": alias})["model_version"])

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        uri = str(self._call("GET", "model-versions/get-download-uri",
                             {"name": name, "version": str(version)})["artifact_uri"])
        if uri.startswith("mlflow-artifacts:") and not uri.startswith("mlflow-artifacts://"):
            uri = f"mlflow-artifacts://{self._netloc}/{uri[len('mlflow-artifacts:'):].lstrip('/')}"
        return uri

    def runs_frame(self, experiment_ids: list[str], filter_string: str, run_view_type: int, max_results: int | None,
                   order_by: list[str] | None, output_format: str) -> Any:
        """`tracklog.search_runs` against the server: MLflow's pandas layout (or list, Arrow, Polars)."""
        runs: list[Run] = []
        token = None
        while max_results is None or len(runs) < max_results:
            page = self.search_runs(experiment_ids, filter_string, run_view_type,
                                    min(50_000, (max_results or 50_000) - len(runs)), order_by, token)
            runs += page
            token = page.token
            if not token:
                break
        if output_format == "list":
            return runs
        table = _runs_table(runs)
        if output_format == "arrow":
            return table
        if output_format == "polars":
            import polars as pl

            return pl.from_arrow(table)
        return table.to_pandas()

    # ---- SQL ---------------------------------------------------------------------------------

    def sql(self, query: str, as_of: Any = None) -> Any:
        """Read-only SQL run by the server (sandboxed there), as a `query.sql.SqlResult`."""
        import io

        import pyarrow.parquet as pq

        from projections.catalog import as_of_ns
        from query.sql import SqlResult

        moment = as_of_ns(as_of)
        body = json.dumps({"query": query, "format": "parquet",
                           "as_of": None if moment is None else moment // 1_000_000}).encode()
        resp = self._http.request("POST", "/api/2.0/tracklog/sql", body, {"Content-Type": "application/json"})
        data = _read(resp)
        if resp.status != 200:
            self._http.reply(resp, data, "sql")
        result = SqlResult(pq.read_table(io.BytesIO(data)), truncated=resp.getheader("X-Tracklog-Truncated") == "true")
        if result.truncated:
            warnings.warn(f"the server answered the first {len(result)} rows only (its --sql-max-rows); aggregate, "
                          "or narrow the query", stacklevel=3)
        return result


def _runs_table(runs: list[Run]) -> Any:
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


def _json_number(value: Any) -> Any:
    number = float(value)
    if math.isfinite(number):
        return number
    return "NaN" if number != number else ("Infinity" if number > 0 else "-Infinity")


def _all_pages(fetch: Any) -> PagedList[Any]:
    items: list[Any] = []
    token = None
    while True:
        page = fetch(token)
        items += page
        token = page.token
        if not token:
            return PagedList(items, None)


# ---- mlflow-artifacts: URIs, as an fsspec filesystem ---------------------------------------------------


def artifacts_location(uri: str) -> tuple[Any, str]:
    """(filesystem, path) for ``mlflow-artifacts://<netloc>/<path>`` or ``mlflow-artifacts:/<path>``
    (the current tracking server)."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.netloc:
        server = _servers.get(parsed.netloc) or Http(f"http://{parsed.netloc}")
    else:
        from tracklog._config import get_tracking_uri

        current = get_tracking_uri()
        if not is_remote(current):
            raise UnsupportedStoreError(f"{uri!r} is served by a tracking server; set an http(s):// tracking URI first")
        server = _servers.get(urllib.parse.urlsplit(current).netloc) or Http(current)
    return ArtifactsFileSystem(server), parsed.path.lstrip("/")


def _fs_base() -> type:
    from fsspec import AbstractFileSystem

    return AbstractFileSystem  # type: ignore[no-any-return]


class ArtifactsFileSystem(_fs_base()):  # type: ignore[misc]
    """The artifact proxy of a tracking server (``/api/2.0/mlflow-artifacts/artifacts``) as a filesystem."""

    protocol = "mlflow-artifacts"
    cachable = False

    def __init__(self, server: Http, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.server = server

    def _path(self, path: str) -> str:
        return urllib.parse.quote(str(path).strip("/"))

    def _list(self, path: str) -> list[dict[str, Any]]:
        resp = self.server.request("GET", f"{PROXY}?{urllib.parse.urlencode({'path': str(path).strip('/')})}")
        reply = self.server.reply(resp, _read(resp), f"list {path}")
        base = str(path).strip("/")
        return [{"name": f"{base}/{f['path']}" if base else f["path"], "type": "directory" if f.get("is_dir") else "file",
                 "size": int(f.get("file_size") or 0)} for f in reply.get("files", ())]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        entries = self._list(path)
        if not entries and self.info(path)["type"] == "file":
            raise NotADirectoryError(path)
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = str(path).strip("/")
        if not path:
            return {"name": "", "type": "directory", "size": 0}
        parent, _, name = path.rpartition("/")
        for entry in self._list(parent):
            if entry["name"] == path:
                return entry
        raise FileNotFoundError(path)

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False,
             **kwargs: Any) -> Any:
        found: dict[str, dict[str, Any]] = {}
        stack = [str(path).strip("/")]
        while stack:
            for entry in self._list(stack.pop()):
                if entry["type"] == "directory":
                    stack.append(entry["name"])
                    if withdirs:
                        found[entry["name"]] = entry
                else:
                    found[entry["name"]] = entry
        return found if detail else sorted(found)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        return None  # folders exist by holding files

    def rm(self, path: str, recursive: bool = False, maxdepth: int | None = None) -> None:
        resp = self.server.request("DELETE", f"{PROXY}/{self._path(path)}")
        self.server.reply(resp, _read(resp), f"delete {path}")

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True, **kwargs: Any) -> Any:
        if "r" in mode:
            resp = self.server.request("GET", f"{PROXY}/{self._path(path)}", stream=True)
            if resp.status != 200:
                data = resp.read()
                if resp.status == 404:
                    raise FileNotFoundError(path)
                self.server.reply(resp, data, f"download {path}")
            return resp
        return _Upload(self, str(path), autocommit)

    def _strip_protocol(self, path: str) -> str:  # type: ignore[override]
        text = str(path)
        if text.startswith("mlflow-artifacts:"):
            text = urllib.parse.urlsplit(text).path
        return text.strip("/")


class _Upload:
    """A file being written: spooled locally, sent as one PUT on commit (whole or not at all)."""

    def __init__(self, fs: ArtifactsFileSystem, path: str, autocommit: bool) -> None:
        self.fs, self.path, self.autocommit = fs, path, autocommit
        self.spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed on commit or discard
        self.closed = False
        self.committed = False

    def write(self, data: Any) -> int:
        return self.spool.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.autocommit:
                self.commit()

    def commit(self) -> None:
        if self.committed:
            return
        self.committed = True
        size = self.spool.tell()
        self.spool.seek(0)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        resp = self.fs.server.request("PUT", f"{PROXY}/{self.fs._path(self.path)}", self.spool, headers)
        self.fs.server.reply(resp, _read(resp), f"upload {self.path}")
        self.spool.close()

    def discard(self) -> None:
        self.committed = True
        self.spool.close()

    def __enter__(self) -> _Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
