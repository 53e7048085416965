"""The fluent API: MLflow's module-level functions, so ``import tracklog as mlflow`` works.

Each function is a thin wrapper over a `Client` for the current tracking URI. The stack of
active runs lives in a ContextVar: per thread and per asyncio task, as MLflow's is per thread.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any

from eventlog import (
    ExperimentAlreadyExistsError,
    ExperimentNotFoundError,
    InvalidInputError,
    InvalidStateError,
    RunNotActiveError,
)
from eventlog.errors import RegisteredModelAlreadyExistsError, RegisteredModelNotFoundError
from eventlog.log import default_actor
from projections import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LifecycleStage,
    LoggedModel,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)
from tracklog import artifacts
from tracklog._config import settings
from tracklog._http import is_remote
from tracklog.artifacts import validate_artifact_path
from tracklog.integrations import system_metrics
from tracklog.registry import check_model_name, parse_models_uri
from tracklog.tracking._source import script_git_tags, script_source
from tracklog.tracking.client import Client

__all__ = [
    "ActiveRun",
    "active_run",
    "connect",
    "create_experiment",
    "create_external_model",
    "create_logged_model",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "end_run",
    "finalize_logged_model",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_logged_model",
    "get_parent_run",
    "get_run",
    "initialize_logged_model",
    "last_active_run",
    "last_logged_model",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model_params",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "search_logged_models",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_tag",
    "set_tags",
    "sql",
    "start_run",
]

_run_stack: ContextVar[tuple[ActiveRun, ...]] = ContextVar("tracklog_active_runs", default=())
_last_run_id: ContextVar[str | None] = ContextVar("tracklog_last_active_run_id", default=None)
_RUN_ID_ENV = ("TRACKLOG_RUN_ID", "MLFLOW_RUN_ID")
_EXPERIMENT_ID_ENV = ("TRACKLOG_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID")
_EXPERIMENT_NAME_ENV = ("TRACKLOG_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME")


class ActiveRun:
    """The run `start_run` returned; a context manager that ends it (FAILED if the block raised)."""

    __slots__ = ("_client", "_run", "run_id")

    def __init__(self, run: Run, client: Client) -> None:
        self._run = run
        self._client = client
        self.run_id = run.info.run_id

    @property
    def info(self) -> RunInfo:
        return self._run.info

    @property
    def data(self) -> RunData:
        return self._run.data

    @property
    def inputs(self) -> RunInputs:
        return self._run.inputs

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        """End the run — FINISHED, FAILED if the block raised, KILLED on Ctrl-C — unless it was
        ended inside the block already (then its status stands, as MLflow keeps it)."""
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        while any(r.run_id == self.run_id for r in _run_stack.get()):
            end_run(status)

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.run_id!r}, experiment_id={self.info.experiment_id!r}>"


def _client() -> Client:
    return Client()


# ---- experiments ------------------------------------------------------------------------


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None, trace_location: Any = None
) -> str:
    """Create an experiment; returns its id. (`trace_location` is MLflow's, for traces, which
    tracklog does not record: it must be None.)"""
    _no_traces(trace_location)
    return _client().create_experiment(name, artifact_location, tags)


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None, trace_location: Any = None
) -> Experiment:
    """Make an experiment active for new runs, creating it by name if it does not exist."""
    _no_traces(trace_location)
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidInputError("set_experiment takes exactly one of experiment_name or experiment_id")
    client = _client()
    experiment: Experiment | None
    with settings.lock:
        if experiment_id is not None:
            experiment = client.get_experiment(str(experiment_id))
        else:
            experiment = client.get_experiment_by_name(experiment_name)  # type: ignore[arg-type]
            if experiment is None:
                with contextlib.suppress(ExperimentAlreadyExistsError):  # another process won the race
                    client.create_experiment(experiment_name)  # type: ignore[arg-type]
                experiment = client.get_experiment_by_name(experiment_name)  # type: ignore[arg-type]
                if experiment is None:
                    raise ExperimentNotFoundError(f"could not create or find experiment {experiment_name!r}")
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidStateError(
                f"Cannot set a deleted experiment {experiment.name!r} as the active experiment; "
                f"restore it with restore_experiment({experiment.experiment_id!r}) first"
            )
        settings.experiment_id = experiment.experiment_id
    return experiment


def _no_traces(trace_location: Any) -> None:
    if trace_location is not None:
        raise InvalidInputError(
            f"trace_location={trace_location!r}: tracklog records runs, not MLflow traces; pass None"
        )


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def restore_experiment(experiment_id: str) -> None:
    _client().restore_experiment(experiment_id)


def set_experiment_tag(key: str, value: Any) -> None:
    _client().set_experiment_tag(_experiment_id(), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    """All experiments of a lifecycle view (default: active), newest first."""
    return list(_client().search_experiments(view_type, max_results, filter_string, order_by))


def _experiment_id() -> str:
    if settings.experiment_id is not None:
        return settings.experiment_id
    for var in _EXPERIMENT_ID_ENV:
        if os.environ.get(var):
            return os.environ[var]
    for var in _EXPERIMENT_NAME_ENV:
        if os.environ.get(var):
            return set_experiment(os.environ[var]).experiment_id
    return "0"


# ---- runs -----------------------------------------------------------------------------------


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume `run_id`) and make it active; use it as a context manager.

    `log_system_metrics`: log CPU, memory, disk, network (and GPU) use to the run in the
    background, as MLflow's ``system/…`` metrics (None: if `enable_system_metrics_logging`
    or ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING`` says so; `tracklog.integrations.system_metrics`).

    >>> import tempfile, tracklog
    >>> tracklog.set_tracking_uri(tempfile.mkdtemp())
    >>> with tracklog.start_run(run_name="demo") as run:
    ...     _ = tracklog.log_param("lr", 0.01)
    ...     tracklog.log_metric("loss", 0.5, step=1)
    >>> tracklog.get_run(run.info.run_id).info.status
    <RunStatus.FINISHED: 'FINISHED'>
    """
    stack = _run_stack.get()
    if stack and not nested:
        raise InvalidStateError(
            f"Run with UUID {stack[-1].run_id} is already active. To start a new run, first end the "
            "current run with end_run(). To start a nested run, call start_run with nested=True"
        )
    client = _client()
    run_id = run_id or next((os.environ[v] for v in _RUN_ID_ENV if os.environ.get(v)), None)
    if run_id is not None:
        run = _resume(client, run_id, run_name, tags, description)
    else:
        parent = parent_run_id or (stack[-1].run_id if nested and stack else None)
        run = _create(client, experiment_id, run_name, parent, tags, description)
    active = ActiveRun(run, client)
    _run_stack.set((*_run_stack.get(), active))
    _ensure_exit_hook()
    if log_system_metrics or (log_system_metrics is None and system_metrics.system_metrics_enabled()):
        _watch_system(client, run)
    return active


