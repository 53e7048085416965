"""`LocalStore`: a tracking store on the event log (any fsspec filesystem) and its DuckDB catalog.

Writes append events (`eventlog`); reads query the catalog (`projections.catalog`), the one
read model. A process reads its own writes at once: before a read, its pending events are
published and folded from memory (`Catalog.sync`), and the store is listed for other writers'
segments at most every `max_age` seconds (0 for the Python API: every read; the server lists
in the background and sets None).

One `LocalStore` per tracking URI per process (`LocalStore.open`): every `Client` on the URI
shares its writer, so a process has one writer per store.

Runs this process starts or resumes send heartbeats (`tracklog.tracking.heartbeat`) until it
ends them; a store that writes on behalf of others (the tracking server) sets `heartbeats` off.

An unreachable store does not stop logging (`eventlog.writer`): events wait in the local WAL,
reads fold this process's own events ahead of the store (`Catalog.sync`), and ending a run
while the store is known to be down waits at most the writer's `publish_wait` for it, then
says in one warning line how many events wait, where, and how to publish them (`end_waits`,
off in the tracking server).
A process that writes to the store also records, when its reads find a run whose heartbeats
stopped, that the run was declared dead (`RunHeartbeatLost`: who and when).

The write path checks state cheaply: runs this process knows to be active skip the lookup
(`active_runs`), experiment lookups for new runs may be a second old, and a param's held value
is checked against the catalog plus this process's unpublished params (first writer wins, the
rule of `projections.views`). A run this process created, until it ends, checks its params
against the ones this process logged to it alone (kept in memory): the run's id is new, so the
only other params it can hold are another process's, which the catalog would show only if that
process had published them and this one had listed them since; such a conflict is resolved by
the same rule when folded, and shows in `param_conflicts`.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eventlog import EventLog
from eventlog.errors import (
    AlreadyExistsError,
    ExperimentAlreadyExistsError,
    ExperimentNotActiveError,
    ExperimentNotFoundError,
    LoggedModelNotFoundError,
    ModelAliasNotFoundError,
    ModelVersionNotFoundError,
    NotFoundError,
    ParamChangedError,
    RegisteredModelAlreadyExistsError,
    RegisteredModelNotFoundError,
    RunNotActiveError,
    RunNotFoundError,
    UnsupportedStoreError,
)
from eventlog.events import (
    ArtifactLogged,
    DatasetInputLogged,
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentRenamed,
    ExperimentRestored,
    ExperimentTagDeleted,
    ExperimentTagSet,
    LoggedModelDeleted,
    LoggedModelMetricLogged,
    LoggedModelParamLogged,
    LoggedModelStatusSet,
    LoggedModelTagDeleted,
    LoggedModelTagSet,
    ModelAliasDeleted,
    ModelAliasSet,
    ModelInputLogged,
    ModelLogged,
    ModelOutputLogged,
    ModelVersionCreated,
    ModelVersionDeleted,
    ModelVersionDescriptionSet,
    ModelVersionStageSet,
    ModelVersionTagDeleted,
    ModelVersionTagSet,
    ParamLogged,
    RegisteredModelCreated,
    RegisteredModelDeleted,
    RegisteredModelDescriptionSet,
    RegisteredModelRenamed,
    RegisteredModelTagDeleted,
    RegisteredModelTagSet,
    RunDeleted,
    RunEnded,
    RunHeartbeatLost,
    RunHeartbeatSent,
    RunRenamed,
    RunRestored,
    RunResumed,
    RunStarted,
    RunTagDeleted,
    RunTagSet,
)
from eventlog.storage import check_store_uri, split_uri
from eventlog.validation import MetricColumns, MetricLink
from eventlog.writer import ACTOR, uuid7
from projections.catalog import Catalog
from projections.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    LoggedModel,
    MetricHistory,
    ModelOutput,
    ModelVersion,
    PagedList,
    RegisteredModel,
    Run,
    RunStatus,
)
from projections.rows import experiment_entity, new_run_entity
from projections.scope import Scope
from query.compile import Params
from query.connection import ReadOnlyConnection
from query.filter import Comparison, Node, parse
from query.read import (
    EXPERIMENT_SELECT,
    LOGGED_MODEL_SELECT,
    MODEL_SELECT,
    VERSION_SELECT,
    experiment,
    experiment_by_name,
    logged_model,
    logged_models,
    metric_history,
    model_versions,
    registered_model,
    registered_models,
    run_lifecycle,
    runs_by_id,
)
from query.search import (
    EXPERIMENTS,
    LOGGED_MODEL_ATTRIBUTES,
    LOGGED_MODELS,
    MODELS,
    RUNS,
    VERSIONS,
    flatten,
    lifecycle,
    search,
    without_prompts,
)
from query.sql import run_sql
from tracklog._config import get_artifact_root
from tracklog.tracking.heartbeat import HEARTBEATS, heartbeat_interval
from tracklog.tracking.store import KeyValues, TrackingStore

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["LocalStore", "normalize_uri"]

_KEY_CACHE_LIMIT = 100_000
_EXPERIMENT_NAMES = "experiment-names"
_MODEL_NAMES = "registered-models"
_PUBLISH_ENDS_WITHIN = 0.25  # s: how soon other processes see a run end (flush_interval at most)
_EXPERIMENT_TTL = 1.0  # seconds an experiment's lookup serves new runs


def normalize_uri(uri: str) -> str:
    check_store_uri(uri)  # before a mistyped scheme becomes a folder name
    protocol, rest = split_uri(uri)
    if protocol in ("http", "https"):
        raise UnsupportedStoreError(f"{uri!r} is a tracking server, not a store; use tracklog.Client({uri!r})")
    return rest if protocol == "file" else uri


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LocalStore(TrackingStore):
    """The event log at `uri` and its catalog. Use `LocalStore.open` (one per URI per process)."""

    _open: dict[str, LocalStore] = {}
    _open_lock = threading.Lock()

    @classmethod
    def open(cls, uri: str) -> LocalStore:
        key = normalize_uri(uri)
        store = cls._open.get(key)
        if store is None:
            with cls._open_lock:
                store = cls._open.get(key)
                if store is None:
                    store = cls._open[key] = cls(key)
        return store

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.log = EventLog.open(uri)
        self.max_age: float | None = 0.0  # how stale a read may be before the store is listed again
        self.heartbeats = True  # runs started or resumed here send heartbeats (off in a server)
        self.end_waits = True  # ending a run while the store is unreachable waits for it a little (off in a server)
        self.declares: bool | None = None  # record crashed runs' RunHeartbeatLost (None: if this process wrote)
        self._declared_at = 0.0  # time.monotonic() of the last look for crashed runs
        self.active_runs: set[str] = set()  # runs known to exist and not be deleted: the fast path
        self._new_run_params: dict[str, dict[str, str]] = {}  # runs created here, until they end: params logged
        self.ok_metric_keys: set[str] = set()
        self._experiments: dict[str, tuple[float, Experiment]] = {}
        self._catalog: Catalog | None = None
        self._empty: Catalog | None = None  # what a store that does not exist reads as (created by nothing)
        self._exists = False  # the store's folder was seen (it is never removed under us)
        self._lock = threading.Lock()

    # ---- reading --------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The store's catalog, opened on the first read (DuckDB and pyarrow load then)."""
        if self._catalog is None:
            with self._lock:
                if self._catalog is None:
                    self._catalog = Catalog(self.log)
        return self._catalog

    def cursor(self, as_of: Any = None, *, scope: Scope | None = None) -> duckdb.DuckDBPyConnection:
        """A cursor on the catalog, current with this process's writes (and the store's, per `max_age`);
        with `scope`, its views show only the experiments and models the scope names.

        A local store that does not exist (and that this process has not logged to) reads as an
        empty store, and reading it creates nothing: `require_store` says so where that is an error.
        """
        if not self._present():
            if self._empty is None:
                self._empty = Catalog(self.log, persistent=False)
            return self._empty.connect(as_of, refresh=False, scope=scope)
        catalog = self.catalog
        catalog.sync(self.max_age)
        cur = catalog.connect(as_of, refresh=False, scope=scope)
        if as_of is None and time.monotonic() - self._declared_at >= heartbeat_interval():
            self._declare_lost(cur)
        return cur

    def _declare_lost(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Record `RunHeartbeatLost` for the runs that read as crashed and were not declared yet
        (at most once per heartbeat interval; only a process that writes to the store does)."""
        self._declared_at = time.monotonic()
        if not (self.declares if self.declares is not None else self.log.writer.appended):
            return
        found = cur.execute("SELECT r.run_id, l.seen_ts FROM runs r JOIN liveness l USING (run_id) "
                            "WHERE r.crashed AND r.declared_dead_by IS NULL").fetchall()
        for run_id, seen in found:
            self.log.append(RunHeartbeatLost(run_id=run_id, last_seen=seen))

    def _present(self) -> bool:
        if not self._exists:  # logged to from here: the flush before the read creates it
            self._exists = self.log.exists() or self.log.writer.has_pending()
        return self._exists

    def require_store(self) -> None:
        """Reads never create a store: raise `StoreNotFoundError` for a local folder that is not
        there (unless this process has logged to it)."""
        if not self._present():
            self.log.require_exists()

    def where(self) -> str:
        """The store, for a not-found message; says so when there is no store at all."""
        if self._present():
            return self.uri
        return f"{self.uri}, where there is no tracklog store (the folder does not exist)"

    def create_store(self) -> None:
        """Create a new local store's folder now (a server serves a store from its start)."""
        if self.log.store.local_root is not None:
            os.makedirs(self.log.store.local_root, exist_ok=True)

    @property
    def artifact_root(self) -> str:
        """Where new experiments keep artifacts: `get_artifact_root()`, else ``<store>/artifacts``."""
        return get_artifact_root() or self.log.artifact_root

    def flush(self) -> None:
        self.log.flush()

    # ---- experiments ----------------------------------------------------------------------

    def create_experiment(self, name: str, artifact_location: str | None, tags: KeyValues) -> str:
        self._raise_if_name_taken(name)
        experiment_id = self._new_experiment_id()
        holder = self.log.claim(_EXPERIMENT_NAMES, name, experiment_id)
        if holder != experiment_id:
            self._wait_for_experiment(holder)
            self._raise_if_name_taken(name)
            raise ExperimentAlreadyExistsError(
                f"Experiment {name!r} is claimed by experiment id {holder}, which was never recorded "
                f"(its creator died mid-way?); delete {self.log._claim_path(_EXPERIMENT_NAMES, name)} "
                "in the store to free the name")
        location = artifact_location or f"{self.artifact_root}/{experiment_id}"
        self.log.append(ExperimentCreated(experiment_id=experiment_id, name=name, artifact_location=location))
        for key, value in tags:
            self.log.append(ExperimentTagSet(experiment_id=experiment_id, key=key, value=value))
        self.log.flush()  # creation is rare; make it visible to other processes at once
        return experiment_id

    def _new_experiment_id(self) -> str:
        """A numeric id like MLflow's, ordered by creation time; a claim makes it unique."""
        while True:
            candidate = str((_now_ms() << 15) | (int.from_bytes(os.urandom(2)) >> 1))
            if self.log.claim("experiment-ids", candidate, candidate) == candidate:
                return candidate

    def _wait_for_experiment(self, experiment_id: str, timeout: float = 15.0) -> None:
        """Another process won the name: wait until its creation event is published."""

        deadline = time.monotonic() + timeout
        while experiment(self.cursor(), experiment_id) is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _raise_if_name_taken(self, name: str) -> None:
        existing = self.get_experiment_by_name(name)
        if existing is None:
            return
        if existing.lifecycle_stage == LifecycleStage.DELETED:
            raise ExperimentAlreadyExistsError(
                f"Experiment {name!r} already exists in deleted state (id {existing.experiment_id}); "
                "restore it with restore_experiment, or rename it first")
        raise ExperimentAlreadyExistsError(f"Experiment {name!r} already exists (id {existing.experiment_id})")

    def get_experiment(self, experiment_id: str) -> Experiment:

        found = experiment(self.cursor(), str(experiment_id))
        if found is None:
            raise ExperimentNotFoundError(f"No Experiment with id={experiment_id!r} exists in {self.where()}")
        self._experiments[found.experiment_id] = (time.monotonic(), found)
        return found

    def _recent_experiment(self, experiment_id: str) -> Experiment:
        """The experiment as looked up at most `_EXPERIMENT_TTL` seconds ago (runs start fast)."""
        held = self._experiments.get(experiment_id)
        if held is not None and time.monotonic() - held[0] < _EXPERIMENT_TTL:
            return held[1]
        return self.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:

        return experiment_by_name(self.cursor(), name)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        exp = self.get_experiment(experiment_id)
        if new_name == exp.name:
            return
        self._raise_if_name_taken(new_name)
        holder = self.log.claim(_EXPERIMENT_NAMES, new_name, exp.experiment_id)
        if holder != exp.experiment_id:
            raise ExperimentAlreadyExistsError(f"Experiment {new_name!r} already exists (claimed by id {holder})")
        self.log.append(ExperimentRenamed(experiment_id=exp.experiment_id, name=new_name))
        self.log.flush()
        self.log.release_claim(_EXPERIMENT_NAMES, exp.name)
        self._experiments.pop(exp.experiment_id, None)

    def delete_experiment(self, experiment_id: str) -> None:
        exp = self.get_experiment(experiment_id)
        self.log.append(ExperimentDeleted(experiment_id=exp.experiment_id))
        self.active_runs.clear()
        self._new_run_params.clear()
        self._experiments.pop(exp.experiment_id, None)

    def restore_experiment(self, experiment_id: str) -> None:
        exp = self.get_experiment(experiment_id)
        self.log.append(ExperimentRestored(experiment_id=exp.experiment_id))
        self._experiments.pop(exp.experiment_id, None)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        exp = self.get_experiment(experiment_id)
        self.log.append(ExperimentTagSet(experiment_id=exp.experiment_id, key=key, value=value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        exp = self.get_experiment(experiment_id)
        if key not in exp.tags:
            raise NotFoundError(f"No tag with name: {key} in experiment {experiment_id}")
        self.log.append(ExperimentTagDeleted(experiment_id=exp.experiment_id, key=key))

    def search_experiments(self, view_type: int, max_results: int | None, filter_string: str | None,
                           order_by: Sequence[str] | None, page_token: str | None,
                           allowed: Sequence[str] | None = None) -> PagedList[Experiment]:
        """`allowed`: only these experiment ids (a server's caller may read no others)."""
        self.require_store()  # a read: a store that is not there is an error, not an empty answer

        params = Params(EXPERIMENTS.columns, EXPERIMENTS.maps)
        where = [lifecycle(view_type, params)]
        if allowed is not None:
            where.append(f"r.experiment_id IN (SELECT unnest({params.add(list(allowed))}::VARCHAR[]))")
        page = search(self.cursor(), EXPERIMENTS, EXPERIMENT_SELECT, filter_string, order_by, max_results, page_token,
                      where=where, params=params, scope=[int(view_type)])
        return PagedList([experiment_entity(row) for row in page.rows], page.token)

    # ---- runs -----------------------------------------------------------------------------

    def create_run(self, experiment_id: str, start_time: int | None, tags: KeyValues, run_name: str,
                   user_id: str | None = None) -> Run:
        exp = self._recent_experiment(str(experiment_id))
        if exp.lifecycle_stage != LifecycleStage.ACTIVE:
            raise ExperimentNotActiveError(f"The experiment {experiment_id} must be in the 'active' state to create "
                                           "runs in it; current state is deleted")
        run_id = uuid7().replace("-", "")
        artifact_uri = self._run_artifact_uri(exp, run_id)
        start = _now_ms() if start_time is None else start_time
        token = ACTOR.set(user_id) if user_id else None
        try:
            started = self.log.append(RunStarted(run_id=run_id, experiment_id=exp.experiment_id, run_name=run_name,
                                                 start_time=start, artifact_uri=artifact_uri))
            for key, value in tags:
                if key != "mlflow.runName":
                    self.log.append(RunTagSet(run_id=run_id, key=key, value=value))
        finally:
            if token is not None:
                ACTOR.reset(token)
        self.active_runs.add(run_id)
        self._new_run_params[run_id] = {}
        if self.heartbeats:
            HEARTBEATS.watch(self.log, run_id)
        return new_run_entity(run_id, exp.experiment_id, run_name, started.actor, start, artifact_uri,
                              {k: v for k, v in tags if k != "mlflow.runName"})

    def _run_artifact_uri(self, exp: Experiment, run_id: str) -> str:
        """``<experiment location>/<run_id>/artifacts``; the implicit experiment 0 follows the
        configured artifact root (`tracklog.set_artifact_root`, ``TRACKLOG_ARTIFACT_ROOT``)."""
        location = exp.artifact_location
        if exp.experiment_id == "0" and get_artifact_root() is not None:
            location = f"{self.artifact_root}/0"
        return f"{location}/{run_id}/artifacts"

    def get_run(self, run_id: str) -> Run:

        cur = self.cursor()
        found = runs_by_id(cur, [run_id], self._catalog.run_entities if self._catalog is not None else None)
        if not found:
            raise RunNotFoundError(f"Run with id={run_id!r} not found in {self.where()}")
        return found[0]

    def _lifecycle(self, run_id: str) -> str:

        stage = run_lifecycle(self.cursor(), run_id)
        if stage is None:
            raise RunNotFoundError(f"Run with id={run_id!r} not found in {self.where()}")
        return stage

    def require_active_run(self, run_id: str) -> None:
        if run_id in self.active_runs:
            return
        if self._lifecycle(run_id) != LifecycleStage.ACTIVE:
            raise RunNotActiveError(
                f"The run {run_id} must be in the 'active' state to be logged to; current state is deleted. "
                f"Restore it with restore_run({run_id!r}).")
        self.active_runs.add(run_id)

    def update_run(self, run_id: str, status: str | None = None, end_time: int | None = None,
                   name: str | None = None) -> None:
        if run_id not in self.active_runs:
            self._lifecycle(run_id)
        if status is not None:
            if status == RunStatus.RUNNING:
                self.log.append(RunResumed(run_id=run_id))
                if self.heartbeats:
                    HEARTBEATS.watch(self.log, run_id)
            else:
                HEARTBEATS.unwatch(run_id)
                self._new_run_params.pop(run_id, None)
                self.log.append(RunEnded(run_id=run_id, status=status, end_time=_now_ms() if end_time is None else end_time))
                # others see the end with a background flush due shortly, shared by the runs
                # that end close together; the caller does not wait (the WAL holds it meanwhile)
                self.log.writer.publish_soon(_PUBLISH_ENDS_WITHIN)
                if self.end_waits and self.log.writer.offline:  # unless the store is unreachable:
                    self.log.writer.wait_or_warn()  # then a bounded wait, and a word on what waits where
        if name is not None:
            self.log.append(RunRenamed(run_id=run_id, run_name=name))

    def send_heartbeats(self, run_ids: Sequence[str]) -> None:
        """Heartbeats for runs kept alive elsewhere (a tracking server's clients), published soon."""
        for run_id in run_ids:
            if run_id not in self.active_runs:
                self._lifecycle(run_id)
        for run_id in run_ids:
            self.log.append(RunHeartbeatSent(run_id=run_id))
        self.log.writer.publish_soon(0.0)

    def delete_run(self, run_id: str) -> None:
        self._lifecycle(run_id)
        self.log.append(RunDeleted(run_id=run_id))
        self.active_runs.discard(run_id)
        self._new_run_params.pop(run_id, None)
        HEARTBEATS.unwatch(run_id)

    def restore_run(self, run_id: str) -> None:
        self._lifecycle(run_id)
        self.log.append(RunRestored(run_id=run_id))

    def log_metric(self, run_id: str, key: str, value: float, step: int, timestamp: int | None) -> None:
        if run_id not in self.active_runs:
            self.require_active_run(run_id)
        self.log.writer.log_metric(run_id, key, value, step, timestamp)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int, timestamp: int | None) -> None:
        if run_id not in self.active_runs:
            self.require_active_run(run_id)
        self.log.writer.log_metrics(run_id, metrics, step, timestamp)

    def _held_params(self, run_id: str, keys: set[str]) -> dict[str, str]:
        """The values these params of the run hold: folded, else this process's unpublished ones."""
        catalog = self.catalog
        catalog.fold_own()
        cur = catalog.connect(refresh=False)
        rows = cur.execute("SELECT map_entries(params) FROM runs WHERE run_id = ?", [run_id]).fetchall()
        held = {e["key"]: e["value"] for e in rows[0][0] if e["key"] in keys} if rows else {}
        for event in self.log.writer.pending()[1]:  # appended in order: the first one is the writer's
            if isinstance(event, ParamLogged) and event.run_id == run_id and event.key in keys:
                held.setdefault(event.key, event.value)
        return held

    def log_batch(self, run_id: str, metrics: MetricColumns, params: KeyValues, tags: KeyValues,
                  links: Mapping[int, MetricLink] | None = None) -> None:
        if run_id not in self.active_runs:
            self.require_active_run(run_id)
        logged_here = self._new_run_params.get(run_id)
        if params:
            held = logged_here if logged_here is not None else self._held_params(run_id, {k for k, _ in params})
            for key, value in params:
                if key in held and held[key] != value:
                    raise ParamChangedError(
                        f"param {key!r} of run {run_id} was logged as {held[key]!r} and cannot become {value!r}: "
                        "params are immutable (log a new key, or start a new run)")
        links = links or {}
        for model_id in sorted({link.model_id for link in links.values() if link.model_id}):  # all or nothing
            self.get_logged_model(model_id)
        log = self.log
        for key, value in params:
            log.append(ParamLogged(run_id=run_id, key=key, value=value))
            if logged_here is not None:
                logged_here.setdefault(key, value)
        for key, value in tags:
            log.append(RunTagSet(run_id=run_id, key=key, value=value))
        log.writer.log_batch(run_id, *metrics)  # one append for all the points, column by column
        for i, link in links.items():  # also points of the logged models (MLflow 3's logged_model_metrics)
            if link.model_id:
                log.append(LoggedModelMetricLogged(
                    model_id=link.model_id, run_id=run_id, key=metrics.keys[i], metric_value=metrics.values[i],
                    step=metrics.steps[i], timestamp=metrics.timestamps[i], dataset_name=link.dataset_name,
                    dataset_digest=link.dataset_digest))

    def delete_tag(self, run_id: str, key: str) -> None:
        self.require_active_run(run_id)
        if key not in self.get_run(run_id).data.tags:
            raise NotFoundError(f"No tag with name: {key} in run with id {run_id}")
        self.log.append(RunTagDeleted(run_id=run_id, key=key))

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput], models: Sequence[str] = ()) -> None:
        self.require_active_run(run_id)
        for model_id in models:
            self.get_logged_model(model_id)
        for item in datasets:
            ds = item.dataset
            self.log.append(DatasetInputLogged(
                run_id=run_id, dataset_name=ds.name, dataset_digest=ds.digest, source_type=ds.source_type,
                source=ds.source, dataset_schema=ds.schema or "", profile=ds.profile or "", context=item.context or "",
                input_tags=json.dumps([[t.key, t.value] for t in item.tags]) if item.tags else ""))
        for model_id in models:
            self.log.append(ModelInputLogged(run_id=run_id, model_id=model_id))

    def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None:
        self.require_active_run(run_id)
        for output in models:
            self.get_logged_model(output.model_id)
        for output in models:
            self.log.append(ModelOutputLogged(run_id=run_id, model_id=output.model_id, model_step=output.step))

    def _run_ids(self, experiment_ids: Sequence[str], filter_string: str | None, view_type: int,
                 max_results: int | None, order_by: Sequence[str] | None, page_token: str | None,
                 cur: duckdb.DuckDBPyConnection) -> tuple[list[str], str | None]:

        params = Params(RUNS.columns, RUNS.maps)
        ids = sorted({str(e) for e in experiment_ids})
        # one experiment (the usual search) as an equality: DuckDB plans it ~0.3 ms faster than a semi-join
        scope = f"r.experiment_id = {params.add(ids[0])}" if len(ids) == 1 else \
            f"r.experiment_id IN (SELECT unnest({params.add(ids)}::VARCHAR[]))"
        where = [scope, lifecycle(view_type, params)]
        page = search(cur, RUNS, "r.run_id", filter_string, order_by, max_results, page_token,
                      where=where, params=params, scope=[ids, int(view_type)], current=True)  # self.cursor()'s
        return [row[0] for row in page.rows], page.token

    def search_runs(self, experiment_ids: Sequence[str], filter_string: str | None, view_type: int,
                    max_results: int | None, order_by: Sequence[str] | None, page_token: str | None) -> PagedList[Run]:
        self.require_store()  # a read: a store that is not there is an error, not an empty answer

        cur = self.cursor()
        ids, token = self._run_ids(experiment_ids, filter_string, view_type, max_results, order_by, page_token, cur)
        return PagedList(runs_by_id(cur, ids, self.catalog.run_entities), token)  # a search required the store

    def search_runs_table(self, experiment_ids: Sequence[str], filter_string: str | None, view_type: int,
                          max_results: int | None, order_by: Sequence[str] | None) -> pa.Table:
        self.require_store()  # a read: a store that is not there is an error, not an empty answer

        cur = self.cursor()
        ids, _ = self._run_ids(experiment_ids, filter_string, view_type, max_results, order_by, None, cur)
        return flatten(cur, ids)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        self.require_store()  # a read: a store that is not there is an error, not an empty answer

        cur = self.cursor()
        history = metric_history(cur, run_id, key)
        # no points: no such metric, or no such run (a run's points imply the run, and save a lookup)
        if not len(history) and run_id not in self.active_runs and run_lifecycle(cur, run_id) is None:
            raise RunNotFoundError(f"Run with id={run_id!r} not found in {self.where()}")
        return history

    def record_artifacts(self, run_id: str, files: Sequence[tuple[str, int, str]]) -> None:
        for path, size, digest in files:
            self.log.append(ArtifactLogged(run_id=run_id, path=path, size=size, sha256=digest))

    # ---- logged models ----------------------------------------------------------------------

    def create_logged_model(self, experiment_id: str, name: str, source_run_id: str | None, model_type: str,
                            params: KeyValues, tags: KeyValues, flavors: Sequence[str] = ()) -> LoggedModel:
        exp = self.get_experiment(experiment_id)
        if exp.lifecycle_stage != LifecycleStage.ACTIVE:
            raise ExperimentNotActiveError(f"The experiment {experiment_id} must be in the 'active' state to log "
                                           "models in it; current state is deleted")
        if source_run_id:
            self.get_run(source_run_id)
        model_id = f"m-{uuid.uuid4().hex}"
        location = exp.artifact_location
        if exp.experiment_id == "0" and get_artifact_root() is not None:
            location = f"{self.artifact_root}/0"
        self.log.append(ModelLogged(model_id=model_id, experiment_id=exp.experiment_id, run_id=source_run_id or "",
                                    name=name, artifact_location=f"{location.rstrip('/')}/models/{model_id}/artifacts",
                                    flavors=",".join(flavors), model_type=model_type))
        self.log.append(LoggedModelStatusSet(model_id=model_id, status="PENDING"))
        for key, value in params:
            self.log.append(LoggedModelParamLogged(model_id=model_id, key=key, value=value))
        for key, value in tags:
            self.log.append(LoggedModelTagSet(model_id=model_id, key=key, value=value))
        return self.get_logged_model(model_id)

    def get_logged_model(self, model_id: str) -> LoggedModel:

        found = logged_model(self.cursor(), model_id)
        if found is None:
            raise LoggedModelNotFoundError(f"Logged model with ID '{model_id}' not found.")
        return found

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        self.get_logged_model(model_id)
        self.log.append(LoggedModelStatusSet(model_id=model_id, status=status))
        return self.get_logged_model(model_id)

    def set_logged_model_tags(self, model_id: str, tags: KeyValues) -> None:
        self.get_logged_model(model_id)
        for key, value in tags:
            self.log.append(LoggedModelTagSet(model_id=model_id, key=key, value=value))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        if key not in self.get_logged_model(model_id).tags:
            raise NotFoundError(f"No tag with key {key!r} on logged model {model_id}")
        self.log.append(LoggedModelTagDeleted(model_id=model_id, key=key))

    def log_logged_model_params(self, model_id: str, params: KeyValues) -> None:
        self.get_logged_model(model_id)
        for key, value in params:
            self.log.append(LoggedModelParamLogged(model_id=model_id, key=key, value=value))

    def delete_logged_model(self, model_id: str) -> None:
        self.get_logged_model(model_id)
        self.log.append(LoggedModelDeleted(model_id=model_id))

    def search_logged_models(self, experiment_ids: Sequence[str], filter_string: str | None,
                             max_results: int | None, order_by: Sequence[tuple[str, bool]] | None,
                             page_token: str | None,
                             datasets: Sequence[tuple[str, str | None]] = ()) -> PagedList[LoggedModel]:
        self.require_store()  # a read: a store that is not there is an error, not an empty answer

        params = Params(LOGGED_MODELS.columns, LOGGED_MODELS.maps)
        spec = LOGGED_MODELS
        if datasets:  # metrics.<k> then means the latest point of k on one of these datasets
            matches = " OR ".join(
                f"(x.dataset_name = {params.add(name)}"
                + (f" AND x.dataset_digest = {params.add(digest)})" if digest else ")") for name, digest in datasets)
            spec = spec._replace(view=(
                "(SELECT m.* REPLACE ((SELECT coalesce(map_from_entries(list({'k': key, 'v': value} ORDER BY key)), "
                "MAP {}::MAP(VARCHAR, DOUBLE)) FROM (SELECT key, arg_max(value, (timestamp, step)) AS value "
                f"FROM logged_model_metrics x WHERE x.model_id = m.model_id AND ({matches}) GROUP BY key)) AS metrics) "
                "FROM logged_models m)"))
        where = ["r.experiment_id IN (SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'active')"]
        if experiment_ids:
            where.append(f"r.experiment_id IN (SELECT unnest({params.add([str(e) for e in experiment_ids])}::VARCHAR[]))")
        if datasets and not _filters_metrics(parse(filter_string, LOGGED_MODEL_ATTRIBUTES)):
            # datasets and no metric condition: the models with a metric on one of them (MLflow's rule)
            where.append(f"r.model_id IN (SELECT model_id FROM logged_model_metrics x WHERE {matches})")
        clauses = [f"{name} {'ASC' if ascending else 'DESC'}" for name, ascending in order_by or ()]
        cur = self.cursor()
        page = search(cur, spec, LOGGED_MODEL_SELECT, filter_string, clauses, max_results,
                      page_token, where=where, params=params, scope=[sorted(map(str, experiment_ids)), list(datasets)])
        return PagedList(logged_models(cur, page.rows), page.token)

    # ---- the model registry -------------------------------------------------------------------

    def _append_now(self, *events: Any) -> None:
        """Append and publish at once: a registry change is visible to other processes on return."""
        for e in events:
            self.log.append(e)
        if events:
            self.log.flush()

    def _model_id(self, name: str, cur: duckdb.DuckDBPyConnection | None = None) -> str:
        rows = (cur or self.cursor()).execute("SELECT registered_model_id FROM registered_models WHERE name = ?",
                                              [name]).fetchall()
        if not rows:
            raise RegisteredModelNotFoundError(f"Registered Model with name={name} not found")
        return str(rows[0][0])

    def _version_exists(self, name: str, version: int, cur: duckdb.DuckDBPyConnection) -> str:
        model_id = self._model_id(name, cur)
        if not cur.execute("SELECT 1 FROM model_versions WHERE name = ? AND version = ?", [name, version]).fetchall():
            raise ModelVersionNotFoundError(f"Model Version (name={name}, version={version}) not found")
        return model_id

    def _registry_cursor(self, as_of: Any) -> duckdb.DuckDBPyConnection:
        return self.cursor(as_of)

    def create_registered_model(self, name: str, tags: KeyValues, description: str | None) -> RegisteredModel:
        model_id = uuid.uuid4().hex
        holder = self.log.claim(_MODEL_NAMES, name, model_id)
        if holder != model_id:
            deadline = time.monotonic() + 3.0  # the holder may be publishing its event right now
            while True:
                cur = self.cursor()
                alive = cur.execute("SELECT count(*) FROM registered_models WHERE name = ? OR registered_model_id = ?",
                                    [name, holder]).fetchall()[0][0]
                if alive:
                    raise RegisteredModelAlreadyExistsError(f"Registered Model (name={name}) already exists.")
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            raise RegisteredModelAlreadyExistsError(
                f"Registered Model name {name!r} is claimed by model id {holder}, which was never recorded (its "
                f"creator died mid-way?); delete {self.log._claim_path(_MODEL_NAMES, name)} in the store to free it")
        self._append_now(RegisteredModelCreated(registered_model_id=model_id, model_name=name, description=description or ""),
                         *(RegisteredModelTagSet(registered_model_id=model_id, model_name=name, key=k, value=v)
                           for k, v in tags))
        return self.get_registered_model(name)

    def get_registered_model(self, name: str, as_of: Any = None) -> RegisteredModel:

        found = registered_model(self._registry_cursor(as_of), name)
        if found is None:
            raise RegisteredModelNotFoundError(f"Registered Model with name={name} not found"
                                               + (" at that moment" if as_of is not None else ""))
        return found

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        model_id = self._model_id(name)
        if new_name == name:
            return self.get_registered_model(name)
        holder = self.log.claim(_MODEL_NAMES, new_name, model_id)
        if holder != model_id:
            raise RegisteredModelAlreadyExistsError(f"Registered Model (name={new_name}) already exists.")
        self._append_now(RegisteredModelRenamed(registered_model_id=model_id, model_name=new_name, old_name=name))
        self.log.release_claim(_MODEL_NAMES, name)
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        model_id = self._model_id(name)
        if description is not None:
            self._append_now(RegisteredModelDescriptionSet(registered_model_id=model_id, model_name=name,
                                                           description=description))
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        """Delete the model with all its versions and aliases, as MLflow does; the name is free again."""
        model_id = self._model_id(name)
        self._append_now(RegisteredModelDeleted(registered_model_id=model_id, model_name=name))
        self.log.release_claim(_MODEL_NAMES, name)

    def search_registered_models(self, filter_string: str | None, max_results: int | None,
                                 order_by: Sequence[str] | None, page_token: str | None,
                                 as_of: Any = None) -> PagedList[RegisteredModel]:
        self.require_store()  # a read: a store that is not there is an error, not an empty answer

        cur = self._registry_cursor(as_of)
        page = search(cur, MODELS, MODEL_SELECT, without_prompts(filter_string, MODELS), order_by, max_results,
                      page_token, scope=filter_string)
        return PagedList(registered_models(cur, page.rows), page.token)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._append_now(RegisteredModelTagSet(registered_model_id=self._model_id(name), model_name=name, key=key,
                                               value=value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        model = self.get_registered_model(name)
        if key not in model.tags:
            raise NotFoundError(f"No tag with name: {key} in registered model {name}")
        self._append_now(RegisteredModelTagDeleted(registered_model_id=self._model_id(name), model_name=name, key=key))

    def create_model_version(self, name: str, source: str, run_id: str | None, tags: KeyValues,
                             run_link: str | None, description: str | None, model_id: str | None) -> ModelVersion:
        cur = self.cursor()
        registered_id = self._model_id(name, cur)
        number = self._claim_version(registered_id, cur)
        self._append_now(
            ModelVersionCreated(registered_model_id=registered_id, model_name=name, version=number, source=source,
                                run_id=run_id or "", model_id=model_id or "", description=description or "",
                                run_link=run_link or ""),
            *(ModelVersionTagSet(registered_model_id=registered_id, model_name=name, version=number, key=k, value=v)
              for k, v in tags))
        return self.get_model_version(name, number)

    def _claim_version(self, registered_id: str, cur: duckdb.DuckDBPyConnection) -> int:
        """The next free version number, claimed put-if-absent: unique across processes, never reused."""
        created = cur.execute("SELECT max(version) FROM meta WHERE kind = 'ModelVersionCreated' "
                              "AND registered_model_id = ?", [registered_id]).fetchall()[0][0]
        token = uuid.uuid4().hex
        namespace = f"model-versions/{registered_id}"
        number = (created or 0) + 1
        for _ in range(100_000):
            if self.log.claim(namespace, str(number), token) == token:
                return number
            number += 1
        raise AlreadyExistsError(f"no free version number below {number}")  # pragma: no cover

    def get_model_version(self, name: str, version: int, as_of: Any = None) -> ModelVersion:

        cur = self._registry_cursor(as_of)
        rows = cur.execute(f"SELECT {VERSION_SELECT} FROM model_versions r WHERE name = ? AND version = ?",
                           [name, version]).fetchall()
        if not rows:
            self._model_id(name, cur)
            raise ModelVersionNotFoundError(f"Model Version (name={name}, version={version}) not found")
        return model_versions(cur, rows)[0]

    def update_model_version(self, name: str, version: int, description: str | None) -> ModelVersion:
        registered_id = self._version_exists(name, version, self.cursor())
        if description is not None:
            self._append_now(ModelVersionDescriptionSet(registered_model_id=registered_id, model_name=name,
                                                        version=version, description=description))
        return self.get_model_version(name, version)

    def delete_model_version(self, name: str, version: int) -> None:
        found = self.get_model_version(name, version)
        registered_id = self._model_id(name)
        self._append_now(*(ModelAliasDeleted(registered_model_id=registered_id, model_name=name, alias=a)
                           for a in found.aliases),
                         ModelVersionDeleted(registered_model_id=registered_id, model_name=name, version=version))

    def get_latest_versions(self, name: str, stages: Sequence[str] | None, as_of: Any = None) -> list[ModelVersion]:
        model = self.get_registered_model(name, as_of)
        wanted = {s.lower() for s in stages} if stages else None
        return [v for v in model.latest_versions if wanted is None or v.current_stage.lower() in wanted]

    def transition_model_version_stage(self, name: str, version: int, stage: str,
                                       archive_existing_versions: bool) -> ModelVersion:
        cur = self.cursor()
        registered_id = self._version_exists(name, version, cur)
        events: list[Any] = [ModelVersionStageSet(registered_model_id=registered_id, model_name=name, version=version,
                                                  stage=stage)]
        if archive_existing_versions:
            others = cur.execute("SELECT version FROM model_versions WHERE name = ? AND version != ? AND current_stage = ?",
                                 [name, version, stage]).fetchall()
            events += [ModelVersionStageSet(registered_model_id=registered_id, model_name=name, version=v,
                                            stage="Archived") for (v,) in others]
        self._append_now(*events)
        return self.get_model_version(name, version)

    def search_model_versions(self, filter_string: str | None, max_results: int | None,
                              order_by: Sequence[str] | None, page_token: str | None,
                              as_of: Any = None) -> PagedList[ModelVersion]:
        self.require_store()  # a read: a store that is not there is an error, not an empty answer

        cur = self._registry_cursor(as_of)
        page = search(cur, VERSIONS, VERSION_SELECT, without_prompts(filter_string, VERSIONS), order_by,
                      max_results, page_token, scope=filter_string)
        return PagedList(model_versions(cur, page.rows), page.token)

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        registered_id = self._version_exists(name, version, self.cursor())
        self._append_now(ModelVersionTagSet(registered_model_id=registered_id, model_name=name, version=version,
                                            key=key, value=value))

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        if key not in self.get_model_version(name, version).tags:
            raise NotFoundError(f"No tag with name: {key} in model version {name}/{version}")
        self._append_now(ModelVersionTagDeleted(registered_model_id=self._model_id(name), model_name=name,
                                                version=version, key=key))

    def set_registered_model_alias(self, name: str, alias: str, version: int) -> None:
        registered_id = self._version_exists(name, version, self.cursor())
        self._append_now(ModelAliasSet(registered_model_id=registered_id, model_name=name, alias=alias, version=version))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        model = self.get_registered_model(name)
        if alias not in model.aliases:
            raise ModelAliasNotFoundError(f"Registered model alias {alias} not found for model {name}.")
        self._append_now(ModelAliasDeleted(registered_model_id=self._model_id(name), model_name=name, alias=alias))

    def get_model_version_by_alias(self, name: str, alias: str, as_of: Any = None) -> ModelVersion:
        model = self.get_registered_model(name, as_of)
        number = model.aliases.get(alias)
        if number is None:
            raise ModelAliasNotFoundError(f"Registered model alias {alias} not found for model {name}"
                                          + (" at that moment" if as_of is not None else "") + ".")
        return self.get_model_version(name, number, as_of)

    # ---- SQL ----------------------------------------------------------------------------------

    def sql(self, query: str, as_of: Any = None) -> Any:
        self.require_store()  # a read: a store that is not there is an error, not an empty answer
        return run_sql(self.cursor(as_of), query)

    def connect(self, as_of: Any = None) -> ReadOnlyConnection:
        """A read-only connection over the views: statements and relation methods that would
        write are refused (`query.connection.ReadOnlyConnection`)."""
        self.require_store()  # a read: a store that is not there is an error, not an empty answer
        return ReadOnlyConnection(self.cursor(as_of))


def _filters_metrics(node: Node | None) -> bool:
    """Whether a parsed filter has a condition on a metric."""
    if isinstance(node, Comparison):
        return node.key.entity == "metric"
    return node is not None and any(_filters_metrics(item) for item in node.items)
