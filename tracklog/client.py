"""`Client`: MLflow's ``MlflowClient`` for tracking, on the event log.

>>> import tempfile, tracklog
>>> client = tracklog.Client(tempfile.mkdtemp())
>>> exp_id = client.create_experiment("demo")
>>> run = client.create_run(exp_id, run_name="first")
>>> client.log_metric(run.info.run_id, "acc", 0.9, step=1)
>>> client.get_run(run.info.run_id).data.metrics
{'acc': 0.9}
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from eventlog import (
    DatasetInputLogged,
    ExperimentAlreadyExistsError,
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentNotActiveError,
    ExperimentNotFoundError,
    ExperimentRenamed,
    ExperimentRestored,
    ExperimentTagDeleted,
    ExperimentTagSet,
    InvalidInputError,
    InvalidValueError,
    ParamChangedError,
    ParamLogged,
    RunDeleted,
    RunDescriptionSet,
    RunEnded,
    RunNotFoundError,
    RunRenamed,
    RunRestored,
    RunResumed,
    RunStarted,
    RunTagDeleted,
    RunTagSet,
    uuid7,
)
from eventlog.validation import (
    MAX_DATASET_DIGEST_LENGTH,
    MAX_DATASET_NAME_LENGTH,
    MAX_EXPERIMENT_TAG_VAL_LENGTH,
    MAX_PARAM_VAL_LENGTH,
    MAX_TAG_VAL_LENGTH,
    check_batch_size,
    check_experiment_name,
    check_key,
    check_metric_points,
    check_metric_value,
    check_run_id,
    check_step,
    check_string_value,
    check_timestamp,
)
from projections import (
    DatasetInput,
    Experiment,
    FileInfo,
    LifecycleStage,
    Metric,
    MetricHistory,
    PagedList,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from projections.tracking import ExperimentState, RunState
from tracklog._backend import Backend, backend_for
from tracklog._config import get_artifact_root, get_tracking_uri
from tracklog._names import random_run_name
from tracklog.registry import RegistryClient

__all__ = ["Client"]

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_time_ns = time.time_ns
_EXPERIMENT_NAMES = "experiment-names"
_PUBLISH_ENDS_WITHIN = 0.25  # s: how soon other processes see a run end (flush_interval at most)


def _now_ms() -> int:
    return _time_ns() // 1_000_000


class Client(RegistryClient):
    """Tracking operations on one store, with ``MlflowClient``'s names and signatures.

    Args:
        tracking_uri: a folder, ``file://…`` or fsspec URL; default: `tracklog.get_tracking_uri()`.
    """

    def __new__(cls, tracking_uri: str | None = None, registry_uri: str | None = None) -> Client:
        if cls is Client and str(tracking_uri or get_tracking_uri()).startswith(("http://", "https://")):
            from tracklog._rest import RestClient  # a tracking server: the same methods, over REST

            return super().__new__(RestClient)
        return super().__new__(cls)

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        self._tracking_uri = tracking_uri or get_tracking_uri()
        self._b: Backend = backend_for(self._tracking_uri)
        self._append_metric = self._b.log.writer.log_metric  # the writer re-mints in place after fork

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    def flush(self) -> None:
        """Publish everything logged so far (tracklog's; MLflow's client writes synchronously)."""
        self._b.log.flush()

    # ---- experiments ----------------------------------------------------------------------

    def create_experiment(self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None) -> str:
        """Create an experiment; returns its id.

        Raises:
            ExperimentAlreadyExistsError: the name is taken (also by a deleted experiment).
        """
        name = check_experiment_name(name)
        tag_events = [(check_key("experiment tag key", k), check_string_value("experiment tag value", k, v, MAX_EXPERIMENT_TAG_VAL_LENGTH)) for k, v in (tags or {}).items()]
        self._raise_if_name_taken(name, self._b.state())
        experiment_id = self._new_experiment_id()
        holder = self._b.log.claim(_EXPERIMENT_NAMES, name, experiment_id)
        if holder != experiment_id:
            self._raise_if_name_taken(name, self._wait_for_experiment(holder))
            raise ExperimentAlreadyExistsError(
                f"Experiment {name!r} is claimed by experiment id {holder}, which was never recorded "
                f"(its creator died mid-way?); delete {self._b.log._claim_path(_EXPERIMENT_NAMES, name)} "
                "in the store to free the name"
            )
        location = artifact_location or f"{self._b.artifact_root}/{experiment_id}"
        self._b.log.append(ExperimentCreated(experiment_id=experiment_id, name=name, artifact_location=location))
        for key, value in tag_events:
            self._b.log.append(ExperimentTagSet(experiment_id=experiment_id, key=key, value=value))
        self._b.log.flush()  # creation is rare; make it visible to other processes at once
        return experiment_id

    def _new_experiment_id(self) -> str:
        """A numeric id like MLflow's, ordered by creation time; a claim makes it unique."""
        while True:
            candidate = str((_now_ms() << 15) | (int.from_bytes(os.urandom(2)) >> 1))
            if self._b.log.claim("experiment-ids", candidate, candidate) == candidate:
                return candidate

    def _wait_for_experiment(self, experiment_id: str, timeout: float = 15.0) -> Any:
        """Another process won the name: wait until its creation event is published."""
        deadline = time.monotonic() + timeout
        while True:
            state = self._b.state()
            if state.experiment(experiment_id) is not None or time.monotonic() > deadline:
                return state
            time.sleep(0.05)

    def _raise_if_name_taken(self, name: str, state: Any) -> None:
        existing = state.experiment_by_name(name)
        if existing is None:
            return
        if existing.lifecycle.value == LifecycleStage.DELETED:
            raise ExperimentAlreadyExistsError(
                f"Experiment {name!r} already exists in deleted state (id {existing.experiment_id}); "
                "restore it with restore_experiment, or rename it first"
            )
        raise ExperimentAlreadyExistsError(f"Experiment {name!r} already exists (id {existing.experiment_id})")

    def _experiment_state(self, experiment_id: str, *, recent: bool = False) -> ExperimentState:
        """The experiment from a fresh listing (or, `recent`, from one at most a second old)."""
        eid = str(experiment_id)
        exp = self._b.find_experiment(eid) if recent else self._b.state().experiment(eid)
        if exp is None:
            raise ExperimentNotFoundError(f"No Experiment with id={experiment_id!r} exists in {self._b.uri}")
        return exp

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; raises `ExperimentNotFoundError`."""
        return self._experiment_state(experiment_id).to_entity()

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name (active or deleted), or None."""
        exp = self._b.state().experiment_by_name(name)
        return None if exp is None else exp.to_entity()

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        exp = self._experiment_state(experiment_id)
        new_name = check_experiment_name(new_name)
        old_name = exp.name.value
        if new_name == old_name:
            return
        self._raise_if_name_taken(new_name, self._b.state())
        holder = self._b.log.claim(_EXPERIMENT_NAMES, new_name, exp.experiment_id)
        if holder != exp.experiment_id:
            raise ExperimentAlreadyExistsError(f"Experiment {new_name!r} already exists (claimed by id {holder})")
        self._b.log.append(ExperimentRenamed(experiment_id=exp.experiment_id, name=new_name))
        self._b.log.flush()
        self._b.log.release_claim(_EXPERIMENT_NAMES, old_name)

    def delete_experiment(self, experiment_id: str) -> None:
        exp = self._experiment_state(experiment_id)
        self._b.log.append(ExperimentDeleted(experiment_id=exp.experiment_id))
        self._b.active_runs.clear()

    def restore_experiment(self, experiment_id: str) -> None:
        exp = self._experiment_state(experiment_id)
        self._b.log.append(ExperimentRestored(experiment_id=exp.experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        exp = self._experiment_state(experiment_id)
        key = check_key("experiment tag key", key)
        text = check_string_value("experiment tag value", key, value, MAX_EXPERIMENT_TAG_VAL_LENGTH)
        self._b.log.append(ExperimentTagSet(experiment_id=exp.experiment_id, key=key, value=text))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        exp = self._experiment_state(experiment_id)
        if key not in exp.tags or exp.tags[key].value is None:
            raise InvalidInputError(f"No tag with name {key!r} in experiment {experiment_id}")
        self._b.log.append(ExperimentTagDeleted(experiment_id=exp.experiment_id, key=key))

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = 1000,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """Experiments matching MLflow's experiment filter, newest first, one page at a time.

        Filters take ``name``, ``tags.<key>``, ``creation_time``, ``last_update_time`` (ms),
        ``experiment_id``; ``order_by`` the same attributes with ``ASC``/``DESC``.
        """
        from query.search import search_experiments

        page = search_experiments(self._b.cursor(), filter_string, view_type, max_results, order_by, page_token)
        return PagedList(page.items, page.token)

    def search_runs(
        self,
        experiment_ids: list[str] | str,
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """Runs matching an MLflow search filter (plus OR and parentheses), one page at a time.

        >>> import tempfile, tracklog
        >>> client = tracklog.Client(tempfile.mkdtemp())
        >>> run_id = client.create_run("0").info.run_id
        >>> client.log_metric(run_id, "acc", 0.95)
        >>> [r.info.run_id == run_id for r in client.search_runs(["0"], "metrics.acc > 0.9")]
        [True]
        """
        from query.search import runs_by_id, search_runs

        ids = [experiment_ids] if isinstance(experiment_ids, str) else [str(e) for e in experiment_ids]
        cur = self._b.cursor()
        page = search_runs(cur, ids, filter_string, run_view_type, max_results, order_by, page_token, ids_only=True)
        # Run entities are cached by the catalog until a fold touches their run
        runs = runs_by_id(cur, page.table.column("run_id").to_pylist(), self._b.catalog().run_entities)
        return PagedList(runs, page.token)

    # ---- runs -----------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Start a run in an active experiment; returns it (status RUNNING)."""
        exp = self._experiment_state(experiment_id, recent=True)
        if exp.lifecycle.value != LifecycleStage.ACTIVE:
            raise ExperimentNotActiveError(
                f"The experiment {experiment_id} must be in the 'active' state to create runs in it; current state is deleted"
            )
        checked = self._check_tags(tags or {})
        run_name = run_name or checked.get("mlflow.runName") or random_run_name()
        run_id = uuid7().replace("-", "")
        self._b.log.append(RunStarted(
            run_id=run_id, experiment_id=exp.experiment_id, run_name=run_name,
            start_time=_now_ms() if start_time is None else check_timestamp("start_time", start_time),
            artifact_uri=self._run_artifact_uri(exp, run_id),
        ))
        for key, value in checked.items():
            if key != "mlflow.runName":
                self._b.log.append(RunTagSet(run_id=run_id, key=key, value=value))
        self._b.active_runs.add(run_id)
        run = self._b.state(stale_ok=1.0).run(run_id)  # its events are this process's own
        return run.to_entity() if run is not None else self.get_run(run_id)

    def _run_state(self, run_id: str) -> RunState:
        run = self._b.find_run(run_id)
        if run is None:
            check_run_id(run_id)
            raise RunNotFoundError(f"Run with id={run_id!r} not found in {self._b.uri}")
        return run

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params, tags and inputs; raises `RunNotFoundError`."""
        run = self._b.state().run(run_id)
        if run is None:
            raise RunNotFoundError(f"Run with id={run_id!r} not found in {self._b.uri}")
        return run.to_entity()

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self._run_state(run_id)
        if status is not None:
            status = _status(status)
            if status == RunStatus.RUNNING:
                self._b.log.append(RunResumed(run_id=run_id))
            else:
                self._end(run_id, status, _now_ms())
        if name is not None:
            self._b.log.append(RunRenamed(run_id=run_id, run_name=str(name)))

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        """End a run: status FINISHED (default), FAILED or KILLED."""
        self._run_state(run_id)
        status = _status(status or RunStatus.FINISHED)
        end = _now_ms() if end_time is None else check_timestamp("end_time", end_time)
        self._end(run_id, status, end)

    def _end(self, run_id: str, status: RunStatus, end_time: int) -> None:
        """Record a run's end; it goes out with a background flush due shortly (the WAL holds it
        meanwhile), shared by the runs that end close together: the caller does not wait."""
        self._b.log.append(RunEnded(run_id=run_id, status=status, end_time=end_time))
        self._b.log.writer.publish_soon(_PUBLISH_ENDS_WITHIN)

    def resume_run(self, run_id: str) -> None:
        self._b.require_active_run(run_id)
        self._b.log.append(RunResumed(run_id=run_id))

    def delete_run(self, run_id: str) -> None:
        self._run_state(run_id)
        self._b.log.append(RunDeleted(run_id=run_id))
        self._b.active_runs.discard(run_id)

    def restore_run(self, run_id: str) -> None:
        self._run_state(run_id)
        self._b.log.append(RunRestored(run_id=run_id))

    def set_description(self, run_id: str, description: str) -> None:
        self._b.require_active_run(run_id)
        text = check_string_value("description", "mlflow.note.content", description, MAX_TAG_VAL_LENGTH)
        self._b.log.append(RunDescriptionSet(run_id=run_id, description=text))

    # ---- logging --------------------------------------------------------------------------

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        model_id: str | None = None,
    ) -> None:
        """Log one metric point; returns as soon as it is buffered (and in the WAL)."""
        b = self._b
        if key not in b.ok_metric_keys:
            check_key("metric key", key)
            b.remember_metric_key(key)
        if value.__class__ is not float:
            value = check_metric_value(key, value)
        if step is None:
            step = 0
        elif step.__class__ is not int or not _I64_MIN <= step <= _I64_MAX:
            step = check_step(key, step)
        if timestamp is not None and (timestamp.__class__ is not int or not 0 <= timestamp <= _I64_MAX):
            timestamp = check_timestamp(key, timestamp)
        if run_id not in b.active_runs:
            b.require_active_run(run_id)
        self._append_metric(run_id, key, value, step, timestamp)  # timestamp None: the event's own time

    def _log_metrics(self, run_id: str, metrics: dict[str, Any], step: int | None, timestamp: int | None) -> None:
        """Several metrics at one step: validated first, then appended under one writer lock."""
        b = self._b
        known, floats = b.ok_metric_keys, True
        for key, value in metrics.items():
            if key not in known:
                check_key("metric key", key)
                b.remember_metric_key(key)
            floats = floats and value.__class__ is float
        if not floats:  # ints, numpy scalars, tensors: converted (or refused) before anything is written
            metrics = {key: value if value.__class__ is float else check_metric_value(key, value) for key, value in metrics.items()}
        if step is None:
            step = 0
        elif step.__class__ is not int or not _I64_MIN <= step <= _I64_MAX:
            step = check_step("step", step)
        if timestamp is not None:  # None: the writer stamps the event's own time
            timestamp = check_timestamp("timestamp", timestamp)
        if run_id not in b.active_runs:
            b.require_active_run(run_id)
        b.log.writer.log_metrics(run_id, metrics, step, timestamp)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param; logging the same value again is fine, a different one raises `ParamChangedError`."""
        self.log_batch(run_id, params=[Param(key=key, value=_param_text(key, value))])
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        self.log_batch(run_id, tags=[RunTag(key=key, value=_tag_text(key, value))])

    def delete_tag(self, run_id: str, key: str) -> None:
        run = self._run_state(run_id)
        self._b.require_active_run(run_id)
        if key not in run.tags or run.tags[key].value is None:
            raise InvalidInputError(f"No tag with name {key!r} in run with id {run_id}")
        self._b.log.append(RunTagDeleted(run_id=run_id, key=key))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Log metrics, params and tags at once; all are checked before any is recorded.

        Raises:
            BatchTooLargeError: over MLflow's limits (1000 metrics, 100 params, 100 tags).
            ParamChangedError: a param already logged with a different value.
        """
        metrics, params, tags = list(metrics), list(params), list(tags)
        check_batch_size(len(metrics), len(params), len(tags))
        b = self._b
        checked_metrics = check_metric_points(metrics, b.ok_metric_keys, b.remember_metric_key, _now_ms())
        checked_params = self._check_params(run_id, params)
        checked_tags = self._check_tags({t.key: t.value for t in tags})
        if run_id not in self._b.active_runs:  # the fast path log_metric takes too
            self._b.require_active_run(run_id)
        log = self._b.log
        for key, value in checked_params:
            log.append(ParamLogged(run_id=run_id, key=key, value=value))
        for key, value in checked_tags.items():
            log.append(RunTagSet(run_id=run_id, key=key, value=value))
        log.writer.log_batch(run_id, *checked_metrics)  # one append for all the points, column by column

    def log_inputs(self, run_id: str, datasets: Iterable[DatasetInput] | None = None, models: Any = None) -> None:
        """Record the datasets a run used (MLflow's ``log_inputs``)."""
        self._b.require_active_run(run_id)
        for item in datasets or ():
            ds = item.dataset
            context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), "")
            self._b.log.append(DatasetInputLogged(
                run_id=run_id, dataset_name=check_string_value("dataset name", ds.name, ds.name, MAX_DATASET_NAME_LENGTH),
                dataset_digest=check_string_value("dataset digest", ds.name, ds.digest, MAX_DATASET_DIGEST_LENGTH),
                source_type=ds.source_type, source=ds.source, dataset_schema=ds.schema or "",
                profile=ds.profile or "", context=context,
            ))

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every logged point of one metric, by step then timestamp: a sequence of `Metric`
        (columns on demand with ``.arrow()`` / ``.df()``)."""
        from projections.catalog import fetch_arrow

        cur = self._b.cursor()
        if not cur.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]:
            check_run_id(run_id)
            raise RunNotFoundError(f"Run with id={run_id!r} not found in {self._b.uri}")
        table = fetch_arrow(
            cur,
            "SELECT value, timestamp, step FROM metric_points WHERE run_id = $run AND key = $key "
            "ORDER BY step, timestamp, writer_seq",
            {"run": run_id, "key": key},
        )
        return MetricHistory(table, run_id, key)

    # ---- artifacts --------------------------------------------------------------------------

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload a file (into `artifact_path`) or a folder (as ``<artifact_path>/<its name>``) to
        the run's artifacts, streaming; each file is recorded with its size and sha256.

        Raises:
            InvalidArtifactPathError: `artifact_path` would leave the run's folder.
            InvalidInputError: `local_path` does not exist.
        """
        from tracklog.artifacts import _log_artifact

        _log_artifact(self, run_id, local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload every file under `local_dir` into the run's `artifact_path` (default: its root)."""
        from tracklog.artifacts import _log_artifacts

        _log_artifacts(self, run_id, local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Save `text` (UTF-8) as the artifact `artifact_file`, e.g. ``"notes/summary.md"``."""
        from tracklog.artifacts import _staged

        if not isinstance(text, str):
            raise InvalidValueError(f"log_text takes a str, got {type(text).__name__} for {artifact_file!r}")
        with _staged(self, run_id, artifact_file) as path:
            path.write_text(text, encoding="utf-8")

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Save a dict as JSON, or as YAML if `artifact_file` ends in ``.yml``/``.yaml``."""
        from tracklog._media import _write_dict
        from tracklog.artifacts import _staged

        with _staged(self, run_id, artifact_file) as path:
            _write_dict(dictionary, path, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None) -> None:
        """Save a matplotlib figure (any format ``savefig`` knows) or a plotly figure (``.html``,
        or an image format through kaleido) as `artifact_file`."""
        from tracklog._media import _save_figure
        from tracklog.artifacts import _staged

        with _staged(self, run_id, artifact_file) as path:
            _save_figure(figure, path, artifact_file, save_kwargs)

    def log_image(self, run_id: str, image: Any, artifact_file: str | None = None, key: str | None = None,
                  step: int | None = None, timestamp: int | None = None, synchronous: bool | None = None) -> None:
        """Save a PIL image or numpy array as `artifact_file`, or (with `key` and `step`) as one
        step of a time-stepped image, in MLflow's ``images/`` layout with a thumbnail."""
        from tracklog._media import _log_image

        _log_image(self, run_id, image, artifact_file, key, step, timestamp)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Save a dict or DataFrame as a ``.json`` or ``.parquet`` table; logging to the same file
        again appends the rows."""
        from tracklog._media import _log_table

        _log_table(self, run_id, data, artifact_file)

    def load_table(self, experiment_id: str, artifact_file: str, run_ids: list[str] | None = None,
                   extra_columns: list[str] | None = None) -> Any:
        """The table `artifact_file` of every run of the experiment (or of `run_ids`) that logged
        it, concatenated as one DataFrame; `extra_columns` adds run columns such as ``run_id``."""
        from tracklog._media import _load_table

        return _load_table(self, experiment_id, artifact_file, run_ids, extra_columns)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and folders directly under the run's artifact `path` (default: its root)."""
        from tracklog.artifacts import _list_run

        return _list_run(self, run_id, path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Download the run's artifact file or folder `path` to ``<dst_path>/<path>`` (default: a
        new temporary folder); returns that local path.

        Raises:
            ArtifactNotFoundError: the run has nothing at `path`.
        """
        from tracklog.artifacts import _download_run

        return _download_run(self, run_id, path, dst_path)

    def _run_artifact_uri(self, exp: ExperimentState, run_id: str) -> str:
        """``<experiment location>/<run_id>/artifacts``; the implicit experiment 0 follows the
        configured artifact root (`tracklog.set_artifact_root`, ``TRACKLOG_ARTIFACT_ROOT``)."""
        location = exp.artifact_location
        if exp.experiment_id == "0" and get_artifact_root() is not None:
            location = f"{self._b.artifact_root}/0"
        return f"{location}/{run_id}/artifacts"

    # ---- checks -----------------------------------------------------------------------------

    def _check_params(self, run_id: str, params: list[Param]) -> list[tuple[str, str]]:
        out: dict[str, str] = {}
        for i, p in enumerate(params):
            key = self._checked_key(f"params[{i}].key", p.key)
            value = _param_text(key, p.value)
            if key in out and out[key] != value:
                raise ParamChangedError(f"param {key!r} appears twice in one batch, as {out[key]!r} and {value!r}")
            out[key] = value
        if out:
            run = self._run_state(run_id)
            for key, value in out.items():
                held = run.param_value(key)
                if held is not None and held != value:
                    raise ParamChangedError(
                        f"param {key!r} of run {run_id} was logged as {held!r} and cannot become "
                        f"{value!r}: params are immutable (log a new key, or start a new run)"
                    )
        return list(out.items())

    def _check_tags(self, tags: dict[str, Any]) -> dict[str, str]:
        return {self._checked_key("tag key", k): _tag_text(k, v) for k, v in tags.items()}

    def _checked_key(self, what: str, key: Any) -> str:
        """`check_key`, skipped for keys that passed it before (metric, param and tag keys
        follow one rule)."""
        if key.__class__ is str and key in self._b.ok_metric_keys:
            return key  # type: ignore[no-any-return]
        self._b.remember_metric_key(check_key(what, key))
        return key  # type: ignore[no-any-return]


def _param_text(key: str, value: Any) -> str:
    return check_string_value("param value", key, value, MAX_PARAM_VAL_LENGTH)


def _tag_text(key: str, value: Any) -> str:
    return check_string_value("tag value", key, value, MAX_TAG_VAL_LENGTH)


def _status(status: Any) -> RunStatus:
    try:
        return RunStatus(str(status).upper())
    except ValueError:
        raise InvalidValueError(
            f"run status must be one of {', '.join(RunStatus)}, got {status!r}"
        ) from None