def _watch_system(client: Client, run: Run) -> None:
    """System metrics for the run, from the step after its last system metric (0 for a new run)."""
    steps = [m.step for m in run.data.metric_list if m.key.startswith(system_metrics.PREFIX)]
    system_metrics.MONITOR.watch(run.info.run_id, lambda run_id, values, step: client.log_metrics(run_id, values, step),
                                 max(steps) + 1 if steps else 0)


def _system_tags(parent_run_id: str | None) -> dict[str, str]:
    source = script_source(sys.argv[0] if sys.argv else "")
    tags = {"mlflow.user": default_actor(), "mlflow.source.name": source, "mlflow.source.type": "LOCAL"}
    tags.update(script_git_tags(source))  # commit, branch, repoURL, dirty flag, as MLflow's git context
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    return tags


def _create(client: Client, experiment_id: str | None, run_name: str | None, parent: str | None,
            tags: dict[str, Any] | None, description: str | None) -> Run:
    if parent is not None:
        client.require_active_run(parent)
    all_tags = {**_system_tags(parent), **(tags or {})}
    run = client.create_run(str(experiment_id) if experiment_id is not None else _experiment_id(), tags=all_tags, run_name=run_name)
    if description is not None:
        client.set_description(run.info.run_id, description)
    return run


def _resume(client: Client, run_id: str, run_name: str | None, tags: dict[str, Any] | None, description: str | None) -> Run:
    run = client.get_run(run_id)
    if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
        raise RunNotActiveError(f"Cannot start run with ID {run_id} because it is in the deleted state")
    if run.info.status != RunStatus.RUNNING:
        client.update_run(run_id, status=RunStatus.RUNNING)
    if run_name:
        client.update_run(run_id, name=run_name)
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, value)
    if description is not None:
        client.set_description(run_id, description)
    return client.get_run(run_id)


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run (FINISHED unless told otherwise).

    The end is an event like any other: this process sees it at once, other processes after
    the next background flush (every few seconds, or `flush()`); the WAL keeps it meanwhile.
    """
    stack = _run_stack.get()
    if not stack:
        return
    active = stack[-1]
    _run_stack.set(stack[:-1])
    system_metrics.MONITOR.unwatch(active.run_id)
    active._client.set_terminated(active.run_id, status)
    _last_run_id.set(active.run_id)


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread/task, or None."""
    stack = _run_stack.get()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, or else the run most recently ended in this thread/task."""
    active = active_run()
    if active is not None:
        return active._client.get_run(active.run_id)
    run_id = _last_run_id.get()
    return None if run_id is None else _client().get_run(run_id)


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    parent = _client().get_run(run_id).data.tags.get("mlflow.parentRunId")
    return None if parent is None else _client().get_run(parent)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    _client().restore_run(run_id)


def _current() -> ActiveRun:
    stack = _run_stack.get()
    return stack[-1] if stack else start_run()


# ---- logging ------------------------------------------------------------------------------


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> None:
    """Log a metric to the active run (starting one if none is active).

    With `model_id` (a logged model's id) the point is also one of that model's metrics, and
    with `dataset` (an MLflow dataset, or anything with ``name`` and ``digest``) it records the
    dataset it was computed on, as MLflow 3 does.
    """
    if model_id is not None or dataset is not None:
        client, target = _run_target(run_id)
        name, digest = _dataset_key(dataset)
        client.log_metric(target, key, value, timestamp, step, dataset_name=name, dataset_digest=digest,
                          model_id=model_id)
    elif run_id is None:
        stack = _run_stack.get()
        active = stack[-1] if stack else _current()
        active._client.log_metric(active.run_id, key, value, timestamp, step)
    else:
        _client().log_metric(run_id, key, value, timestamp, step)


def _dataset_key(dataset: Any) -> tuple[str | None, str | None]:
    if dataset is None:
        return None, None
    if not hasattr(dataset, "name") or not hasattr(dataset, "digest"):
        raise InvalidInputError(f"dataset must be an MLflow dataset (with a name and a digest), got {type(dataset).__name__}")
    return str(dataset.name), str(dataset.digest)


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> None:
    """Log several metrics at one step and timestamp (linked to a logged model and a dataset, as
    `log_metric`)."""
    if dataset is None and model_id is None and run_id is None:  # the common case, at every training step
        stack = _run_stack.get()
        active = stack[-1] if stack else _current()
        active._client.log_metrics(active.run_id, metrics, step, timestamp)
        return
    client, target = _run_target(run_id)
    name, digest = _dataset_key(dataset)
    client.log_metrics(target, metrics, step, timestamp, model_id=model_id, dataset_name=name, dataset_digest=digest)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param to the active run; returns the value."""
    active = _current()
    return active._client.log_param(active.run_id, key, value)


def log_params(params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    active = None if run_id else _current()
    client = active._client if active else _client()
    items = [Param(key=k, value=v if isinstance(v, str) else str(v)) for k, v in params.items()]
    for start in range(0, len(items), 100):
        client.log_batch(run_id or active.run_id, params=items[start : start + 100])  # type: ignore[union-attr]


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    active = _current()
    active._client.set_tag(active.run_id, key, value)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    active = _current()
    items = [RunTag(key=k, value=v if isinstance(v, str) else str(v)) for k, v in tags.items()]
    for start in range(0, len(items), 100):
        active._client.log_batch(active.run_id, tags=items[start : start + 100])


def delete_tag(key: str) -> None:
    active = _current()
    active._client.delete_tag(active.run_id, key)


def log_input(dataset: Any = None, context: str | None = None, tags: dict[str, str] | None = None,
              model: Any = None) -> None:
    """Record a dataset the active run used — a `tracklog.entities.Dataset`, an MLflow dataset
    (``mlflow.data.from_pandas(…)``…: its name, digest, source type, source, schema and profile
    as MLflow records them) or any object with those attributes — and/or a logged model it used
    (`model`: a ``LoggedModelInput`` or anything with a ``model_id``)."""
    datasets = []
    if dataset is not None:
        input_tags = [InputTag(key=k, value=v) for k, v in (tags or {}).items()]
        if context:
            input_tags.append(InputTag(key="mlflow.data.context", value=context))
        datasets.append(DatasetInput(dataset=_dataset_entity(dataset), tags=input_tags))
    active = _current()
    active._client.log_inputs(active.run_id, datasets, [model] if model is not None else None)


def _dataset_entity(dataset: Any) -> Dataset:
    if isinstance(dataset, Dataset):
        return dataset
    to_entity = getattr(dataset, "_to_mlflow_entity", None)
    if callable(to_entity):  # an MLflow dataset: exactly what MLflow itself records
        dataset = to_entity()
    source_type = getattr(dataset, "source_type", None)
    source = getattr(dataset, "source", "")
    if source_type is None and hasattr(source, "_get_source_type"):
        source_type = source._get_source_type()
    return Dataset(name=str(dataset.name), digest=str(dataset.digest), source_type=str(source_type or ""),
                   source=_source_text(source), schema=_maybe_json(getattr(dataset, "schema", None)),
                   profile=_maybe_json(getattr(dataset, "profile", None)))


def _source_text(source: Any) -> str:
    if hasattr(source, "to_json"):
        return str(source.to_json())
    return "" if source is None else str(source)


def _maybe_json(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    import json

    return json.dumps(value if not hasattr(value, "to_dict") else value.to_dict(), default=str)


def search_runs(
    experiment_ids: list[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: list[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
) -> Any:
    """Search runs with MLflow's filter grammar (plus OR and parentheses).

    Returns pandas in MLflow's layout (``run_id … end_time``, ``metrics.<k>``, ``params.<k>``,
    ``tags.<k>``) by default, or ``"list"`` of `Run`, ``"arrow"``, ``"polars"``.
    """
    if output_format not in ("pandas", "list", "arrow", "polars"):
        raise InvalidInputError(f"output_format must be 'pandas', 'list', 'arrow' or 'polars', got {output_format!r}")
    if experiment_ids and experiment_names:
        raise InvalidInputError("search_runs takes experiment_ids or experiment_names, not both")
    client = _client()
    if experiment_names:
        found = [client.get_experiment_by_name(n) for n in experiment_names]
        ids = [e.experiment_id for e in found if e is not None]
    elif experiment_ids:
        ids = [experiment_ids] if isinstance(experiment_ids, str) else [str(e) for e in experiment_ids]
    elif search_all_experiments:
        ids = [e.experiment_id for e in client.search_experiments(max_results=None)]
    else:
        ids = [_experiment_id()]
    if output_format == "list":
        return list(client.search_runs(ids, filter_string, run_view_type, max_results, order_by))
    flat = client.search_runs_table(ids, filter_string, run_view_type, max_results, order_by)
    if output_format == "arrow":
        return flat
    if output_format == "polars":
        import polars as pl

        return pl.from_arrow(flat)
    return flat.to_pandas()


def connect(uri: str | None = None, as_of: Any = None) -> Any:
    """A read-only DuckDB connection with every view of the store registered, for notebooks.

    Views: ``experiments``, ``runs`` (``params``/``tags``/``metrics`` as MAPs of latest values),
    ``metrics`` (full history), ``latest_metrics``, ``params``, ``tags``, ``inputs``,
    ``artifacts``, ``events`` (the raw log) and ``param_conflicts``. With `as_of` (a datetime or
    epoch ms) every view shows the store as it was then. It runs SELECT queries only: statements
    and relation methods that would write are refused (`query.connection.ReadOnlyConnection`).

    >>> import tempfile, tracklog
    >>> tracklog.set_tracking_uri(tempfile.mkdtemp())
    >>> with tracklog.start_run(run_name="a"):
    ...     tracklog.log_metric("acc", 0.5)
    >>> tracklog.connect().sql("SELECT run_name, metrics['acc'] FROM runs").fetchall()
    [('a', 0.5)]
    """
    return Client(uri).connect(as_of)


def sql(query: str, as_of: Any = None, uri: str | None = None) -> Any:
    """Run read-only SQL over the views; the result converts with ``.arrow()``, ``.df()``, ``.pl()``.

    Writes, ``ATTACH``, ``COPY``, ``INSTALL`` and configuration changes are refused; against a
    tracking server, the server runs the query in its sandbox.
    """
    return Client(uri).sql(query, as_of)


def flush() -> None:
    """Publish everything this process logged to the current store."""
    _client().flush()


# ---- artifacts ------------------------------------------------------------------------------


def _run_target(run_id: str | None) -> tuple[Client, str]:
    """The client and run to log to: `run_id`, else the active run (starting one if none is)."""
    if run_id is not None:
        return _client(), run_id
    active = _current()
    return active._client, active.run_id


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Upload a file (into `artifact_path`) or a folder (as ``<artifact_path>/<its name>``) to
    the active run's artifacts."""
    client, run_id = _run_target(run_id)
    client.log_artifact(run_id, local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Upload every file under `local_dir` into the active run's `artifact_path`."""
    client, run_id = _run_target(run_id)
    client.log_artifacts(run_id, local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Save `text` as the artifact `artifact_file` of the active run.

    >>> import tempfile, tracklog
    >>> tracklog.set_tracking_uri(tempfile.mkdtemp())
    >>> with tracklog.start_run() as run:
    ...     tracklog.log_text("lr=0.01", "notes/config.txt")
    >>> tracklog.artifacts.load_text(f"runs:/{run.info.run_id}/notes/config.txt")
    'lr=0.01'
    """
    client, run_id = _run_target(run_id)
    client.log_text(run_id, text, artifact_file)


def log_dict(dictionary: dict[str, Any], artifact_file: str, run_id: str | None = None) -> None:
    """Save a dict as JSON (YAML for ``.yml``/``.yaml``) as the artifact `artifact_file`."""
    client, run_id = _run_target(run_id)
    client.log_dict(run_id, dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None) -> None:
    """Save a matplotlib or plotly figure as the artifact `artifact_file` of the active run."""
    client, run_id = _run_target(None)
    client.log_figure(run_id, figure, artifact_file, save_kwargs=save_kwargs)


def log_image(image: Any, artifact_file: str | None = None, key: str | None = None, step: int | None = None,
              timestamp: int | None = None, synchronous: bool | None = False) -> None:
    """Save a PIL image or numpy array as `artifact_file`, or as step `step` of the time-stepped
    image `key`."""
    client, run_id = _run_target(None)
    client.log_image(run_id, image, artifact_file, key, step, timestamp, synchronous)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save a dict or DataFrame as a ``.json``/``.parquet`` table; rows are appended to an
    existing one."""
    client, run_id = _run_target(run_id)
    client.log_table(run_id, data, artifact_file)


def load_table(artifact_file: str, run_ids: list[str] | None = None, extra_columns: list[str] | None = None) -> Any:
    """The table `artifact_file` of every run in the current experiment (or of `run_ids`) that
    logged it, as one DataFrame."""
    return _client().load_table(_experiment_id(), artifact_file, run_ids, extra_columns)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The active run's artifact URI, or that of `artifact_path` inside it."""
    active = _current()
    path = validate_artifact_path(artifact_path)
    root = active._client.get_run(active.run_id).info.artifact_uri
    return f"{root}/{path}" if path else root


# ---- interpreter exit ---------------------------------------------------------------------

_exit_hook = threading.Event()


def _ensure_exit_hook() -> None:
    # registered after the writer's own hook, so it runs first (atexit is LIFO)
    if not _exit_hook.is_set():
        _exit_hook.set()
        atexit.register(_end_runs_at_exit)


def _end_runs_at_exit() -> None:
    while _run_stack.get():
        try:
            end_run(RunStatus.FINISHED)
        except Exception:  # at exit there is no caller; the WAL keeps what was logged
            _run_stack.set(_run_stack.get()[:-1])


# ---- model registry -------------------------------------------------------------------------


def register_model(model_uri: str, name: str, await_registration_for: int = 300, *,
                   tags: dict[str, Any] | None = None, client: Client | None = None) -> Any:
    """Register the model at `model_uri` as a new version of `name`, creating the model if needed.

    `model_uri` is ``runs:/<run_id>/<name>`` (the run's logged model of that name, else its
    artifacts there), ``models:/<model_id>`` (a logged model), another registered version's
    ``models:/…`` URI (copied), or a path (with a tracking server as the store, the folder is
    uploaded first as a new logged model, and the version made from it). Returns the new
    `ModelVersion`.
    """
    client = client or _client()
    check_model_name(name)
    run_id: str | None = None
    model_id: str | None = None
    source = model_uri
    if model_uri.startswith("runs:/"):
        run_id, _, path = model_uri[len("runs:/"):].strip("/").partition("/")
        logged = _run_logged_model(client, run_id, path.partition("/")[0]) if path else None
        if logged is not None:
            model_id, source = logged.model_id, f"models:/{logged.model_id}"
    elif model_uri.startswith("models:/"):
        key, _, kind = parse_models_uri(model_uri)
        if kind == "logged":
            logged = client.get_logged_model(key)
            model_id, run_id = logged.model_id, logged.source_run_id
        else:
            copied = client.resolve_model_version(model_uri)
            source, run_id, model_id = copied.source or model_uri, copied.run_id, copied.model_id
    elif "://" not in model_uri and is_remote(client.tracking_uri):
        model_id = _upload_model_folder(client, model_uri)  # the server's files, not this machine's
        source = f"models:/{model_id}"
    elif "://" not in model_uri:
        source = os.path.abspath(model_uri)
    with contextlib.suppress(RegisteredModelAlreadyExistsError):
        client.create_registered_model(name)
    deadline = time.monotonic() + 5
    while True:  # another process may have created the name a moment ago
        try:
            return client.create_model_version(name, source, run_id=run_id, tags=tags, model_id=model_id)
        except RegisteredModelNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _upload_model_folder(client: Client, path: str) -> str:
    """A local model folder registered through a tracking server: its files are uploaded as a new
    logged model of the current experiment (a server only takes sources it can read); its id."""
    folder = os.path.abspath(path)
    if not os.path.isdir(folder):
        raise InvalidInputError(f"a model to register must be a folder (with an MLmodel file), runs:/… or "
                                f"models:/…; {path!r} is not a folder")
    model = client.create_logged_model(_experiment_id(), name=os.path.basename(folder) or None)
    try:
        artifacts.upload(folder, model.artifact_location)
    except BaseException:
        client.finalize_logged_model(model.model_id, "UPLOAD_FAILED")
        raise
    client.finalize_logged_model(model.model_id, "READY")
    return model.model_id


def _run_logged_model(client: Client, run_id: str, name: str) -> Any:
    """The run's newest logged model called `name`, or None."""
    experiment_id = client.get_run(run_id).info.experiment_id
    escaped = name.replace("'", "''")
    found = client.search_logged_models([experiment_id], f"source_run_id = '{run_id}' AND name = '{escaped}'",
                                        max_results=1, order_by=[{"field_name": "creation_timestamp", "ascending": False}])
    return found[0] if found else None


# ---- logged models (MLflow 3) ---------------------------------------------------------------

_last_model_id: ContextVar[str | None] = ContextVar("tracklog_last_logged_model_id", default=None)


def create_logged_model(name: str | None = None, source_run_id: str | None = None, tags: dict[str, Any] | None = None,
                        params: dict[str, Any] | None = None, model_type: str | None = None,
                        experiment_id: str | None = None) -> LoggedModel:
    """Create a logged model (MLflow 3's ``LoggedModel``) in the current experiment, produced by
    the active run unless `source_run_id` says otherwise; it starts PENDING (save its files under
    ``model.artifact_location``, then `finalize_logged_model`), as MLflow's
    ``initialize_logged_model``.

    >>> import tempfile, tracklog
    >>> tracklog.set_tracking_uri(tempfile.mkdtemp())
    >>> with tracklog.start_run():
    ...     model = tracklog.create_logged_model("classifier", params={"depth": 3})
    ...     tracklog.log_metric("accuracy", 0.91, model_id=model.model_id)
    >>> [(m.key, m.value) for m in tracklog.get_logged_model(model.model_id).metrics]
    [('accuracy', 0.91)]
    """
    active = active_run()
    if source_run_id is None and active is not None:
        source_run_id = active.run_id
    client = active._client if active is not None else _client()
    if experiment_id is None:
        experiment_id = active.info.experiment_id if active is not None and source_run_id == active.run_id \
            else _experiment_id()
    model = client.create_logged_model(str(experiment_id), name, source_run_id, tags, params, model_type)
    _last_model_id.set(model.model_id)
    return model


initialize_logged_model = create_logged_model  # MLflow 3's name


def create_external_model(name: str | None = None, source_run_id: str | None = None, tags: dict[str, Any] | None = None,
                          params: dict[str, Any] | None = None, model_type: str | None = None,
                          experiment_id: str | None = None) -> LoggedModel:
    """A READY logged model whose files live outside the store (tagged ``mlflow.model.external``),
    to hang params and metrics on, as MLflow's ``create_external_model``."""
    model = create_logged_model(name, source_run_id, {**(tags or {}), "mlflow.model.external": "true"}, params,
                                model_type, experiment_id)
    return finalize_logged_model(model.model_id, "READY")


def finalize_logged_model(model_id: str, status: Any) -> LoggedModel:
    """Set a logged model's status: READY, or FAILED / UPLOAD_FAILED if saving it failed."""
    if str(getattr(status, "name", status)).upper() in ("FAILED", "LOGGED_MODEL_FAILED"):
        status = "UPLOAD_FAILED"
    return _client().finalize_logged_model(model_id, status)


def get_logged_model(model_id: str) -> LoggedModel:
    """The logged model with this id, with its params, tags and metrics; raises
    `LoggedModelNotFoundError`."""
    return _client().get_logged_model(model_id)


def last_logged_model() -> LoggedModel | None:
    """The logged model most recently created in this thread/task (by `log_model` or
    `create_logged_model`), or None."""
    model_id = _last_model_id.get()
    return None if model_id is None else _client().get_logged_model(model_id)


def log_model_params(params: dict[str, Any], model_id: str) -> None:
    """Log params on a logged model (first value wins, as a run's)."""
    _client().log_model_params(model_id, params)


def search_logged_models(experiment_ids: list[str] | None = None, filter_string: str | None = None,
                         datasets: list[dict[str, str]] | None = None, max_results: int | None = None,
                         order_by: list[dict[str, Any]] | None = None, output_format: str = "pandas") -> Any:
    """Logged models of these experiments (default: the current one) matching a filter over
    attributes (``name``, ``status``, ``source_run_id``…), ``metrics.<k>`` (the latest point
    per key, on `datasets` only if given), ``params.<k>`` and ``tags.<k>``.

    Returns a pandas DataFrame (one row per model, MLflow's columns) or, with
    ``output_format="list"``, the `LoggedModel` entities.
    """
    if output_format not in ("pandas", "list"):
        raise InvalidInputError(f"output_format must be 'pandas' or 'list', got {output_format!r}")
    ids = [str(e) for e in experiment_ids] if experiment_ids else [_experiment_id()]
    client = _client()
    found: list[LoggedModel] = []
    token = None
    while True:
        page = client.search_logged_models(ids, filter_string, max_results, order_by, token, datasets=datasets)
        found.extend(page)
        token = page.token
        if not token or (max_results is not None and len(found) >= max_results):
            break
    found = found[:max_results] if max_results is not None else found
    if output_format == "list":
        return found
    import pandas as pd

    return pd.DataFrame([_model_record(m) for m in found])


def _model_record(model: LoggedModel) -> dict[str, Any]:
    return {"model_id": model.model_id, "experiment_id": model.experiment_id, "name": model.name,
            "artifact_location": model.artifact_location, "creation_timestamp": model.creation_timestamp,
            "last_updated_timestamp": model.last_updated_timestamp, "model_type": model.model_type,
            "source_run_id": model.source_run_id, "status": model.status, "status_message": model.status_message,
            "tags": model.tags, "params": model.params, "metrics": list(model.metrics)}
