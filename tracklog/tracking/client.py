"""`Client`: MLflow's ``MlflowClient`` — tracking, logged models and the registry — on any store.

The client checks every argument (MLflow's rules: key characters and lengths, value lengths,
numbers, batch limits) and hands it to its `TrackingStore`, chosen once from the tracking URI
(`store_for`): a folder, ``file://…`` or fsspec URL is a `LocalStore` (the event log), an
``http(s)://`` URL a `RestStore` (a tracking server, tracklog's or MLflow's). The methods are
the same either way.

>>> import tempfile, tracklog
>>> client = tracklog.Client(tempfile.mkdtemp())
>>> exp_id = client.create_experiment("demo")
>>> run = client.create_run(exp_id, run_name="first")
>>> client.log_metric(run.info.run_id, "acc", 0.9, step=1)
>>> client.get_run(run.info.run_id).data.metrics
{'acc': 0.9}
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from eventlog.errors import (
    InvalidArtifactPathError,
    InvalidInputError,
    InvalidValueError,
    ModelVersionNotFoundError,
    ParamChangedError,
    RegisteredModelAlreadyExistsError,
)
from eventlog.validation import (
    MAX_DATASET_DIGEST_LENGTH,
    MAX_DATASET_NAME_LENGTH,
    MAX_EXPERIMENT_TAG_VAL_LENGTH,
    MAX_PARAM_VAL_LENGTH,
    MAX_TAG_VAL_LENGTH,
    MetricLink,
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
from projections.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    InputTag,
    LoggedModel,
    Metric,
    MetricHistory,
    ModelOutput,
    ModelVersion,
    PagedList,
    Param,
    RegisteredModel,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from tracklog import artifacts
from tracklog._config import get_tracking_uri
from tracklog._http import is_remote
from tracklog.artifacts import _media
from tracklog.registry import (
    check_alias,
    check_model_name,
    check_stage,
    check_version,
    parse_models_uri,
)
from tracklog.tracking._names import random_run_name
from tracklog.tracking.local import LocalStore
from tracklog.tracking.rest import RestStore
from tracklog.tracking.store import TrackingStore

__all__ = ["Client", "store_for"]

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_KEY_CACHE_LIMIT = 100_000
_LOGGED_MODEL_STATUSES = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "UPLOAD_FAILED"}

_rest_stores: dict[str, RestStore] = {}
_rest_lock = threading.Lock()


def store_for(uri: str) -> TrackingStore:
    """The store behind a tracking URI: a tracking server for ``http(s)://``, else the event log."""
    if is_remote(uri):
        with _rest_lock:
            store = _rest_stores.get(uri)
            if store is None:
                store = _rest_stores[uri] = RestStore(uri)
        return store
    return LocalStore.open(uri)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _text(what: str, key: str, value: Any, limit: int) -> str:
    return check_string_value(what, key, value, limit)


def _param_text(key: str, value: Any) -> str:
    return check_string_value("param value", key, value, MAX_PARAM_VAL_LENGTH)


def _tag_text(key: str, value: Any) -> str:
    return check_string_value("tag value", key, value, MAX_TAG_VAL_LENGTH)


def _status(status: Any) -> RunStatus:
    try:
        return RunStatus(str(status).upper())
    except ValueError:
        raise InvalidValueError(f"run status must be one of {', '.join(RunStatus)}, got {status!r}") from None


def _opt(value: Any) -> str:
    return "" if value is None else str(value)


