"""``tracklog import mlflow``: everything an MLflow tracking URI holds, into a tracklog store.

The source is read with MLflow's own client (`MlflowClient`), so any tracking URI MLflow reads
works: a ``mlruns`` folder, ``sqlite:///…`` and the other SQLAlchemy databases, an
``http(s)://`` server. From a sqlite database the metric points are read straight from its
``metrics`` table (the stdlib's sqlite3, read-only): one query per run instead of one
``get_metric_history`` call per key.

Each entity is written under its own deterministic writer id with the source's times and users
(`tracklog.transfer._segments`): a second import publishes nothing new, and an import killed
halfway finishes on the next run with every event once. An entity that changed in the source
since (a run got a tag, params, points, ended, was deleted or restored; an experiment was renamed
or tagged; a model got a version…) is imported again as a new generation holding only the changes
(`tracklog.transfer._delta`: the source's state diffed against what the earlier generations
wrote), so the log holds each change once. Whether an entity changed is decided from a digest of
what MLflow's search returns (for a run: info, params, tags, inputs, latest metrics, and from
sqlite the count of its points): an unchanged one is skipped from its claims alone, without
reading the store. A point logged below a run's latest step, into a run whose other data did not
change, is seen from a sqlite source only.

Experiments whose name the store already has merge into that experiment (`ExperimentMerged`
records the mapping); other experiments keep MLflow's id when it is free. Registered models keep
their names and version numbers; a name the store already uses for its own model is skipped
with a warning. An experiment renamed in the source is renamed in the store (unless the store has
another experiment of the new name: a warning). A logged model's NaN metric, which MLflow's
databases store as 0.0, is NaN again (the run's point at that key, step and time keeps it). Source URIs of model versions that point into an imported run's or logged
model's artifacts are remapped to the new copies.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eventlog.errors import (
    MissingDependencyError,
    SourceNotFoundError,
    TracklogError,
    TransferError,
    UnsupportedSourceError,
)
from eventlog.events import (
    ArtifactLogged,
    DatasetInputLogged,
    Event,
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentMerged,
    ExperimentTagSet,
    LoggedModelMetricLogged,
    LoggedModelParamLogged,
    LoggedModelStatusSet,
    LoggedModelTagSet,
    ModelAliasSet,
    ModelInputLogged,
    ModelLogged,
    ModelOutputLogged,
    ModelVersionCreated,
    ModelVersionStageSet,
    ModelVersionTagSet,
    ParamLogged,
    RegisteredModelCreated,
    RegisteredModelTagSet,
    RunDeleted,
    RunEnded,
    RunStarted,
    RunTagSet,
    SourceImported,
)
from tracklog.artifacts import upload
from tracklog.tracking.local import LocalStore
from tracklog.transfer._delta import Planned, delta, fold, point_key
from tracklog.transfer._mlruns import check_mlruns
from tracklog.transfer._segments import (
    IdentityWriter,
    Lineage,
    held_events,
    held_points,
    identity,
    lineage,
    progress_bar,
)

__all__ = ["ImportReport", "import_mlflow", "open_mlflow_client"]

_log = logging.getLogger("tracklog.transfer")
_EXPERIMENT_NAMES = "experiment-names"
_MODEL_NAMES = "registered-models"
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_TERMINAL = ("FINISHED", "FAILED", "KILLED")


@dataclass
class ImportReport:
    """What an import brought (counts of what was new) and what it skipped."""

    source: str
    experiments: int = 0
    runs: int = 0
    runs_skipped: int = 0
    metric_points: int = 0
    artifacts: int = 0
    logged_models: int = 0
    registered_models: int = 0
    model_versions: int = 0
    segments: int = 0
    warnings: list[str] = field(default_factory=list)


def open_mlflow_client(uri: str) -> Any:
    """MLflow's client on `uri` (tracking and registry), after checking there is something there.

    Raises:
        MissingDependencyError: MLflow is not installed.
        SourceNotFoundError: a folder or sqlite file that does not exist (MLflow would create it).
        UnsupportedSourceError: a URI scheme MLflow does not read.
    """
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise MissingDependencyError(
            "reading an MLflow tracking URI needs MLflow: pip install 'tracklog[mlflow]'") from exc
    scheme = uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else "file"
    if scheme == "file":
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        if not os.path.isdir(path):
            raise SourceNotFoundError(f"no MLflow tracking folder at {uri!r}: {os.path.abspath(path)} is not a folder")
    elif scheme == "sqlite":
        path = _sqlite_path(uri)
        if path != ":memory:" and not os.path.isfile(path):
            raise SourceNotFoundError(f"no MLflow database at {uri!r}: the file {path} does not exist")
    elif scheme not in (*_SQL_SCHEMES, "http", "https", "databricks"):
        raise UnsupportedSourceError(
            f"{uri!r} is not an MLflow tracking URI tracklog can read: expected a mlruns folder, file://…, "
            "sqlite:///…, postgresql://…, mysql://…, mssql://… or http(s)://…")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _sqlite_path(uri: str) -> str:
    rest = uri.split("://", 1)[1]
    return rest[1:] if rest.startswith("/") else rest


def import_mlflow(source: str, store: str, *, experiments: list[str] | None = None, artifacts: bool = True,
                  progress: bool | None = None) -> ImportReport:
    """Import the MLflow tracking URI `source` into the tracklog store `store`.

    Args:
        source: a ``mlruns`` folder, ``file://…``, ``sqlite:///…`` (or another database MLflow
            supports) or an ``http(s)://`` MLflow server.
        store: the tracklog store (a folder or fsspec URL).
        experiments: only the experiments with these names (default: all, deleted ones too).
        artifacts: copy run and logged-model artifacts too.
        progress: show progress bars (None: when stderr is a terminal).

    Returns:
        An `ImportReport` of what was new.

    Raises:
        SourceNotFoundError, UnsupportedSourceError, MissingDependencyError: see `open_mlflow_client`.
        TransferError: a named experiment is not in the source.
    """
    if store.startswith(("http://", "https://")):
        raise UnsupportedSourceError(
            f"import writes into a tracklog store (a folder or bucket), not through a tracking server ({store})")
    client = open_mlflow_client(source)
    folder = _folder(source)
    if folder is not None:
        check_mlruns(folder)  # symlinks out of it, FIFOs, huge meta.yaml: MLflow's file store trusts them
    importer = _Importer(client, source, LocalStore.open(store), artifacts=artifacts, progress=progress)
    with _quiet_mlflow(source):
        try:
            return importer.run(experiments)
        except TracklogError:
            raise
        except Exception as exc:  # MLflow (and yaml, codecs…) on a damaged source: one typed error
            message = " ".join(str(exc).split())[:1000]
            raise TransferError(f"the MLflow source {source} cannot be read ({importer.reading}): "
                                f"{type(exc).__name__}: {message}") from exc


def _folder(uri: str) -> str | None:
    """The folder of a ``mlruns``/``file://`` source, else None."""
    if "://" not in uri:
        return uri
    return uri[len("file://"):] if uri.startswith("file://") else None


