"""`TrackingStore`: what a tracking backend does — MLflow's ``AbstractStore`` with tracklog's names.

Two implementations: `tracklog.tracking.local.LocalStore` (the event log and its DuckDB
catalog: a folder, ``s3://…``, ``memory://…``) and `tracklog.tracking.rest.RestStore` (a
tracking server's REST API: tracklog's or MLflow's). `tracklog.Client` picks one from the
tracking URI, once (`store_for`), validates every argument and hands it on; nothing above the
client asks which kind it got.

Arguments arrive validated (keys, lengths, types, batch limits); a store checks what needs
state (the run exists and is active, a param is not changed, a name is free) and raises from
`eventlog.errors`. Reads return the entities of `projections.entities`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from eventlog.validation import MetricColumns, MetricLink
    from projections.entities import (
        DatasetInput,
        Experiment,
        LoggedModel,
        MetricHistory,
        ModelOutput,
        ModelVersion,
        PagedList,
        RegisteredModel,
        Run,
    )

__all__ = ["TrackingStore"]

KeyValues = Sequence[tuple[str, str]]


class TrackingStore(abc.ABC):
    """One tracking backend. Every method may raise `eventlog.errors.TracklogError` leaves."""

    uri: str

    # ---- lifecycle ------------------------------------------------------------------------

    @abc.abstractmethod
    def flush(self) -> None:
        """Publish what this process logged (local) — a remote store writes synchronously."""

    def require_store(self) -> None:  # noqa: B027 - a hook: most stores always exist
        """Raise `StoreNotFoundError` if there is no store to read (a local folder that is not
        there); reads never create one. A tracking server's store always exists."""

    # ---- experiments ----------------------------------------------------------------------

    @abc.abstractmethod
    def create_experiment(self, name: str, artifact_location: str | None, tags: KeyValues) -> str: ...

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Raises `ExperimentNotFoundError`."""

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def search_experiments(self, view_type: int, max_results: int | None, filter_string: str | None,
                           order_by: Sequence[str] | None, page_token: str | None) -> PagedList[Experiment]: ...

    # ---- runs -----------------------------------------------------------------------------

    @abc.abstractmethod
    def create_run(self, experiment_id: str, start_time: int | None, tags: KeyValues, run_name: str,
                   user_id: str | None = None) -> Run: ...

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Raises `RunNotFoundError`."""

    @abc.abstractmethod
    def update_run(self, run_id: str, status: str | None = None, end_time: int | None = None,
                   name: str | None = None) -> None:
        """A new status (RUNNING resumes; FINISHED, FAILED, KILLED end at `end_time`) and/or name."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def send_heartbeats(self, run_ids: Sequence[str]) -> None:
        """Record that these runs' process is alive (`tracklog.tracking.heartbeat`); raises
        `RunNotFoundError`."""

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def require_active_run(self, run_id: str) -> None:
        """Raise `RunNotFoundError` / `RunNotActiveError` unless the run can be logged to."""

    @abc.abstractmethod
    def log_metric(self, run_id: str, key: str, value: float, step: int, timestamp: int | None) -> None:
        """One point; `timestamp` None means now. The hot path: no more than a buffer append."""

    @abc.abstractmethod
    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int, timestamp: int | None) -> None:
        """Several points of one run at one step (checked; `timestamp` None means now), all or none."""

    @abc.abstractmethod
    def log_batch(self, run_id: str, metrics: MetricColumns, params: KeyValues, tags: KeyValues,
                  links: Mapping[int, MetricLink] | None = None) -> None:
        """Checked points as columns, params and tags; `links` marks (by index) the points that are
        also logged models' metrics. All or nothing: raises `ParamChangedError` (or
        `LoggedModelNotFoundError`) before recording anything."""

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput], models: Sequence[str] = ()) -> None: ...

    @abc.abstractmethod
    def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None: ...

    @abc.abstractmethod
    def search_runs(self, experiment_ids: Sequence[str], filter_string: str | None, view_type: int,
                    max_results: int | None, order_by: Sequence[str] | None, page_token: str | None) -> PagedList[Run]: ...

    @abc.abstractmethod
    def search_runs_table(self, experiment_ids: Sequence[str], filter_string: str | None, view_type: int,
                          max_results: int | None, order_by: Sequence[str] | None) -> pa.Table:
        """The matching runs in MLflow's pandas layout (``metrics.<k>``, ``params.<k>``…), as Arrow."""

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> MetricHistory: ...

    @abc.abstractmethod
    def record_artifacts(self, run_id: str, files: Sequence[tuple[str, int, str]]) -> None:
        """Files just written into the run's artifacts: (path, size, sha256) each."""

    # ---- logged models (MLflow 3) -------------------------------------------------------------

    @abc.abstractmethod
    def create_logged_model(self, experiment_id: str, name: str, source_run_id: str | None, model_type: str,
                            params: KeyValues, tags: KeyValues, flavors: Sequence[str] = ()) -> LoggedModel:
        """A PENDING logged model; its files go to ``model.artifact_location``, then `finalize_logged_model`."""

    @abc.abstractmethod
    def get_logged_model(self, model_id: str) -> LoggedModel:
        """Raises `LoggedModelNotFoundError`."""

    @abc.abstractmethod
    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel: ...

    @abc.abstractmethod
    def set_logged_model_tags(self, model_id: str, tags: KeyValues) -> None: ...

    @abc.abstractmethod
    def delete_logged_model_tag(self, model_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def log_logged_model_params(self, model_id: str, params: KeyValues) -> None: ...

    @abc.abstractmethod
    def delete_logged_model(self, model_id: str) -> None: ...

    @abc.abstractmethod
    def search_logged_models(self, experiment_ids: Sequence[str], filter_string: str | None,
                             max_results: int | None, order_by: Sequence[tuple[str, bool]] | None,
                             page_token: str | None,
                             datasets: Sequence[tuple[str, str | None]] = ()) -> PagedList[LoggedModel]:
        """`order_by` as (field, ascending) pairs, as MLflow's API takes them; `datasets` as
        (name, digest or None): ``metrics.<k>`` then compares only points on those datasets."""

    # ---- the model registry -------------------------------------------------------------------

    @abc.abstractmethod
    def create_registered_model(self, name: str, tags: KeyValues, description: str | None) -> RegisteredModel: ...

    @abc.abstractmethod
    def get_registered_model(self, name: str, as_of: Any = None) -> RegisteredModel: ...

    @abc.abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: ...

    @abc.abstractmethod
    def delete_registered_model(self, name: str) -> None: ...

    @abc.abstractmethod
    def search_registered_models(self, filter_string: str | None, max_results: int | None,
                                 order_by: Sequence[str] | None, page_token: str | None,
                                 as_of: Any = None) -> PagedList[RegisteredModel]: ...

    @abc.abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    @abc.abstractmethod
    def create_model_version(self, name: str, source: str, run_id: str | None, tags: KeyValues,
                             run_link: str | None, description: str | None, model_id: str | None) -> ModelVersion: ...

    @abc.abstractmethod
    def get_model_version(self, name: str, version: int, as_of: Any = None) -> ModelVersion: ...

    @abc.abstractmethod
    def update_model_version(self, name: str, version: int, description: str | None) -> ModelVersion: ...

    @abc.abstractmethod
    def delete_model_version(self, name: str, version: int) -> None: ...

    @abc.abstractmethod
    def get_latest_versions(self, name: str, stages: Sequence[str] | None, as_of: Any = None) -> list[ModelVersion]: ...

    @abc.abstractmethod
    def transition_model_version_stage(self, name: str, version: int, stage: str,
                                       archive_existing_versions: bool) -> ModelVersion: ...

    @abc.abstractmethod
    def search_model_versions(self, filter_string: str | None, max_results: int | None,
                              order_by: Sequence[str] | None, page_token: str | None,
                              as_of: Any = None) -> PagedList[ModelVersion]: ...

    @abc.abstractmethod
    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_model_version_tag(self, name: str, version: int, key: str) -> None: ...

    @abc.abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: int) -> None: ...

    @abc.abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    @abc.abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str, as_of: Any = None) -> ModelVersion: ...

    # ---- SQL ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def sql(self, query: str, as_of: Any = None) -> Any:
        """Read-only SQL over the views (`query.sql.SqlResult`)."""

    @abc.abstractmethod
    def connect(self, as_of: Any = None) -> Any:
        """A DuckDB connection with every view, for notebooks (a local store only)."""
