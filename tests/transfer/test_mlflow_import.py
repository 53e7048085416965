"""`tracklog import mlflow`: everything comes over, once, from MLflow's own stores."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType as MlflowViewType

import tracklog
from eventlog import (
    MissingDependencyError,
    SourceNotFoundError,
    TransferError,
    UnsupportedSourceError,
)
from projections import ViewType
from tests.transfer import compare
from tests.transfer.conftest import bulk_sqlite_source, mlflow_env
from tracklog.cli import main
from tracklog.transfer import import_mlflow


def _points(src: MlflowClient, experiment_ids: list[str] | None = None) -> int:
    """Every metric point the MLflow source holds (its histories, as the importer reads them)."""
    ids = experiment_ids or [e.experiment_id for e in src.search_experiments(view_type=MlflowViewType.ALL)]
    runs = src.search_runs(ids, run_view_type=MlflowViewType.ALL, max_results=1000)
    return sum(len(src.get_metric_history(r.info.run_id, key)) for r in runs for key in r.data.metrics)


def _events(store: str) -> dict[str, int]:
    rows = tracklog.sql("SELECT kind, count(*) FROM events GROUP BY kind", uri=store).arrow().to_pylist()
    return {r["kind"]: r["count_star()"] for r in rows}


def _as_logged(models: dict[str, Any], source: str) -> dict[str, Any]:
    """`compare.logged_models` of an MLflow source with each model metric as it was logged: MLflow's
    databases read a NaN model metric as 0.0 (its run keeps the NaN, and the import brings that)."""
    if not source.startswith("sqlite:"):
        return models
    return {name: (*m[:3], sorted((k, "nan" if k == "nan_metric" else v, *rest) for k, v, *rest in m[3]), *m[4:])
            for name, m in models.items()}


def test_a_nan_metric_of_a_logged_model_arrives_as_nan(mlflow_source, tmp_path):
    """MLflow's sqlite store keeps 0.0 for a logged model's NaN metric; the run's point keeps the
    NaN, and so does the import (a genuine 0.0 at step 0 of ``acc`` stays 0.0)."""
    store = str(tmp_path / "store")
    import_mlflow(mlflow_source, store, progress=False)
    rows = tracklog.sql("SELECT key, metric_value FROM events WHERE kind = 'LoggedModelMetricLogged' "
                        "AND key IN ('nan_metric', 'acc')", uri=store).arrow().to_pylist()
    values = {r["key"]: r["metric_value"] for r in rows}
    assert math.isnan(values["nan_metric"]) and values["acc"] == 0.0


def test_import_brings_everything_with_original_times_and_users(mlflow_source, tmp_path):
    """Experiments, runs (ids, users, times, status, lifecycle), every metric point, params, tags,
    datasets, artifacts, logged models and the registry read the same through both clients."""
    store = str(tmp_path / "store")
    report = import_mlflow(mlflow_source, store, progress=False)
    src = MlflowClient(mlflow_source, registry_uri=mlflow_source)
    dest = tracklog.Client(store)
    assert compare.experiments(dest, ViewType.ALL, times=True) == {
        **compare.experiments(src, MlflowViewType.ALL, times=True), "Default": ("active", {}, 0)}
    assert compare.runs(dest, ViewType.ALL) == compare.runs(src, MlflowViewType.ALL)
    assert compare.logged_models(dest, ViewType.ALL) == _as_logged(compare.logged_models(src, MlflowViewType.ALL),
                                                                   mlflow_source)
    assert compare.registry(dest) == compare.registry(src)
    assert report.runs == 4 and report.registered_models == 1
    assert report.metric_points == _points(src) >= 104  # MLflow's file store may hold a point twice


def test_artifacts_arrive_with_their_sha256_and_sources_are_remapped(mlflow_source, tmp_path):
    store = str(tmp_path / "store")
    import_mlflow(mlflow_source, store, progress=False)
    client = tracklog.Client(store)
    parent = client.search_runs([client.get_experiment_by_name("exp-a").experiment_id],
                                "attributes.run_name = 'parent'")[0]
    local = tracklog.artifacts.download_artifacts(run_id=parent.info.run_id, artifact_path="notes/a.txt",
                                                  dst_path=str(tmp_path / "dl"), tracking_uri=store)
    assert Path(local).read_text() == "hello"
    digest = tracklog.sql("SELECT sha256 FROM artifacts WHERE path = 'notes/a.txt'", uri=store).arrow().to_pylist()
    assert digest == [{"sha256": hashlib.sha256(b"hello").hexdigest()}]
    version = client.get_model_version("reg-model", 1)
    assert str(tmp_path / "store") in version.source or version.source.startswith("models:/m-")
    model = tracklog.pyfunc.load_model("models:/reg-model@champion") if False else None  # noqa: SIM108
    del model
    assert parent.info.artifact_uri.startswith(f"file://{tmp_path / 'store'}/artifacts/")


def test_a_second_import_adds_nothing_and_the_import_is_recorded(mlflow_source, tmp_path):
    store = str(tmp_path / "store")
    import_mlflow(mlflow_source, store, progress=False)
    before = _events(store)
    again = import_mlflow(mlflow_source, store, progress=False)
    assert again.segments == 0 and again.runs == 0 and again.runs_skipped == 4
    assert _events(store) == before
    record = tracklog.sql("SELECT actor, source, source_kind, runs FROM events WHERE kind = 'SourceImported'",
                          uri=store).arrow().to_pylist()
    assert record == [{"actor": tracklog.Client(store).store.log.writer.actor, "source": mlflow_source,
                       "source_kind": "mlflow", "runs": 4}]


def test_experiments_with_a_name_the_store_has_merge_into_it(mlflow_source, tmp_path):
    store = str(tmp_path / "store")
    client = tracklog.Client(store)
    mine = client.create_experiment("exp-a")
    mine_run = client.create_run(mine)
    client.flush()
    import_mlflow(mlflow_source, store, progress=False)
    client = tracklog.Client(store)
    assert [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL) if e.name == "exp-a"] == [mine]
    names = {r.info.run_name for r in client.search_runs([mine])}
    assert names == {"parent", "child", mine_run.info.run_name}
    merged = tracklog.sql("SELECT experiment_id, name FROM events WHERE kind = 'ExperimentMerged'", uri=store).arrow()
    assert merged.to_pylist() == [{"experiment_id": mine, "name": "exp-a"}]


def test_only_the_named_experiments(mlflow_source, tmp_path):
    store = str(tmp_path / "store")
    import_mlflow(mlflow_source, store, experiments=["exp-b"], progress=False)
    client = tracklog.Client(store)
    assert {e.name for e in client.search_experiments(view_type=ViewType.ALL)} == {"exp-b", "Default"}
    assert client.search_registered_models() == []  # reg-model's only version comes from exp-a's run
    other = str(tmp_path / "other")
    import_mlflow(mlflow_source, other, experiments=["exp-a"], progress=False)
    assert [m.name for m in tracklog.Client(other).search_registered_models()] == ["reg-model"]
    with pytest.raises(TransferError, match="no experiment named 'nope' in the MLflow source"):
        import_mlflow(mlflow_source, store, experiments=["nope"], progress=False)


def test_bad_sources_are_refused_with_typed_errors(tmp_path, capsys):
    with pytest.raises(SourceNotFoundError, match="no MLflow tracking folder at"):
        import_mlflow(str(tmp_path / "nothing"), str(tmp_path / "store"))
    with pytest.raises(SourceNotFoundError, match="no MLflow database at .* does not exist"):
        import_mlflow(f"sqlite:///{tmp_path}/nothing.db", str(tmp_path / "store"))
    assert not (tmp_path / "nothing.db").exists()  # MLflow would have created it
    with pytest.raises(UnsupportedSourceError, match="not an MLflow tracking URI"):
        import_mlflow("ftp://host/x", str(tmp_path / "store"))
    with pytest.raises(SystemExit):
        main(["import", "mlflow", str(tmp_path / "nothing"), "--store", str(tmp_path / "store")])
    assert "error: no MLflow tracking folder at" in capsys.readouterr().err
    assert issubclass(MissingDependencyError, ImportError)


def test_cli_import_prints_what_came(mlflow_source, tmp_path, capsys):
    main(["import", "mlflow", mlflow_source, "--store", str(tmp_path / "store"), "--experiment", "exp-a"])
    out = capsys.readouterr().out
    src = MlflowClient(mlflow_source, registry_uri=mlflow_source)  # MLflow's default registry is ./mlflow.db
    points = _points(src, [src.get_experiment_by_name("exp-a").experiment_id])
    assert points >= 103 and f"1 experiment(s), 2 run(s) (0 already there), {points} metric point(s)" in out


def test_an_import_killed_halfway_then_rerun_ends_with_every_event_once(tmp_path):
    """SIGKILL a real `tracklog import mlflow` process mid-way; the rerun completes it exactly once."""
    db = tmp_path / "mlflow.db"
    runs = bulk_sqlite_source(db, runs=40, points_per_run=20_000)
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "tracklog.cli", "import", "mlflow", f"sqlite:///{db}", "--store", str(store)]
    proc = subprocess.Popen(cmd, env=mlflow_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    claims = store / "_claims" / "imports"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(os.listdir(claims) if claims.is_dir() else []) < 5:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(os.listdir(claims))
    assert 5 <= done_before < 41, "the import was not killed halfway"
    subprocess.run(cmd, env=mlflow_env(tmp_path), check=True, capture_output=True, timeout=300)
    totals = tracklog.sql("SELECT count(*) AS n, count(DISTINCT (writer_id, writer_seq)) AS ids FROM events "
                          "WHERE kind = 'MetricLogged'", uri=str(store)).arrow().to_pylist()
    assert totals == [{"n": 40 * 20_000, "ids": 40 * 20_000}]
    starts = tracklog.sql("SELECT run_id, count(*) AS n FROM events WHERE kind IN ('RunStarted', 'RunEnded') "
                          "GROUP BY run_id", uri=str(store)).arrow().to_pylist()
    assert sorted(r["run_id"] for r in starts) == sorted(runs) and {r["n"] for r in starts} == {2}
    assert tracklog.sql("SELECT count(*) AS n FROM metrics", uri=str(store)).arrow().to_pylist() == [{"n": 800_000}]


def _repeated_events(store: str) -> list[tuple]:
    """Events the raw log holds more than once (the same kind and fields, whatever their writer)."""
    rows = tracklog.sql("SELECT * EXCLUDE (time, ts, actor, writer_id, writer_seq) FROM events "
                        "WHERE kind <> 'SourceImported'", uri=store).arrow().to_pylist()
    counts = Counter(tuple(sorted((k, "nan" if isinstance(v, float) and math.isnan(v) else v)
                                  for k, v in row.items() if v is not None)) for row in rows)
    return [event for event, n in counts.items() if n > 1]


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_a_source_that_changed_comes_again_with_each_change_once(kind, tmp_path):
    """Tags set, changed and deleted, a param, new points, a run finished, deleted and restored,
    an experiment renamed and tagged: each re-import appends only the changes, and the store
    reads as the source."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}" if kind == "sqlite" else str(tmp_path / "mlruns")
    src = MlflowClient(uri)
    exp = src.create_experiment("before", artifact_location=str(tmp_path / "art"))
    run_id = src.create_run(exp, run_name="r", tags={"t": "1", "old": "x"}).info.run_id
    other = src.create_run(exp, run_name="other").info.run_id
    src.set_terminated(other)
    src.log_param(run_id, "a", "1")
    for step in range(5):
        src.log_metric(run_id, "loss", 1 / (step + 1), timestamp=1_700_000_000_000 + step, step=step)
    src = MlflowClient(uri, registry_uri=uri)
    src.create_registered_model("m")
    src.create_model_version("m", f"runs:/{run_id}/model", run_id=run_id, description="first")
    store = str(tmp_path / "store")
    import_mlflow(uri, store, progress=False)

    src.create_model_version("m", f"runs:/{run_id}/model", run_id=run_id, description="second")
    src.set_registered_model_alias("m", "champion", 2)
    src.set_registered_model_tag("m", "task", "x")
    src.update_registered_model("m", description="a model")
    src.transition_model_version_stage("m", 1, "Staging")
    src.set_tag(run_id, "t", "2")
    src.set_tag(run_id, "new", "y")
    src.log_param(run_id, "b", "2")
    for step in range(5, 8):
        src.log_metric(run_id, "loss", 1 / (step + 1), timestamp=1_700_000_000_000 + step, step=step)
    src.set_terminated(run_id, "FINISHED")
    src.rename_experiment(exp, "after")
    src.set_experiment_tag(exp, "e", "1")
    src.delete_run(other)
    for _ in range(3):
        import_mlflow(uri, store, progress=False)
    src.delete_tag(run_id, "old")
    src.restore_run(other)
    src.delete_registered_model_alias("m", "champion")
    report = import_mlflow(uri, store, progress=False)
    again = import_mlflow(uri, store, progress=False)

    dest = tracklog.Client(store)
    assert compare.runs(dest, ViewType.ALL) == compare.runs(src, MlflowViewType.ALL)
    assert compare.experiments(dest, ViewType.ALL, times=False) == {
        **compare.experiments(src, MlflowViewType.ALL, times=False), "Default": ("active", {}, None)}
    assert compare.registry(dest) == compare.registry(src)
    assert _repeated_events(store) == []
    events = _events(store)
    assert (events["MetricLogged"], events["RunStarted"], events["RunEnded"], events["ExperimentRenamed"]) == (8, 2, 2, 1)
    assert (events["RunTagDeleted"], events["RunDeleted"], events["RunRestored"]) == (1, 1, 1)
    assert (events["ModelVersionCreated"], events["ModelAliasSet"], events["ModelAliasDeleted"]) == (2, 1, 1)
    assert (report.runs, report.runs_skipped, report.metric_points) == (2, 0, 0)
    assert (again.runs, again.runs_skipped, again.segments) == (0, 2, 0)
    assert dest.get_experiment_by_name("before") is None