@contextlib.contextmanager
def _quiet_mlflow(uri: str) -> Iterator[None]:
    """MLflow's global tracking URI at `uri` (its registry resolves ``models:/`` through it), and
    no MLflow progress bar per downloaded folder: the import shows its own."""
    import mlflow
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    tracking = mlflow.get_tracking_uri() if mlflow.tracking._tracking_service.utils.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    before = os.environ.get(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name)
    os.environ[MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name] = "false"
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking)  # type: ignore[arg-type]
        if before is None:
            os.environ.pop(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name, None)
        else:
            os.environ[MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name] = before


class _Importer:
    def __init__(self, client: Any, source: str, dest: LocalStore, *, artifacts: bool, progress: bool | None) -> None:
        self.client = client
        self.source = source
        self.key = _source_key(source)
        self.dest = dest
        self.log = dest.log
        self.artifacts = artifacts
        self.progress = progress
        self.report = ImportReport(source=source)
        self.remap: dict[str, str] = {}  # old artifact location -> new
        self.sqlite = _open_sqlite(source)
        self.importer = self.log.writer.actor
        self._cursor: Any = None
        self._counts: dict[str, tuple[int, int, int]] | None = None
        self.reading = "its experiments"  # what is being read, for an error's message

    # ---- the whole import ------------------------------------------------------------------

    def run(self, names: list[str] | None) -> ImportReport:
        exps = self._experiments(names)
        mapped = [(exp, self._experiment(exp)) for exp in exps]
        runs_bar = progress_bar(total=None, desc="runs", unit="run", progress=self.progress)
        try:
            for exp, dest_id in mapped:
                self.reading = f"the runs of experiment {exp.experiment_id}"
                for run in self._runs(exp.experiment_id):
                    self._run(run, dest_id)
                    runs_bar.update(1)
                    runs_bar.set_postfix(points=f"{self.report.metric_points:,}")
            for exp, dest_id in mapped:
                self._logged_models(exp.experiment_id, dest_id)
        finally:
            runs_bar.close()
        self._registry({exp.experiment_id for exp, _ in mapped}, names is not None)
        self._record()
        return self.report

    def _experiments(self, names: list[str] | None) -> list[Any]:
        from mlflow.entities import ViewType

        found = _pages(lambda token: self.client.search_experiments(view_type=ViewType.ALL, max_results=1000,
                                                                      page_token=token))
        if names is None:
            return found
        by_name = {e.name: e for e in found}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise TransferError(f"no experiment named {', '.join(map(repr, missing))} in the MLflow source {self.source} "
                                f"(it has: {', '.join(sorted(by_name)) or 'none'})")
        return [by_name[n] for n in names]

    def _runs(self, experiment_id: str) -> Iterator[Any]:
        from mlflow.entities import ViewType

        yield from _pages(lambda token: self.client.search_runs([experiment_id], run_view_type=ViewType.ALL,
                                                                max_results=1000, page_token=token))

    def _record(self) -> None:
        r = self.report
        # nothing new: a second import adds nothing, not even its record (a rerun that finds a
        # killed import's segments published still completed its runs: that is recorded)
        if not (r.segments or r.runs or r.experiments):
            return
        self.log.append(SourceImported(source=self.source, source_kind="mlflow", experiments=r.experiments, runs=r.runs,
                                       metric_points=r.metric_points, artifacts=r.artifacts,
                                       logged_models=r.logged_models, model_versions=r.model_versions))
        self.log.flush()

    # ---- experiments -------------------------------------------------------------------------

    def _experiment(self, exp: Any) -> str:
        """The id `exp` has in the store: its own (or a new one) if its name is free, else the
        holder's (merged, with an `ExperimentMerged` event); its changes since the last import
        (a new name, tags, lifecycle) are appended."""
        self.reading = f"experiment {exp.experiment_id}"
        line = lineage(self.log, identity(self.key, "experiment", exp.experiment_id))
        dest_id = line.note or self._destination(exp)
        ours = dest_id != "0" and self.log.read_claim("experiment-ids", dest_id) == self._id_marker(dest_id)
        state = _digest([exp.name, exp.lifecycle_stage, sorted(exp.tags.items())])
        if line.state == state:
            return dest_id
        held = self._history(line)
        old_name = fold(held).get(("name",)) if ours else None
        name = self._renamed(exp.name, old_name, dest_id) if old_name else exp.name
        created = exp.creation_time or 0
        planned = []
        if ours:
            location = f"{self.dest.artifact_root}/{dest_id}"
            planned.append(Planned(ExperimentCreated(experiment_id=dest_id, name=name, artifact_location=location),
                                   created, self.importer))
        elif dest_id != "0":  # MLflow's Default is tracklog's experiment 0: nothing to map
            planned.append(Planned(ExperimentMerged(experiment_id=dest_id, source_experiment_id=exp.experiment_id,
                                                    source=self.source, name=exp.name), created, self.importer))
        planned += [Planned(ExperimentTagSet(experiment_id=dest_id, key=key, value=value), created, self.importer)
                    for key, value in sorted(exp.tags.items())]
        if exp.lifecycle_stage == "deleted" and ours:
            planned.append(Planned(ExperimentDeleted(experiment_id=dest_id), exp.last_update_time or created,
                                   self.importer))
        writer = self._delta(line, state, planned, held)
        self.report.segments += line.finish(self.log, writer, state, note=dest_id)
        if old_name and name != old_name:
            self.log.release_claim(_EXPERIMENT_NAMES, old_name)
        self.report.experiments += ours and not held
        return dest_id

    def _destination(self, exp: Any) -> str:
        """Where an experiment imported for the first time goes: MLflow's Default to 0, a name
        the store has to its holder, any other to a free id (MLflow's if the store lacks it)."""
        if exp.experiment_id == "0" and exp.name == "Default":
            return "0"
        holder = self.log.read_claim(_EXPERIMENT_NAMES, exp.name)
        if holder is None:
            holder = self.log.claim(_EXPERIMENT_NAMES, exp.name, self._free_id(exp.experiment_id))
        return holder

    def _renamed(self, name: str, old: str, dest_id: str) -> str:
        """The name an imported experiment renamed in the source gets: `name` if the store's
        name claim goes to it, else its old name (with a warning)."""
        if name == old or self.log.claim(_EXPERIMENT_NAMES, name, dest_id) == dest_id:
            return name
        self.report.warnings.append(f"experiment {old!r} not renamed to {name!r}: the store has another experiment "
                                    "of that name")
        return old

    def _id_marker(self, experiment_id: str) -> str:
        return f"{experiment_id} imported from {self.key}"

    def _free_id(self, wanted: str) -> str:
        """MLflow's id if the store has no experiment with it, else a new numeric one."""
        candidate = wanted
        for attempt in range(1000):
            if self.log.claim("experiment-ids", candidate, self._id_marker(candidate)) == self._id_marker(candidate):
                return candidate
            candidate = f"{wanted}{attempt + 1:03d}"
        raise TransferError(f"no free experiment id near {wanted}")  # pragma: no cover

    # ---- runs ------------------------------------------------------------------------------

    def _run(self, run: Any, experiment_id: str) -> None:
        """Import `run` or what changed in it since the last import (nothing if it did not)."""
        info = run.info
        self.reading = f"run {info.run_id}"
        exp_location = self.dest.get_experiment(experiment_id).artifact_location if experiment_id == "0" else None
        location = exp_location or f"{self.dest.artifact_root}/{experiment_id}"
        artifact_uri = f"{location.rstrip('/')}/{info.run_id}/artifacts"
        if info.artifact_uri:
            self.remap[info.artifact_uri.rstrip("/")] = artifact_uri
        line = lineage(self.log, identity(self.key, "run", info.run_id))
        state = self._run_state(run)
        if line.state == state:
            self.report.runs_skipped += 1
            return
        held = self._history(line)
        planned = self._run_events(run, experiment_id, artifact_uri)
        writer = self._delta(line, state, planned, held)
        added = len(writer.control)
        writer.flush_control()
        points = self._metrics(writer, run, info.user_id or self.importer, held_points(self._catalog(), line.writers)
                               if line.writers else None)
        self.report.metric_points += points
        self.report.segments += line.finish(self.log, writer, state)
        if added or points:
            self.report.runs += 1
        else:
            self.report.runs_skipped += 1

    def _run_state(self, run: Any) -> str:
        """A digest of what the source holds of `run`: what changes in it changes the digest
        (its metric points through their latest values and, from sqlite, their count)."""
        info, data = run.info, run.data
        latest = sorted((m.key, repr(m.value), m.step, m.timestamp) for m in getattr(data, "_metric_objs", None) or [])
        return _digest([info.run_name, info.status, info.end_time, info.lifecycle_stage, sorted(data.params.items()),
                        sorted(data.tags.items()), latest, [repr(e) for e in self._inputs_outputs(run)],
                        self._point_counts().get(info.run_id)])

    def _point_counts(self) -> dict[str, tuple[int, int, int]]:
        """Per run of a sqlite source: how many points it has, their steps' sum and last timestamp."""
        if self._counts is None:
            self._counts = {} if self.sqlite is None else {
                run: (n, steps, last) for run, n, steps, last in self.sqlite.execute(
                    "SELECT run_uuid, count(*), sum(step), max(timestamp) FROM metrics GROUP BY run_uuid")}
        return self._counts

    def _run_events(self, run: Any, experiment_id: str, artifact_uri: str) -> list[Planned]:
        """The events that make `run` from nothing (its artifacts copied to `artifact_uri`)."""
        info = run.info
        start = info.start_time or 0
        end = info.end_time or start
        user = info.user_id or self.importer
        planned = [Planned(RunStarted(run_id=info.run_id, experiment_id=experiment_id, run_name=info.run_name or "",
                                      start_time=start, artifact_uri=artifact_uri), start, user)]
        planned += [Planned(ParamLogged(run_id=info.run_id, key=key, value=value), start, user)
                    for key, value in sorted(run.data.params.items())]
        planned += [Planned(RunTagSet(run_id=info.run_id, key=key, value=value), start, user)
                    for key, value in sorted(run.data.tags.items()) if key != "mlflow.runName"]
        planned += [Planned(event, start, user) for event in self._inputs_outputs(run)]
        if self.artifacts and info.artifact_uri:
            planned += [Planned(ArtifactLogged(run_id=info.run_id, path=rel, size=size, sha256=sha), end, user)
                        for rel, size, sha in self._copy_artifacts(info.artifact_uri, artifact_uri, run_id=info.run_id)]
        if info.status in _TERMINAL or info.end_time:
            planned.append(Planned(RunEnded(run_id=info.run_id, status=info.status, end_time=info.end_time or 0), end,
                                   user))
        if info.lifecycle_stage == "deleted":
            planned.append(Planned(RunDeleted(run_id=info.run_id), end, user))
        return planned

    def _inputs_outputs(self, run: Any) -> Iterator[Event]:
        run_id = run.info.run_id
        inputs = run.inputs
        for dataset_input in (inputs.dataset_inputs if inputs else None) or []:
            ds = dataset_input.dataset
            context = next((t.value for t in dataset_input.tags if t.key == "mlflow.data.context"), "")
            yield DatasetInputLogged(run_id=run_id, dataset_name=ds.name, dataset_digest=ds.digest,
                                     source_type=ds.source_type or "", source=ds.source or "",
                                     dataset_schema=ds.schema or "", profile=ds.profile or "", context=context)
        for model_input in (getattr(inputs, "model_inputs", None) if inputs else None) or []:
            yield ModelInputLogged(run_id=run_id, model_id=model_input.model_id)
        outputs = getattr(run, "outputs", None)
        for model_output in (outputs.model_outputs if outputs else None) or []:
            yield ModelOutputLogged(run_id=run_id, model_id=model_output.model_id, model_step=model_output.step or 0)

    def _metrics(self, writer: IdentityWriter, run: Any, user: str, held: set[tuple[str, int, int, Any]] | None) -> int:
        """Every point of every metric of the run, ordered by (key, step, timestamp, value),
        but those in `held` (the points earlier imports of the run brought)."""
        if self.sqlite is not None:
            rows = self.sqlite.execute(
                "SELECT key, CASE WHEN is_nan THEN NULL ELSE value END, step, timestamp FROM metrics "
                "WHERE run_uuid = ? ORDER BY key, step, timestamp, value", [run.info.run_id]).fetchall()
        else:
            rows = []
            for key in sorted(run.data.metrics):
                history = self.client.get_metric_history(run.info.run_id, key)
                rows.extend(sorted((m.key, m.value, m.step, m.timestamp) for m in history))
        if held:
            rows = [r for r in rows if point_key(r[0], r[2], r[3], math.nan if r[1] is None else r[1]) not in held]
        if not rows:
            return 0
        keys, values, steps, timestamps = zip(*rows, strict=True)
        values = tuple(float("nan") if v is None else v for v in values) if self.sqlite is not None else values
        return writer.add_metrics(run.info.run_id, keys, values, steps, timestamps, user)

    def _copy_artifacts(self, src_uri: str, dest_uri: str, *, run_id: str | None = None) -> list[tuple[str, int, str]]:
        """Download the artifacts under `src_uri` through MLflow and upload them to `dest_uri`."""
        import mlflow.artifacts

        if ".." in src_uri.replace("\\", "/").split("/"):  # a meta.yaml pointing the artifacts elsewhere
            self.report.warnings.append(f"artifacts of {run_id or src_uri} not copied: their location {src_uri} has a "
                                        "'..' segment (an import does not follow it out of the source)")
            return []
        try:
            listed = self.client.list_artifacts(run_id) if run_id else mlflow.artifacts.list_artifacts(artifact_uri=src_uri)
        except Exception as exc:  # MLflow raises many types for a missing folder
            _log.debug("no artifacts at %s: %s", src_uri, exc)
            return []
        if not listed:
            return []
        with tempfile.TemporaryDirectory(prefix="tracklog-import-") as tmp:
            try:
                if run_id:
                    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="", dst_path=tmp,
                                                                tracking_uri=self.source)
                else:
                    local = mlflow.artifacts.download_artifacts(artifact_uri=src_uri, dst_path=tmp,
                                                                tracking_uri=self.source)
            except Exception as exc:
                raise TransferError(f"cannot download the artifacts of {run_id or src_uri} from {self.source}: "
                                    f"{type(exc).__name__}: {exc}") from exc
            written = upload(local, dest_uri, progress=False)
        self.report.artifacts += len(written)
        return written

    # ---- logged models -----------------------------------------------------------------------

    def _logged_models(self, experiment_id: str, dest_id: str) -> None:
        search = getattr(self.client, "search_logged_models", None)
        if search is None:
            return  # MLflow 2 has no logged models
        models = _pages(lambda token: search(experiment_ids=[experiment_id], max_results=100, page_token=token))
        for model in models:
            self._logged_model(model, dest_id)

    def _logged_model(self, model: Any, dest_id: str) -> None:
        status = str(getattr(model.status, "name", model.status))
        location = f"{self.dest.artifact_root}/{dest_id}/models/{model.model_id}/artifacts"
        if model.artifact_location:
            self.remap[model.artifact_location.rstrip("/")] = location
        line = lineage(self.log, identity(self.key, "logged-model", model.model_id))
        metrics = model.metrics or []
        state = _digest([status, model.last_updated_timestamp, sorted((model.tags or {}).items()),
                         sorted((model.params or {}).items()), sorted(repr(m) for m in metrics)])
        if line.state == state:
            return
        held = self._history(line)
        created = model.creation_timestamp or 0
        flavors = ""
        if model.artifact_location and self.artifacts:
            flavors = self._copy_model_artifacts(model.artifact_location, location)
        planned = [
            Planned(ModelLogged(model_id=model.model_id, experiment_id=dest_id, run_id=model.source_run_id or "",
                                name=model.name or "", artifact_location=location, flavors=flavors,
                                model_type=model.model_type or ""), created, self.importer),
            Planned(LoggedModelStatusSet(model_id=model.model_id, status=status,
                                         status_message=getattr(model, "status_message", "") or ""),
                    model.last_updated_timestamp or created, self.importer)]
        planned += [Planned(LoggedModelTagSet(model_id=model.model_id, key=key, value=value), created, self.importer)
                    for key, value in sorted((model.tags or {}).items())]
        planned += [Planned(LoggedModelParamLogged(model_id=model.model_id, key=key, value=value), created,
                            self.importer) for key, value in sorted((model.params or {}).items())]
        planned += [Planned(LoggedModelMetricLogged(model_id=model.model_id, run_id=m.run_id or "", key=m.key,
                                                    metric_value=self._model_metric_value(m), step=m.step or 0,
                                                    timestamp=m.timestamp or 0, dataset_name=m.dataset_name or "",
                                                    dataset_digest=m.dataset_digest or ""),
                            m.timestamp or created, self.importer) for m in metrics]
        writer = self._delta(line, state, planned, held)
        self.report.logged_models += not held
        self.report.segments += line.finish(self.log, writer, state)

    def _model_metric_value(self, m: Any) -> float:
        """A logged model's metric as it was logged: MLflow's databases keep no NaN in a model's
        metrics (they store 0.0, `SqlAlchemyStore.sanitize_metric_value`), but its run's point
        at that key, step and time keeps it (``is_nan``): a 0.0 there that is NaN in the run is NaN."""
        if m.value != 0.0 or not m.run_id:
            return float(m.value)
        try:
            history = self.client.get_metric_history(m.run_id, m.key)
        except Exception:  # MLflow raises MlflowException (RESOURCE_DOES_NOT_EXIST) for a run the source lacks
            return 0.0
        at = [p.value for p in history if p.step == (m.step or 0) and p.timestamp == (m.timestamp or 0)]
        return math.nan if at and all(math.isnan(v) for v in at) else 0.0

    def _copy_model_artifacts(self, src: str, dest: str) -> str:
        with tempfile.TemporaryDirectory(prefix="tracklog-import-") as tmp:
            try:
                import mlflow.artifacts

                local = mlflow.artifacts.download_artifacts(artifact_uri=src, dst_path=tmp, tracking_uri=self.source)
            except Exception as exc:
                self.report.warnings.append(f"logged model artifacts at {src} not copied: {type(exc).__name__}: {exc}")
                return ""
            written = upload(local, dest, progress=False)
            self.report.artifacts += len(written)
            return _flavors(os.path.join(local, "MLmodel"))

    # ---- the model registry ----------------------------------------------------------------

    def _versions_page(self, name: str, token: str | None) -> Any:
        return self.client.search_model_versions(f"name = '{_quote(name)}'", max_results=1000, page_token=token)

    def _registry(self, experiment_ids: set[str], filtered: bool) -> None:
        try:
            models = _pages(lambda token: self.client.search_registered_models(max_results=1000, page_token=token))
        except Exception as exc:  # a source without a registry (old file stores, some servers)
            self.report.warnings.append(f"registered models not read: {type(exc).__name__}: {exc}")
            return
        for model in models:
            versions = list(_pages(functools.partial(self._versions_page, model.name)))
            if filtered and not any(self._run_experiment(v.run_id) in experiment_ids for v in versions):
                continue  # --experiment: only models with a version from the selected experiments' runs
            self._registered_model(model, sorted(versions, key=lambda v: int(v.version)))

    def _run_experiment(self, run_id: str | None) -> str | None:
        """The source experiment of a version's run (None: no run, or one the source lacks)."""
        if not run_id:
            return None
        try:
            return str(self.client.get_run(run_id).info.experiment_id)
        except Exception:  # MLflow raises MlflowException (RESOURCE_DOES_NOT_EXIST)
            return None

    def _registered_model(self, model: Any, versions: list[Any]) -> None:
        rid = identity(self.key, "registered-model", model.name).replace("-", "")
        holder = self.log.claim(_MODEL_NAMES, model.name, rid)
        if holder != rid:
            self.report.warnings.append(f"registered model {model.name!r} not imported: the store has its own model "
                                        "of that name (rename one of them and import again)")
            return
        line = lineage(self.log, identity(self.key, "registered-model", model.name))
        aliases = sorted((getattr(model, "aliases", None) or {}).items())
        state = _digest([model.last_updated_timestamp, model.description, sorted((model.tags or {}).items()), aliases,
                         [(v.version, v.last_updated_timestamp, v.current_stage, v.description,
                           sorted((v.tags or {}).items())) for v in versions]])
        if line.state == state:
            return
        held = self._history(line)
        created = model.creation_timestamp or 0
        updated = model.last_updated_timestamp or created
        name = model.name
        planned = [Planned(RegisteredModelCreated(registered_model_id=rid, model_name=name,
                                                  description=model.description or ""), created, self.importer)]
        planned += [Planned(RegisteredModelTagSet(registered_model_id=rid, model_name=name, key=key, value=value),
                            created, self.importer) for key, value in sorted((model.tags or {}).items())]
        for v in versions:
            planned += self._version(rid, name, v)
        planned += [Planned(ModelAliasSet(registered_model_id=rid, model_name=name, alias=alias, version=int(version)),
                            updated, self.importer) for alias, version in aliases]
        writer = self._delta(line, state, planned, held)
        self.report.model_versions += sum(isinstance(e, ModelVersionCreated) for e in writer.control)
        self.report.registered_models += not held
        self.report.segments += line.finish(self.log, writer, state)

    def _version(self, rid: str, name: str, v: Any) -> list[Planned]:
        number = int(v.version)
        token = f"import {self.key}"
        if self.log.claim(f"model-versions/{rid}", str(number), token) != token:
            self.report.warnings.append(f"version {number} of {name!r} not imported: the store numbered its own version so")
            return []
        created = v.creation_timestamp or 0
        user = v.user_id or self.importer
        planned = [Planned(ModelVersionCreated(registered_model_id=rid, model_name=name, version=number,
                                               source=self._remapped(v.source or ""), run_id=v.run_id or "",
                                               model_id=getattr(v, "model_id", None) or "",
                                               description=v.description or "", run_link=v.run_link or ""),
                           created, user)]
        planned += [Planned(ModelVersionTagSet(registered_model_id=rid, model_name=name, version=number, key=key,
                                               value=value), created, user) for key, value in sorted((v.tags or {}).items())]
        if v.current_stage and v.current_stage != "None":
            planned.append(Planned(ModelVersionStageSet(registered_model_id=rid, model_name=name, version=number,
                                                        stage=v.current_stage), v.last_updated_timestamp or created, user))
        return planned

    def _remapped(self, uri: str) -> str:
        """`uri` with an imported artifact location's prefix replaced by the new copy's."""
        stripped = uri.rstrip("/")
        for old in sorted(self.remap, key=len, reverse=True):
            if stripped == old or stripped.startswith(old + "/"):
                return self.remap[old] + stripped[len(old):]
        return uri

    # ---- identities ----------------------------------------------------------------------------

    def _catalog(self) -> Any:
        """A cursor on the store's catalog, listed once (the earlier imports' events are there)."""
        if self._cursor is None:
            self._cursor = self.dest.cursor()
        return self._cursor

    def _history(self, line: Lineage) -> list[Event]:
        return held_events(self._catalog(), line.writers) if line.writers else []

    def _delta(self, line: Lineage, state: str, planned: list[Planned], held: list[Event]) -> IdentityWriter:
        """The next generation's writer, with the events of `planned` that `held` lacks queued."""
        writer = line.writer(self.log.store, state)
        for item in delta(planned, held, self.importer):
            writer.add(*item)
        return writer


# ---- helpers -----------------------------------------------------------------------------------


def _source_key(source: str) -> str:
    """The source as an identity: a folder or sqlite file by its absolute path."""
    if "://" not in source:
        return "file://" + os.path.abspath(os.path.expanduser(source))
    if source.startswith("file://"):
        return "file://" + os.path.abspath(source[len("file://"):])
    if source.startswith("sqlite://"):
        return "sqlite:///" + os.path.abspath(_sqlite_path(source))
    return source.rstrip("/")


def _open_sqlite(source: str) -> sqlite3.Connection | None:
    """A read-only connection to a sqlite source's file (the fast path for metric points)."""
    if not source.startswith("sqlite://"):
        return None
    path = _sqlite_path(source)
    if path == ":memory:":
        return None
    return sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True, check_same_thread=False)


def _pages(fetch: Callable[[str | None], Any]) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = fetch(token)
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _flavors(mlmodel: str) -> str:
    if not os.path.isfile(mlmodel):
        return ""
    import yaml

    with open(mlmodel) as fh:
        spec = yaml.safe_load(fh) or {}
    return ",".join(sorted((spec.get("flavors") or {}).keys()))