def _opt_str(what: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise InvalidValueError(f"{what} must be a string, got {type(value).__name__} {value!r}")


class Client:
    """Tracking, logged-model and registry operations on one store, with ``MlflowClient``'s names.

    Args:
        tracking_uri: a folder, ``file://…``, an fsspec URL or a tracking server's ``http(s)://``
            URL; default: `tracklog.get_tracking_uri()`.
        registry_uri: accepted for MLflow's signature; the registry lives in the tracking store.
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        self._tracking_uri = str(tracking_uri or get_tracking_uri())
        self._store: TrackingStore = store_for(self._tracking_uri)
        self._ok_keys: set[str] = getattr(self._store, "ok_metric_keys", set())
        self._log_metric = self._store.log_metric

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    @property
    def store(self) -> TrackingStore:
        """The `TrackingStore` this client talks to."""
        return self._store

    def flush(self) -> None:
        """Publish everything logged so far (a local store; a server's writes are synchronous)."""
        self._store.flush()

    # ---- experiments ----------------------------------------------------------------------

    def create_experiment(self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None) -> str:
        """Create an experiment; returns its id.

        Raises:
            ExperimentAlreadyExistsError: the name is taken (also by a deleted experiment).
        """
        name = check_experiment_name(name)
        checked = [(check_key("experiment tag key", k), _text("experiment tag value", k, v, MAX_EXPERIMENT_TAG_VAL_LENGTH))
                   for k, v in (tags or {}).items()]
        return self._store.create_experiment(name, artifact_location or None, checked)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; raises `ExperimentNotFoundError`."""
        return self._store.get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name (active or deleted), or None."""
        return self._store.get_experiment_by_name(name)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._store.rename_experiment(str(experiment_id), check_experiment_name(new_name))

    def delete_experiment(self, experiment_id: str) -> None:
        self._store.delete_experiment(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._store.restore_experiment(str(experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        key = check_key("experiment tag key", key)
        self._store.set_experiment_tag(str(experiment_id), key,
                                       _text("experiment tag value", key, value, MAX_EXPERIMENT_TAG_VAL_LENGTH))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._store.delete_experiment_tag(str(experiment_id), key)

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = 1000,
                           filter_string: str | None = None, order_by: list[str] | None = None,
                           page_token: str | None = None) -> PagedList[Experiment]:
        """Experiments matching MLflow's experiment filter, newest first, one page at a time.

        Filters take ``name``, ``tags.<key>``, ``creation_time``, ``last_update_time`` (ms),
        ``experiment_id``; ``order_by`` the same attributes with ``ASC``/``DESC``.
        """
        return self._store.search_experiments(view_type, max_results, filter_string, order_by, page_token)

    # ---- runs -----------------------------------------------------------------------------

    def create_run(self, experiment_id: str, start_time: int | None = None, tags: dict[str, Any] | None = None,
                   run_name: str | None = None, *, user_id: str | None = None) -> Run:
        """Start a run in an active experiment; returns it (status RUNNING). `user_id`: who it
        is recorded for (default: this process's user)."""
        checked = self._check_tags(tags or {})
        name = run_name or dict(checked).get("mlflow.runName") or random_run_name()
        start = None if start_time is None else check_timestamp("start_time", start_time)
        return self._store.create_run(str(experiment_id), start, checked, str(name), user_id)

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params, tags, inputs and outputs; raises `RunNotFoundError`."""
        return self._store.get_run(check_run_id(run_id))

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self._store.update_run(check_run_id(run_id), None if status is None else _status(status), None,
                               None if name is None else str(name))

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        """End a run: status FINISHED (default), FAILED or KILLED."""
        final = _status(status or RunStatus.FINISHED)
        end = None if end_time is None else check_timestamp("end_time", end_time)
        self._store.update_run(check_run_id(run_id), final, end)

    def resume_run(self, run_id: str) -> None:
        self._store.require_active_run(run_id)
        self._store.update_run(run_id, RunStatus.RUNNING)

    def delete_run(self, run_id: str) -> None:
        self._store.delete_run(check_run_id(run_id))

    def restore_run(self, run_id: str) -> None:
        self._store.restore_run(check_run_id(run_id))

    def require_active_run(self, run_id: str) -> None:
        """Raise `RunNotFoundError` / `RunNotActiveError` unless the run can be logged to."""
        self._store.require_active_run(run_id)

    def set_description(self, run_id: str, description: str) -> None:
        self.set_tag(run_id, "mlflow.note.content", description)

    # ---- logging --------------------------------------------------------------------------

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None, step: int | None = None,
                   synchronous: bool | None = None, dataset_name: str | None = None,
                   dataset_digest: str | None = None, model_id: str | None = None) -> None:
        """Log one metric point; returns as soon as it is buffered (and in the WAL).

        With `model_id` the point is also one of that logged model's metrics (computed on the
        dataset `dataset_name`/`dataset_digest`, if given), as MLflow 3 links them.
        """
        if model_id is not None or dataset_name is not None or dataset_digest is not None:
            point = Metric(key, value, _now_ms() if timestamp is None else timestamp, 0 if step is None else step,
                           model_id=model_id, dataset_name=dataset_name, dataset_digest=dataset_digest)
            self.log_batch(run_id, metrics=[point])
            return
        if key not in self._ok_keys:
            check_key("metric key", key)
            self._remember(key)
        if value.__class__ is not float:
            value = check_metric_value(key, value)
        if step is None:
            step = 0
        elif step.__class__ is not int or not _I64_MIN <= step <= _I64_MAX:
            step = check_step(key, step)
        if timestamp is not None and (timestamp.__class__ is not int or not 0 <= timestamp <= _I64_MAX):
            timestamp = check_timestamp(key, timestamp)
        self._log_metric(run_id, key, value, step, timestamp)  # timestamp None: the event's own time

    def _remember(self, key: str) -> None:
        if len(self._ok_keys) >= _KEY_CACHE_LIMIT:
            self._ok_keys.clear()
        self._ok_keys.add(key)

    def log_metrics(self, run_id: str, metrics: dict[str, Any], step: int | None = None,
                    timestamp: int | None = None, model_id: str | None = None, dataset_name: str | None = None,
                    dataset_digest: str | None = None) -> None:
        """Several metrics at one step and timestamp: validated first, then appended together
        (with `model_id`, also as that logged model's metrics, on the dataset if given)."""
        if model_id is not None or dataset_name is not None or dataset_digest is not None:
            stamp = _now_ms() if timestamp is None else timestamp
            points = [Metric(k, v, stamp, 0 if step is None else step, model_id=model_id, dataset_name=dataset_name,
                             dataset_digest=dataset_digest) for k, v in metrics.items()]
            for start in range(0, len(points), 1000):
                self.log_batch(run_id, metrics=points[start:start + 1000])
            return
        if not self._ok_keys.issuperset(metrics):
            for key in metrics:
                if key.__class__ is not str or key not in self._ok_keys:
                    self._remember(check_key("metric key", key))
        floats = True
        for value in metrics.values():
            if value.__class__ is not float:
                floats = False
                break
        if not floats:  # ints, numpy scalars, tensors: converted (or refused) before anything is written
            metrics = {k: v if v.__class__ is float else check_metric_value(k, v) for k, v in metrics.items()}
        if step is None:
            step = 0
        elif step.__class__ is not int or not _I64_MIN <= step <= _I64_MAX:
            step = check_step("step", step)
        if timestamp is not None:  # None: the writer stamps the event's own time
            timestamp = check_timestamp("timestamp", timestamp)
        self._store.log_metrics(run_id, metrics, step, timestamp)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param; logging the same value again is fine, a different one raises `ParamChangedError`."""
        self.log_batch(run_id, params=[Param(key, _param_text(key, value))])
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        self.log_batch(run_id, tags=[RunTag(key, _tag_text(key, value))])

    def delete_tag(self, run_id: str, key: str) -> None:
        self._store.delete_tag(check_run_id(run_id), key)

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = (), synchronous: bool | None = None) -> None:
        """Log metrics, params and tags at once; all are checked before any is recorded.

        Raises:
            BatchTooLargeError: over MLflow's limits (1000 metrics, 100 params, 100 tags).
            ParamChangedError: a param already logged with a different value.
        """
        metrics, params, tags = list(metrics), list(params), list(tags)
        check_batch_size(len(metrics), len(params), len(tags))
        checked_metrics = check_metric_points(metrics, self._ok_keys, self._remember, _now_ms())  # columns
        links = self._metric_links(metrics)
        checked_params = self._check_params(params)
        checked_tags = self._check_tags({t.key: t.value for t in tags})
        self._store.log_batch(check_run_id(run_id), checked_metrics, checked_params, checked_tags, links)

    def log_inputs(self, run_id: str, datasets: Iterable[DatasetInput] | None = None, models: Any = None) -> None:
        """Record the datasets (and logged models) a run used (MLflow's ``log_inputs``)."""
        checked = []
        for item in datasets or ():
            ds = item.dataset
            dataset = Dataset(
                name=_text("dataset name", ds.name, ds.name, MAX_DATASET_NAME_LENGTH),
                digest=_text("dataset digest", ds.name, ds.digest, MAX_DATASET_DIGEST_LENGTH),
                source_type=str(ds.source_type or ""), source=str(ds.source or ""), schema=ds.schema, profile=ds.profile)
            checked.append(DatasetInput(dataset=dataset, tags=[InputTag(t.key, str(t.value)) for t in item.tags]))
        model_ids = [str(getattr(m, "model_id", m)) for m in models or ()]
        self._store.log_inputs(check_run_id(run_id), checked, model_ids)

    def log_outputs(self, run_id: str, models: Iterable[Any]) -> None:
        """Record the logged models a run produced (MLflow 3's ``log_outputs``: `LoggedModelOutput`s)."""
        outputs = [ModelOutput(model_id=str(m.model_id), step=int(getattr(m, "step", 0) or 0)) for m in models]
        self._store.log_outputs(check_run_id(run_id), outputs)

    def search_runs(self, experiment_ids: list[str] | str, filter_string: str = "",
                    run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                    order_by: list[str] | None = None, page_token: str | None = None) -> PagedList[Run]:
        """Runs matching an MLflow search filter (plus OR and parentheses), one page at a time.

        >>> import tempfile, tracklog
        >>> client = tracklog.Client(tempfile.mkdtemp())
        >>> run_id = client.create_run("0").info.run_id
        >>> client.log_metric(run_id, "acc", 0.95)
        >>> [r.info.run_id == run_id for r in client.search_runs(["0"], "metrics.acc > 0.9")]
        [True]
        """
        return self._store.search_runs(self._experiment_ids(experiment_ids), filter_string, run_view_type,
                                       max_results, order_by, page_token)

    def search_runs_table(self, experiment_ids: list[str] | str, filter_string: str = "",
                          run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                          order_by: list[str] | None = None) -> Any:
        """The matching runs in MLflow's pandas layout (``metrics.<k>``, ``params.<k>``…), as Arrow."""
        return self._store.search_runs_table(self._experiment_ids(experiment_ids), filter_string, run_view_type,
                                             max_results, order_by)

    @staticmethod
    def _experiment_ids(experiment_ids: list[str] | str) -> list[str]:
        return [experiment_ids] if isinstance(experiment_ids, str) else [str(e) for e in experiment_ids]

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every logged point of one metric, by step then timestamp: a sequence of `Metric`
        (columns on demand with ``.arrow()`` / ``.df()``)."""
        return self._store.get_metric_history(check_run_id(run_id), key)

    # ---- artifacts --------------------------------------------------------------------------

    def _artifact_root(self, run_id: str) -> str:
        return self._store.get_run(check_run_id(run_id)).info.artifact_uri

    def _upload(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None) -> None:
        """Upload a file or a folder's files under the run's artifact root (+ `artifact_path`) and
        record each file (path, size, sha256) as it lands."""
        prefix = artifacts.validate_artifact_path(artifact_path)
        self._store.require_active_run(run_id)

        def record(rel: str, size: int, digest: str) -> None:
            self._store.record_artifacts(run_id, [(artifacts.join_path(prefix, rel), size, digest)])

        root = self._artifact_root(run_id)
        artifacts.check_no_links(root, prefix)
        artifacts.upload(local_path, artifacts.join_uri(root, prefix), on_file=record)

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload a file (into `artifact_path`) or a folder (as ``<artifact_path>/<its name>``) to
        the run's artifacts, streaming; each file is recorded with its size and sha256.

        Raises:
            InvalidArtifactPathError: `artifact_path` would leave the run's folder.
            InvalidInputError: `local_path` does not exist.
        """
        src = Path(os.fspath(local_path)).expanduser()
        prefix = artifacts.validate_artifact_path(artifact_path)
        if src.is_dir():
            prefix = artifacts.join_path(prefix, artifacts.validate_artifact_path(src.resolve().name))
        self._upload(run_id, src, prefix)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload every file under `local_dir` into the run's `artifact_path` (default: its root)."""
        src = Path(os.fspath(local_dir)).expanduser()
        if not src.is_dir():
            what = "is a file (use log_artifact)" if src.is_file() else "does not exist"
            raise InvalidInputError(f"log_artifacts takes a folder, but {str(src)!r} {what}")
        self._upload(run_id, src, artifact_path)

    @contextlib.contextmanager
    def staged_artifact(self, run_id: str, artifact_file: str) -> Iterator[Path]:
        """A temporary local file to write; on exit it is uploaded as `artifact_file` of the run."""
        rel = artifacts.validate_artifact_path(artifact_file)
        if not rel:
            raise InvalidArtifactPathError(f"artifact_file must name a file, got {artifact_file!r}")
        self._store.require_active_run(run_id)
        with tempfile.TemporaryDirectory(prefix="tracklog-artifact-") as tmp:
            path = Path(tmp, posixpath.basename(rel))
            yield path
            self._upload(run_id, path, posixpath.dirname(rel) or None)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Save `text` (UTF-8) as the artifact `artifact_file`, e.g. ``"notes/summary.md"``."""
        if not isinstance(text, str):
            raise InvalidValueError(f"log_text takes a str, got {type(text).__name__} for {artifact_file!r}")
        with self.staged_artifact(run_id, artifact_file) as path:
            path.write_text(text, encoding="utf-8")

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Save a dict as JSON, or as YAML if `artifact_file` ends in ``.yml``/``.yaml``."""
        with self.staged_artifact(run_id, artifact_file) as path:
            _media._write_dict(dictionary, path, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None) -> None:
        """Save a matplotlib figure (any format ``savefig`` knows) or a plotly figure (``.html``,
        or an image format through kaleido) as `artifact_file`."""
        with self.staged_artifact(run_id, artifact_file) as path:
            _media._save_figure(figure, path, artifact_file, save_kwargs)

    def log_image(self, run_id: str, image: Any, artifact_file: str | None = None, key: str | None = None,
                  step: int | None = None, timestamp: int | None = None, synchronous: bool | None = None) -> None:
        """Save a PIL image or numpy array as `artifact_file`, or (with `key` and `step`) as one
        step of a time-stepped image, in MLflow's ``images/`` layout with a thumbnail."""
        _media._log_image(self, run_id, image, artifact_file, key, step, timestamp)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Save a dict or DataFrame as a ``.json`` or ``.parquet`` table; logging to the same file
        again appends the rows."""
        _media._log_table(self, run_id, data, artifact_file)

    def load_table(self, experiment_id: str, artifact_file: str, run_ids: list[str] | None = None,
                   extra_columns: list[str] | None = None) -> Any:
        """The table `artifact_file` of every run of the experiment (or of `run_ids`) that logged
        it, concatenated as one DataFrame; `extra_columns` adds run columns such as ``run_id``."""
        return _media._load_table(self, experiment_id, artifact_file, run_ids, extra_columns)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and folders directly under the run's artifact `path` (default: its root)."""
        return artifacts.run_artifact_path(self._artifact_root(run_id), path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Download the run's artifact file or folder `path` to ``<dst_path>/<path>`` (default: a
        new temporary folder); returns that local path.

        Raises:
            ArtifactNotFoundError: the run has nothing at `path`.
        """
        return artifacts.run_download(self._artifact_root(run_id), path, dst_path, what=f"run {run_id}")

    # ---- checks -----------------------------------------------------------------------------

    @staticmethod
    def _metric_links(metrics: Sequence[Any]) -> dict[int, MetricLink]:
        """The points also logged to a logged model (MLflow 3's ``model_id``/``dataset_*``), by index."""
        links: dict[int, MetricLink] = {}
        try:  # the common batch links nothing: one pass, with no Python call per point
            linked = [i for i, m in enumerate(metrics) if m.model_id or m.dataset_name or m.dataset_digest]
        except AttributeError:  # entities without MLflow 3's fields (an older MLflow's Metric)
            linked = list(range(len(metrics)))
        for i in linked:
            m = metrics[i]
            model_id, name, digest = (getattr(m, a, None) for a in ("model_id", "dataset_name", "dataset_digest"))
            if model_id or name or digest:
                links[i] = MetricLink(_opt_str(f"metrics[{i}].model_id", model_id) or "",
                                      _opt_str(f"metrics[{i}].dataset_name", name) or "",
                                      _opt_str(f"metrics[{i}].dataset_digest", digest) or "")
        return links

    def _check_params(self, params: list[Param]) -> list[tuple[str, str]]:
        out: dict[str, str] = {}
        for i, p in enumerate(params):
            key = check_key(f"params[{i}].key", p.key)
            value = _param_text(key, p.value)
            if key in out and out[key] != value:
                raise ParamChangedError(f"param {key!r} appears twice in one batch, as {out[key]!r} and {value!r}")
            out[key] = value
        return list(out.items())

    def _check_tags(self, tags: dict[str, Any]) -> list[tuple[str, str]]:
        return [(check_key("tag key", k), _tag_text(k, v)) for k, v in tags.items()]

    def _key_values(self, what: str, items: Any, limit: int) -> list[tuple[str, str]]:
        """(key, value) pairs from a dict or from entities with ``key`` and ``value``, checked."""
        pairs: Iterable[tuple[Any, Any]] = items.items() if isinstance(items, dict) else ((i.key, i.value) for i in items or ())
        return [(check_key(f"{what} key", k), _text(f"{what} value", k, v, limit)) for k, v in pairs]

    # ---- logged models (MLflow 3) -------------------------------------------------------------

    def create_logged_model(self, experiment_id: str, name: str | None = None, source_run_id: str | None = None,
                            tags: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                            model_type: str | None = None, flavors: Sequence[str] = ()) -> LoggedModel:
        """A new PENDING logged model; save its files under ``model.artifact_location``, then
        `finalize_logged_model` it READY."""
        return self._store.create_logged_model(
            str(experiment_id), name or random_run_name(), source_run_id or None, _opt(model_type),
            self._key_values("param", params, MAX_PARAM_VAL_LENGTH), self._key_values("tag", tags, MAX_TAG_VAL_LENGTH),
            flavors)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self._store.get_logged_model(model_id)

    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        """Set the status: READY (or ``LOGGED_MODEL_READY``, 2), UPLOAD_FAILED, PENDING."""
        name = _LOGGED_MODEL_STATUSES.get(status) if isinstance(status, int) and not isinstance(status, bool) \
            else str(getattr(status, "name", status)).upper().removeprefix("LOGGED_MODEL_")
        if name not in ("PENDING", "READY", "UPLOAD_FAILED"):
            raise InvalidInputError(f"status must be LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or "
                                    f"LOGGED_MODEL_UPLOAD_FAILED, got {status!r}")
        return self._store.finalize_logged_model(model_id, name)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        self._store.set_logged_model_tags(model_id, self._key_values("tag", tags, MAX_TAG_VAL_LENGTH))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._store.delete_logged_model_tag(model_id, key)

    def log_model_params(self, model_id: str, params: dict[str, Any]) -> None:
        self._store.log_logged_model_params(model_id, self._key_values("param", params, MAX_PARAM_VAL_LENGTH))

    def delete_logged_model(self, model_id: str) -> None:
        self._store.delete_logged_model(model_id)

    def search_logged_models(self, experiment_ids: list[str] | None = None, filter_string: str | None = None,
                             max_results: int | None = None, order_by: list[dict[str, Any]] | None = None,
                             page_token: str | None = None,
                             datasets: list[dict[str, Any]] | None = None) -> PagedList[LoggedModel]:
        """Logged models of these experiments (all, if none given) matching a filter over
        attributes (``name``, ``status``, ``source_run_id``…), ``metrics.<k>``, ``params.<k>``
        and ``tags.<k>``; `order_by` as MLflow's ``[{"field_name": …, "ascending": …}]``;
        `datasets` as MLflow's ``[{"dataset_name": …, "dataset_digest": …}]`` (metrics on those only)."""
        orders = [(str(o["field_name"]), bool(o.get("ascending", True))) for o in order_by or ()]
        checked = []
        for i, d in enumerate(datasets or ()):
            name = d.get("dataset_name") if isinstance(d, dict) else None
            if not isinstance(name, str) or not name:
                raise InvalidInputError(f"datasets[{i}] must be a dict with a 'dataset_name' string, got {d!r}")
            digest = d.get("dataset_digest")
            checked.append((name, None if digest is None else str(digest)))
        if not checked:  # stores that predate `datasets` take the five arguments
            return self._store.search_logged_models([str(e) for e in experiment_ids or ()], filter_string,
                                                    max_results, orders, page_token)
        return self._store.search_logged_models([str(e) for e in experiment_ids or ()], filter_string, max_results,
                                                orders, page_token, datasets=checked)

    # ---- the model registry -------------------------------------------------------------------

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None, description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        return self._store.create_registered_model(check_model_name(name), self._key_values("tag", tags, MAX_TAG_VAL_LENGTH),
                                                   None if description is None else str(description))

    def get_registered_model(self, name: str, *, as_of: Any = None) -> RegisteredModel:
        return self._store.get_registered_model(check_model_name(name), as_of)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self._store.rename_registered_model(check_model_name(name), check_model_name(new_name, "new_name"))

    def update_registered_model(self, name: str, description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        return self._store.update_registered_model(check_model_name(name), None if description is None else str(description))

    def delete_registered_model(self, name: str) -> None:
        """Delete the model with all its versions and aliases, as MLflow does; the name is free again."""
        self._store.delete_registered_model(check_model_name(name))

    def search_registered_models(self, filter_string: str | None = None, max_results: int = 100,
                                 order_by: list[str] | None = None, page_token: str | None = None,
                                 *, as_of: Any = None) -> PagedList[RegisteredModel]:
        return self._store.search_registered_models(filter_string, max_results, order_by, page_token, as_of)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        key = check_key("tag key", key)
        self._store.set_registered_model_tag(check_model_name(name), key, _tag_text(key, _opt(value)))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._store.delete_registered_model_tag(check_model_name(name), key)

    def create_model_version(self, name: str, source: str, run_id: str | None = None, tags: dict[str, Any] | None = None,
                             run_link: str | None = None, description: str | None = None,
                             await_creation_for: int = 300, model_id: str | None = None) -> ModelVersion:
        if not isinstance(source, str) or not source:
            raise InvalidInputError(f"Missing value for required parameter 'source' (a model URI), got {source!r}")
        if model_id and not run_id:  # MLflow 3: a version of a logged model comes from the model's run
            run_id = self.get_logged_model(model_id).source_run_id
        return self._store.create_model_version(check_model_name(name), source, run_id or None,
                                                self._key_values("tag", tags, MAX_TAG_VAL_LENGTH), run_link,
                                                description, model_id or None)

    def get_model_version(self, name: str, version: Any, *, as_of: Any = None) -> ModelVersion:
        return self._store.get_model_version(check_model_name(name), check_version(version), as_of)

    def update_model_version(self, name: str, version: Any, description: str | None = None) -> ModelVersion:
        return self._store.update_model_version(check_model_name(name), check_version(version),
                                                None if description is None else str(description))

    def delete_model_version(self, name: str, version: Any) -> None:
        self._store.delete_model_version(check_model_name(name), check_version(version))

    def get_latest_versions(self, name: str, stages: list[str] | None = None, *, as_of: Any = None) -> list[ModelVersion]:
        """The newest version in each stage (all stages, or those given). Deprecated in MLflow, kept."""
        checked = None if stages is None else [check_stage(s) for s in stages]
        return self._store.get_latest_versions(check_model_name(name), checked, as_of)

    def transition_model_version_stage(self, name: str, version: Any, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Move a version to a stage (MLflow's deprecated stages: None, Staging, Production, Archived)."""
        canonical = check_stage(stage)
        if archive_existing_versions and canonical not in ("Staging", "Production"):
            raise InvalidInputError(f"archive_existing_versions=True applies only to Staging and Production, not {canonical}")
        return self._store.transition_model_version_stage(check_model_name(name), check_version(version), canonical,
                                                          archive_existing_versions)

    def search_model_versions(self, filter_string: str | None = None, max_results: int = 10_000,
                              order_by: list[str] | None = None, page_token: str | None = None,
                              *, as_of: Any = None) -> PagedList[ModelVersion]:
        return self._store.search_model_versions(filter_string, max_results, order_by, page_token, as_of)

    def _stage_version(self, name: str, version: Any, stage: str | None) -> int:
        if version is None and stage is not None:
            latest = self.get_latest_versions(name, [stage])
            if not latest:
                raise ModelVersionNotFoundError(f"no version of {name} in stage {stage}")
            return latest[0].version
        return check_version(version)

    def set_model_version_tag(self, name: str, version: Any = None, key: str | None = None, value: Any = None,
                              stage: str | None = None) -> None:
        checked = check_key("tag key", key)
        self._store.set_model_version_tag(check_model_name(name), self._stage_version(name, version, stage), checked,
                                          _tag_text(checked, _opt(value)))

    def delete_model_version_tag(self, name: str, version: Any = None, key: str | None = None,
                                 stage: str | None = None) -> None:
        self._store.delete_model_version_tag(check_model_name(name), self._stage_version(name, version, stage), str(key))

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        self._store.set_registered_model_alias(check_model_name(name), check_alias(alias), check_version(version))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._store.delete_registered_model_alias(check_model_name(name), alias)

    def get_model_version_by_alias(self, name: str, alias: str, *, as_of: Any = None) -> ModelVersion:
        return self._store.get_model_version_by_alias(check_model_name(name), alias, as_of)

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        source = self.resolve_model_version(src_model_uri)
        with contextlib.suppress(RegisteredModelAlreadyExistsError):
            self.create_registered_model(dst_name)
        return self.create_model_version(dst_name, source.source or src_model_uri, run_id=source.run_id,
                                         model_id=source.model_id, description=source.description, tags=source.tags)

    def resolve_model_version(self, model_uri: str, *, as_of: Any = None) -> ModelVersion:
        """The version a ``models:/name/…`` or ``models:/name@alias`` URI names."""
        name, selector, kind = parse_models_uri(model_uri)
        if kind == "logged":
            raise InvalidInputError(f"{model_uri!r} names a logged model, not a registered model version")
        if kind == "alias":
            return self.get_model_version_by_alias(name, selector, as_of=as_of)
        if kind == "version":
            return self.get_model_version(name, selector, as_of=as_of)
        stages = None if kind == "latest" else [selector]
        latest = self.get_latest_versions(name, stages, as_of=as_of)
        if not latest:
            what = "no versions" if kind == "latest" else f"no version in stage {selector}"
            raise ModelVersionNotFoundError(f"Registered model {name} has {what} ({model_uri})")
        return max(latest, key=lambda v: v.version)

    def get_model_version_download_uri(self, name: str, version: Any) -> str:
        """Where the version's files are (its logged model's folder, or its source)."""
        return self.model_location(self.get_model_version(name, version).source or "")

    def model_location(self, source: str) -> str:
        """The concrete URI behind a model source: ``models:/<model_id>`` (a logged model's folder),
        ``models:/<name>/…`` (the registry), ``runs:/…`` (a run's artifact or logged model), or as given."""
        if source.startswith("models:/"):
            name, _, kind = parse_models_uri(source)
            if kind == "logged":
                return self.get_logged_model(name).artifact_location
            return self.model_location(self.resolve_model_version(source).source or source)
        if source.startswith("runs:/"):
            return artifacts.resolve_artifact_uri(source, self._tracking_uri)
        return source

    # ---- SQL ----------------------------------------------------------------------------------

    def sql(self, query: str, as_of: Any = None) -> Any:
        """Read-only SQL over the store's views (`tracklog.sql`)."""
        return self._store.sql(query, as_of)

    def connect(self, as_of: Any = None) -> Any:
        """A DuckDB connection with every view (`tracklog.connect`; a local store only)."""
        return self._store.connect(as_of)


def _run_artifacts(run_id: str, path: str, tracking_uri: str | None) -> str:
    """``runs:/<run_id>/<path>``: the run's artifact root + path (the last resolver tried)."""
    root = Client(tracking_uri)._artifact_root(run_id)
    artifacts.check_no_links(root, path)  # never read, listed or written through a symbolic link
    return artifacts.join_uri(root, path)


def _model_folder(model_uri: str, tracking_uri: str | None) -> str:
    """``models:/<model_id>`` or a registry URI: the model's folder, as the store records it."""
    return Client(tracking_uri).model_location(model_uri)


artifacts.RUNS_URI_RESOLVERS.append(_run_artifacts)
artifacts.MODELS_URI_RESOLVERS.append(_model_folder)
