"""``tracklog export mlflow DEST``: a tracklog store written into any MLflow tracking URI.

Written through MLflow's own client, so DEST is anything MLflow writes to (a ``mlruns`` folder,
``sqlite:///…``, an ``http(s)://`` server). MLflow mints its own run and logged-model ids, so each
exported run carries its tracklog id in the tag ``tracklog.run_id`` (and each logged model in
``tracklog.model_id``): exporting again skips what DEST already has, and model versions, model
outputs and sources are mapped to the new ids. What MLflow lets a client set comes over as it was:
run names, users (the ``mlflow.user`` tag), status, start and end times, params, tags, every
metric point, dataset inputs, artifacts, lifecycle; logged models with params, tags, metrics,
status, artifacts and source run; registered models with descriptions, tags, versions (their
runs mapped), stages and aliases. Nested runs point at their parent's new id; runs are created
before logged models (which name their source run), then model metrics and run outputs link them.

What cannot come back as it was (tests/transfer/test_round_trip.py compares the rest):
- ids and artifact locations: MLflow mints them (the ``tracklog.*`` tags keep the mapping);
- creation and last-update times of experiments, logged models, registered models and versions,
  and a version's user: MLflow's API takes none of them and records its own;
- a run's user when its ``mlflow.user`` tag is absent: MLflow's client reads the user from that
  tag only, so a user other than ``unknown`` comes back as that tag;
- NaN as a logged model's metric in MLflow's database: MLflow reads it there as 0.0 (its file
  store keeps NaN).
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eventlog.errors import TransferError, UnsupportedSourceError
from projections import ViewType
from tracklog.artifacts import download
from tracklog.tracking.client import Client
from tracklog.tracking.local import LocalStore
from tracklog.transfer._segments import progress_bar
from tracklog.transfer.mlflow_import import _pages, _quiet_mlflow, _quote, open_mlflow_client

__all__ = ["ExportReport", "export_mlflow"]

RUN_ID_TAG = "tracklog.run_id"
MODEL_ID_TAG = "tracklog.model_id"
_PARENT = "mlflow.parentRunId"
_BATCH = 1000  # MLflow's log_batch limit for metrics


@dataclass
class ExportReport:
    dest: str
    experiments: int = 0
    runs: int = 0
    runs_skipped: int = 0
    metric_points: int = 0
    artifacts: int = 0
    logged_models: int = 0
    registered_models: int = 0
    model_versions: int = 0
    run_ids: dict[str, str] = field(default_factory=dict)  # tracklog run id -> MLflow run id
    warnings: list[str] = field(default_factory=list)


def export_mlflow(store: str, dest: str, *, experiments: list[str] | None = None, artifacts: bool = True,
                  progress: bool | None = None) -> ExportReport:
    """Write the tracklog store `store` into the MLflow tracking URI `dest`.

    Args:
        experiments: only the experiments with these names (default: all, deleted ones too).
        artifacts: copy run and logged-model artifacts too.

    Raises:
        MissingDependencyError: MLflow is not installed.
        TransferError: a named experiment is not in the store.
    """
    if store.startswith(("http://", "https://")):
        raise UnsupportedSourceError(f"export reads a tracklog store (a folder or bucket), not a tracking server ({store})")
    if not dest.startswith(("sqlite:", "http:", "https:", "postgresql", "mysql", "mssql", "file:", "databricks")):
        os.makedirs(dest, exist_ok=True)
    else:
        _make_sqlite_folder(dest)
    client = open_mlflow_client(dest)
    source = Client(store)
    source.store.require_store()
    with _quiet_mlflow(dest):
        return _Exporter(source, client, dest, artifacts=artifacts, progress=progress).run(experiments)


def _make_sqlite_folder(dest: str) -> None:
    if dest.startswith("sqlite:///"):
        path = dest[len("sqlite:///"):]
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        if not os.path.exists(path):
            open(path, "a").close()  # noqa: SIM115 - MLflow creates its tables in an empty file


class _Exporter:
    def __init__(self, source: Client, client: Any, dest: str, *, artifacts: bool, progress: bool | None) -> None:
        self.source = source
        self.client = client
        self.dest = dest
        self.artifacts = artifacts
        self.progress = progress
        self.report = ExportReport(dest=dest)
        if not isinstance(source.store, LocalStore):  # export() refuses servers before this
            raise UnsupportedSourceError(f"export reads a tracklog store, not {type(source.store).__name__}")
        self.local: LocalStore = source.store
        self.store = self.local.where()
        self.models: dict[str, str] = {}  # tracklog logged model id -> MLflow's
        self.locations: dict[str, str] = {}  # tracklog artifact location -> MLflow's
        self.model_metrics: list[tuple[str, Any]] = []  # (MLflow model id, tracklog metric) to log after the runs
        self.outputs: list[tuple[str, Any]] = []  # (MLflow run id, tracklog model outputs) to log after the models
        self.orphans: list[tuple[str, str]] = []  # (MLflow run id, tracklog parent id) exported before its parent

    def run(self, names: list[str] | None) -> ExportReport:
        exps = list(self.source.search_experiments(view_type=ViewType.ALL, max_results=None))
        if names is not None:
            missing = sorted(set(names) - {e.name for e in exps})
            if missing:
                raise TransferError(f"no experiment named {', '.join(map(repr, missing))} in the store {self.store}")
            exps = [e for e in exps if e.name in names]
        bar = progress_bar(total=None, desc="runs", unit="run", progress=self.progress)
        try:
            done = [(exp, self._experiment(exp)) for exp in sorted(exps, key=lambda e: e.creation_time or 0)]
            for exp, dest_id in done:
                # runs first (logged models name their source run), then the models, then what
                # links runs to models (their metrics, the runs' outputs)
                for run in sorted(self._runs(exp.experiment_id), key=lambda r: (r.info.start_time or 0, r.info.run_id)):
                    self._run(run, dest_id)
                    bar.update(1)
                self._logged_models(exp.experiment_id, dest_id)
                self._log_model_metrics()
                self._log_outputs()
            self._link_children()
            for exp, dest_id in done:
                if exp.lifecycle_stage == "deleted" and self.client.get_experiment(dest_id).lifecycle_stage != "deleted":
                    self.client.delete_experiment(dest_id)
        finally:
            bar.close()
        self._registry()
        return self.report

    # ---- experiments and runs ------------------------------------------------------------------

    def _experiment(self, exp: Any) -> str:
        found = self.client.get_experiment_by_name(exp.name)
        if found is not None:
            dest_id = found.experiment_id
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(dest_id)  # runs are created in it, then it is deleted again
        else:
            dest_id = self.client.create_experiment(exp.name)
            self.report.experiments += 1
        for key, value in exp.tags.items():
            self.client.set_experiment_tag(dest_id, key, value)
        return dest_id

    def _runs(self, experiment_id: str) -> Iterator[Any]:
        yield from _pages(lambda token: self.source.search_runs([experiment_id], run_view_type=ViewType.ALL,
                                                               max_results=1000, page_token=token))

    def _run(self, run: Any, dest_exp: str) -> None:
        info = run.info
        existing = self.client.search_runs([dest_exp], f"tags.`{RUN_ID_TAG}` = '{info.run_id}'", ViewType.ALL, max_results=1)
        if existing:
            self.report.run_ids[info.run_id] = existing[0].info.run_id
            self.report.runs_skipped += 1
            return
        tags = {k: v for k, v in run.data.tags.items() if k not in ("mlflow.runName", _PARENT)}
        parent = run.data.tags.get(_PARENT)
        if parent is not None and parent in self.report.run_ids:
            tags[_PARENT] = self.report.run_ids[parent]
        tags[RUN_ID_TAG] = info.run_id
        if info.user_id and info.user_id != "unknown":  # MLflow's client reads the user from this tag
            tags.setdefault("mlflow.user", info.user_id)
        created = self.client.create_run(dest_exp, start_time=info.start_time, tags=tags, run_name=info.run_name or None)
        new_id = created.info.run_id
        self.report.run_ids[info.run_id] = new_id
        if parent is not None and _PARENT not in tags:
            self.orphans.append((new_id, parent))
        self.locations[info.artifact_uri.rstrip("/")] = created.info.artifact_uri.rstrip("/")
        self._params_metrics(run, new_id)
        self._inputs_outputs(run, new_id)
        if self.artifacts:
            self._artifacts(info.artifact_uri, lambda local: self.client.log_artifacts(new_id, local))
        if str(info.status) != "RUNNING":
            self.client.set_terminated(new_id, status=str(info.status), end_time=info.end_time)
        if info.lifecycle_stage == "deleted":
            self.client.delete_run(new_id)
        self.report.runs += 1

    def _params_metrics(self, run: Any, new_id: str) -> None:
        from mlflow.entities import Metric, Param

        params = [Param(k, v) for k, v in sorted(run.data.params.items())]
        for start in range(0, len(params), 100):
            self.client.log_batch(new_id, params=params[start:start + 100])
        cur = self.local.cursor()
        rows = cur.execute("SELECT key, value, timestamp, step FROM metrics WHERE run_id = ? "
                           "ORDER BY key, step, timestamp, writer_seq", [run.info.run_id]).fetchall()
        points = [Metric(k, v, ts, step) for k, v, ts, step in rows]
        for start in range(0, len(points), _BATCH):
            self.client.log_batch(new_id, metrics=points[start:start + _BATCH])
        self.report.metric_points += len(points)

    def _inputs_outputs(self, run: Any, new_id: str) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        datasets = [
            DatasetInput(Dataset(name=d.dataset.name, digest=d.dataset.digest, source_type=d.dataset.source_type,
                                 source=d.dataset.source, schema=d.dataset.schema or None,
                                 profile=d.dataset.profile or None),
                         tags=[InputTag(t.key, t.value) for t in d.tags])
            for d in run.inputs.dataset_inputs
        ]
        if datasets:
            self.client.log_inputs(new_id, datasets=datasets)
        if run.outputs and run.outputs.model_outputs:
            self.outputs.append((new_id, run.outputs.model_outputs))

    def _log_outputs(self) -> None:
        from mlflow.entities import LoggedModelOutput

        for new_id, model_outputs in self.outputs:
            outputs = [LoggedModelOutput(self.models[o.model_id], o.step) for o in model_outputs if o.model_id in self.models]
            if outputs:
                self.client.log_outputs(new_id, outputs)
        self.outputs = []

    def _link_children(self) -> None:
        """The parent link of a run exported before its parent (or whose parent was not exported:
        the link keeps the tracklog id, which names no MLflow run)."""
        for new_id, parent in self.orphans:
            self.client.set_tag(new_id, _PARENT, self.report.run_ids.get(parent, parent))
        self.orphans = []

    def _artifacts(self, uri: str, log: Any) -> None:
        from tracklog.artifacts import list_uri

        try:
            if not list_uri(uri):
                return
        except Exception:  # nothing was ever logged there
            return
        with tempfile.TemporaryDirectory(prefix="tracklog-export-") as tmp:
            local = download(uri, tmp, progress=False)
            log(str(local))
            self.report.artifacts += sum(len(files) for _, _, files in os.walk(local))

    # ---- logged models and the registry --------------------------------------------------------

    def _logged_models(self, experiment_id: str, dest_exp: str) -> None:
        for model in _pages(lambda token: self.source.search_logged_models([experiment_id], max_results=100,
                                                                          page_token=token)):
            found = self.client.search_logged_models(experiment_ids=[dest_exp],
                                                     filter_string=f"tags.`{MODEL_ID_TAG}` = '{model.model_id}'")
            if found:
                self.models[model.model_id] = found[0].model_id
                continue
            tags = {**(model.tags or {}), MODEL_ID_TAG: model.model_id}
            created = self.client.create_logged_model(dest_exp, name=model.name, tags=tags,
                                                      source_run_id=self.report.run_ids.get(model.source_run_id or ""),
                                                      params=dict(model.params or {}), model_type=model.model_type or None)
            self.models[model.model_id] = created.model_id
            self.model_metrics.extend((created.model_id, m) for m in model.metrics or [])
            self.locations[model.artifact_location.rstrip("/")] = created.artifact_location.rstrip("/")
            if self.artifacts:
                self._artifacts(model.artifact_location, lambda local, m=created.model_id: self.client.log_model_artifacts(m, local))
            status = str(getattr(model.status, "name", model.status))
            if status in ("READY", "FAILED", "UPLOAD_FAILED"):
                self.client.finalize_logged_model(created.model_id, "FAILED" if status != "READY" else "READY")
            self.report.logged_models += 1

    def _log_model_metrics(self) -> None:
        """A logged model's metrics, once its runs are exported: MLflow logs a model's metric as a
        point of its run (`log_batch` with a model id), which holds it already (a no-op in its
        database; its file store appends the point again, as MLflow itself does when it links a
        run's metrics to a model)."""
        from mlflow.entities import Metric

        for model_id, m in self.model_metrics:
            run_id = self.report.run_ids.get(m.run_id or "")
            if run_id is None:
                self.report.warnings.append(f"metric {m.key!r} of logged model {model_id} not exported: MLflow "
                                            f"logs a model's metrics through a run, and its run {m.run_id!r} was not")
                continue
            self.client.log_batch(run_id, metrics=[Metric(m.key, m.value, m.timestamp, m.step,
                                                          model_id=model_id,
                                                          dataset_name=m.dataset_name or None,
                                                          dataset_digest=m.dataset_digest or None, run_id=run_id)])
        self.model_metrics = []

    def _versions_page(self, name: str, token: str | None) -> Any:
        return self.source.search_model_versions(f"name = '{_quote(name)}'", max_results=1000, page_token=token)

    def _registry(self) -> None:
        for model in _pages(lambda token: self.source.search_registered_models(max_results=1000, page_token=token)):
            try:
                self.client.get_registered_model(model.name)
                self.report.warnings.append(f"registered model {model.name!r} already in {self.dest}: not exported again")
                continue
            except Exception:  # MLflow raises MlflowException (RESOURCE_DOES_NOT_EXIST)
                pass
            self.client.create_registered_model(model.name, tags=dict(model.tags or {}), description=model.description)
            self.report.registered_models += 1
            versions = _pages(functools.partial(self._versions_page, model.name))
            for v in sorted(versions, key=lambda v: int(v.version)):
                self._version(model.name, v)
            for alias, version in sorted((model.aliases or {}).items()):
                self.client.set_registered_model_alias(model.name, alias, version)

    def _version(self, name: str, v: Any) -> None:
        run_id = self.report.run_ids.get(v.run_id or "", None)
        model_id = self.models.get(v.model_id or "") if v.model_id else None
        created = self.client.create_model_version(name, self._remapped(v.source or ""), run_id=run_id,
                                                   tags=dict(v.tags or {}), run_link=v.run_link or None,
                                                   description=v.description or None, model_id=model_id)
        if v.current_stage and v.current_stage != "None":
            with warnings.catch_warnings():  # stages are deprecated in MLflow, and still stored
                warnings.simplefilter("ignore", FutureWarning)
                self.client.transition_model_version_stage(name, created.version, v.current_stage)
        self.report.model_versions += 1

    def _remapped(self, uri: str) -> str:
        if uri.startswith("models:/m-"):
            model_id = uri[len("models:/"):].split("/", 1)[0]
            if model_id in self.models:
                return uri.replace(model_id, self.models[model_id], 1)
        for old in sorted(self.locations, key=len, reverse=True):
            if uri.rstrip("/") == old or uri.startswith(old + "/"):
                return self.locations[old] + uri.rstrip("/")[len(old):]
        return uri
