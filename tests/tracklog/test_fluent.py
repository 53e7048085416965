"""The fluent API behaves as MLflow's does for the common calls."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

import tracklog
from tracklog import RunStatus


def test_start_run_as_a_context_manager_finishes_the_run(tracking_uri: str) -> None:
    with tracklog.start_run(run_name="first", tags={"team": "a"}, description="about") as run:
        assert tracklog.active_run() is run
        tracklog.log_param("lr", 0.01)
        tracklog.log_params({"batch": 32, "opt": "adam"})
        tracklog.log_metric("loss", 0.5, step=1)
        tracklog.log_metrics({"acc": 0.9, "f1": 0.7}, step=2)
        tracklog.set_tag("stage", "dev")
        tracklog.set_tags({"x": 1})
    assert tracklog.active_run() is None
    got = tracklog.get_run(run.info.run_id)
    assert got.info.status == RunStatus.FINISHED and got.info.end_time >= got.info.start_time
    assert got.info.run_name == "first" and got.info.lifecycle_stage == "active"
    assert got.data.params == {"lr": "0.01", "batch": "32", "opt": "adam"}
    assert got.data.metrics == {"loss": 0.5, "acc": 0.9, "f1": 0.7}
    tags = got.data.tags
    assert tags["team"] == "a" and tags["stage"] == "dev" and tags["x"] == "1"
    assert tags["mlflow.runName"] == "first" and tags["mlflow.note.content"] == "about"
    assert tags["mlflow.user"] and tags["mlflow.source.type"] == "LOCAL" and "mlflow.source.name" in tags
    assert got.info.artifact_uri.endswith(f"/0/{run.info.run_id}/artifacts")


def test_a_raising_block_marks_the_run_failed(tracking_uri: str) -> None:
    with pytest.raises(ZeroDivisionError), tracklog.start_run() as run:
        1 / 0  # noqa: B018
    assert tracklog.get_run(run.info.run_id).info.status == RunStatus.FAILED
    assert tracklog.active_run() is None


def test_nested_runs_record_their_parent(tracking_uri: str) -> None:
    with tracklog.start_run() as parent:
        with pytest.raises(tracklog.TracklogError, match="already active"):
            tracklog.start_run()
        with tracklog.start_run(nested=True) as child:
            assert tracklog.active_run() is child
        assert tracklog.active_run() is parent
    assert tracklog.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert tracklog.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    explicit = tracklog.start_run(parent_run_id=parent.info.run_id)
    tracklog.end_run()
    assert tracklog.get_run(explicit.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_end_run_with_a_status_and_last_active_run(tracking_uri: str) -> None:
    run = tracklog.start_run()
    assert tracklog.last_active_run().info.run_id == run.info.run_id
    tracklog.end_run("KILLED")
    last = tracklog.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == RunStatus.KILLED


def test_a_run_ended_inside_its_block_keeps_its_status(tracking_uri: str) -> None:
    """MLflow's rule: leaving ``with start_run()`` ends the run only if it is still active; an
    ``end_run(status)`` inside the block stands."""
    with tracklog.start_run() as failed:
        tracklog.end_run(status="FAILED")
    assert tracklog.get_run(failed.info.run_id).info.status == RunStatus.FAILED
    with tracklog.start_run() as killed:
        tracklog.end_run("KILLED")
        tracklog.log_metric("after", 1.0)  # starts a new run, which the block does not own
        other = tracklog.active_run()
    assert tracklog.get_run(killed.info.run_id).info.status == RunStatus.KILLED
    assert other is not None and other.info.run_id != killed.info.run_id
    assert tracklog.active_run() is other
    tracklog.end_run()
    with pytest.raises(ZeroDivisionError), tracklog.start_run() as finished:
        tracklog.end_run()
        1 / 0  # noqa: B018
    assert tracklog.get_run(finished.info.run_id).info.status == RunStatus.FINISHED


def test_log_metric_without_a_run_starts_one(tracking_uri: str) -> None:
    tracklog.log_metric("m", 1.0)
    run = tracklog.active_run()
    assert run is not None
    tracklog.end_run()
    assert tracklog.get_run(run.info.run_id).data.metrics == {"m": 1.0}


def test_resuming_a_run_by_id(tracking_uri: str) -> None:
    with tracklog.start_run() as run:
        tracklog.log_metric("m", 1.0, step=0)
    with tracklog.start_run(run_id=run.info.run_id) as again:
        assert tracklog.get_run(run.info.run_id).info.status == RunStatus.RUNNING
        tracklog.log_metric("m", 2.0, step=1)
    assert again.info.run_id == run.info.run_id
    got = tracklog.get_run(run.info.run_id)
    assert got.info.status == RunStatus.FINISHED and got.data.metrics == {"m": 2.0}


def test_run_id_from_the_environment(tracking_uri: str, monkeypatch) -> None:
    run = tracklog.Client().create_run("0")
    monkeypatch.setenv("TRACKLOG_RUN_ID", run.info.run_id)
    with tracklog.start_run() as active:
        assert active.info.run_id == run.info.run_id


def test_set_experiment_creates_once_and_routes_new_runs(tracking_uri: str) -> None:
    exp = tracklog.set_experiment("vision")
    assert tracklog.set_experiment("vision").experiment_id == exp.experiment_id
    with tracklog.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    assert tracklog.set_experiment(experiment_id=exp.experiment_id).name == "vision"
    tracklog.delete_experiment(exp.experiment_id)
    with pytest.raises(tracklog.TracklogError, match="deleted experiment 'vision'"):
        tracklog.set_experiment("vision")
    tracklog.restore_experiment(exp.experiment_id)
    assert tracklog.set_experiment("vision").lifecycle_stage == "active"


def test_experiment_from_the_environment(tracking_uri: str, monkeypatch) -> None:
    monkeypatch.setenv("TRACKLOG_EXPERIMENT_NAME", "from-env")
    with tracklog.start_run() as run:
        pass
    assert tracklog.get_experiment(run.info.experiment_id).name == "from-env"


def test_tracking_uri_default_and_environment(tmp_path, monkeypatch) -> None:
    from tracklog._config import settings

    settings.tracking_uri = None
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKLOG_TRACKING_URI", raising=False)
    assert tracklog.get_tracking_uri() == str(tmp_path / "tracklog-runs")
    monkeypatch.setenv("TRACKLOG_TRACKING_URI", "memory://elsewhere")
    assert tracklog.get_tracking_uri() == "memory://elsewhere"
    tracklog.set_tracking_uri("file:./rel")
    assert tracklog.get_tracking_uri() == str(tmp_path / "rel")
    settings.tracking_uri = None


def test_active_runs_are_per_thread(tracking_uri: str) -> None:
    seen: dict[str, object] = {}
    with tracklog.start_run() as run:
        t = threading.Thread(target=lambda: seen.update(active=tracklog.active_run()))
        t.start()
        t.join()
        assert tracklog.active_run() is run
    assert seen["active"] is None


def test_delete_tag_and_delete_restore_run(tracking_uri: str) -> None:
    with tracklog.start_run() as run:
        tracklog.set_tag("a", "1")
        tracklog.delete_tag("a")
        with pytest.raises(tracklog.NotFoundError, match="No tag with name: a"):  # MLflow's error
            tracklog.delete_tag("a")
    assert "a" not in tracklog.get_run(run.info.run_id).data.tags
    tracklog.delete_run(run.info.run_id)
    assert tracklog.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    tracklog.restore_run(run.info.run_id)
    assert tracklog.get_run(run.info.run_id).info.lifecycle_stage == "active"


def test_log_input_records_the_dataset(tracking_uri: str) -> None:
    class FakeMlflowDataset:
        name, digest, source_type, source = "iris", "abc123", "local", "/data/iris.csv"
        schema = {"columns": ["a", "b"]}
        profile = None

    with tracklog.start_run() as run:
        tracklog.log_input(FakeMlflowDataset(), context="training")
        tracklog.log_input(tracklog.Dataset(name="val", digest="d2"))
    inputs = tracklog.get_run(run.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["iris", "val"]
    assert inputs[0].tags[0].value == "training" and '"columns"' in inputs[0].dataset.schema


def test_a_script_ending_without_end_run_finishes_its_run(tmp_path) -> None:
    """MLflow ends the active run at interpreter exit; so do we, and its events are published."""
    uri = str(tmp_path / "s")
    code = f"import tracklog; tracklog.set_tracking_uri({uri!r}); r = tracklog.start_run(); tracklog.log_metric('m', 3.0); print(r.info.run_id)"
    run_id = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    run = tracklog.Client(uri).get_run(run_id)
    assert run.info.status == RunStatus.FINISHED and run.data.metrics == {"m": 3.0}


def test_import_tracklog_as_mlflow_reads_like_mlflow(tracking_uri: str) -> None:
    import tracklog as mlflow

    mlflow.set_experiment("compat")
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", 0.5)
        for epoch in range(3):
            mlflow.log_metric("rmse", 1.0 / (epoch + 1), step=epoch)
    client = mlflow.MlflowClient()
    assert [m.value for m in client.get_metric_history(run.info.run_id, "rmse")] == [1.0, 0.5, 1.0 / 3]


_END_AND_LIVE_ON = """
import sys, time, tracklog
tracklog.set_tracking_uri(sys.argv[1])
with tracklog.start_run() as run:
    tracklog.log_metric("m", 1.0)
assert tracklog.get_run(run.info.run_id).info.status == "FINISHED"  # this process: at once
print(run.info.run_id, flush=True)
time.sleep(120)
"""


def test_another_process_sees_a_run_end_within_the_flush_interval(tmp_path) -> None:
    """end_run does not publish on the caller's path: a background flush due within 0.25 s does,
    while the process lives on; its own reads see the end at once."""
    uri = str(tmp_path / "s")
    proc = subprocess.Popen([sys.executable, "-c", _END_AND_LIVE_ON, uri], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        client = tracklog.Client(uri)
        deadline = time.monotonic() + 30  # a liveness bound, generous around the documented 0.25 s
        status = None
        while status != RunStatus.FINISHED and time.monotonic() < deadline:
            time.sleep(0.1)
            found = client.search_runs(["0"], f"attributes.run_id = '{run_id}'")
            status = found[0].info.status if found else None
        assert status == RunStatus.FINISHED, f"the run's end never reached another process (last seen: {status})"
    finally:
        proc.kill()
        proc.wait()


_POOL_OF_FORKS = """
import multiprocessing, sys
import tracklog

def train(uri):
    tracklog.set_tracking_uri(uri)
    with tracklog.start_run() as run:
        tracklog.log_metric("m", 1.0)
    return run.info.run_id

if __name__ == "__main__":
    pool = multiprocessing.get_context("fork").Pool(2)
    print(" ".join(pool.map(train, [sys.argv[1]] * 4)))
    pool.close()
    pool.join()
"""


def test_runs_ended_in_forked_multiprocessing_workers_are_published(tmp_path) -> None:
    """multiprocessing's fork children leave by os._exit, past atexit: they flush as they finish,
    so their runs are in the store's segments, not left in a WAL for the next opener to recover."""
    from eventlog import RunEnded, open_store
    from eventlog.codec import events_from_table, read_parquet
    from eventlog.compaction import live_files

    uri = str(tmp_path / "s")
    script = tmp_path / "pool.py"
    script.write_text(_POOL_OF_FORKS)
    done = subprocess.run([sys.executable, str(script), uri], capture_output=True, text=True, check=True, timeout=120)
    run_ids = set(done.stdout.split())
    store = open_store(uri)  # a bare listing: nothing is recovered
    ended = {e.run_id for path in live_files(store, "control")
             for e in events_from_table(read_parquet(store.read_bytes(path), where=path)) if isinstance(e, RunEnded)}
    assert len(run_ids) == 4 and run_ids <= ended
