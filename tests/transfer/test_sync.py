"""`tracklog sync` copies what DEST lacks, exactly once; `tracklog.dataset` lists the live files
other engines read; `tracklog export mlflow` writes a store back into MLflow."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import tracklog
from eventlog import EventLog, SourceNotFoundError, UnsupportedSourceError
from eventlog.compaction import compact
from projections import ViewType
from tracklog.transfer import sync


def _log_runs(store: str, experiment: str, n: int, *, steps: int = 20, prefix: str = "r") -> list[str]:
    client = tracklog.Client(store)
    exp = client.get_experiment_by_name(experiment)
    experiment_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
    ids = []
    for i in range(n):
        run = client.create_run(experiment_id, run_name=f"{prefix}{i}")
        client.log_param(run.info.run_id, "i", str(i))
        for step in range(steps):
            client.log_metric(run.info.run_id, "loss", 1 / (step + 1 + i), step=step)
        client.set_tag(run.info.run_id, "who", prefix)
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    client.flush()
    return ids


def _snapshot(store: str) -> dict[str, tuple]:
    client = tracklog.Client(store)
    out = {}
    for exp in client.search_experiments(view_type=ViewType.ALL):
        for run in client.search_runs([exp.experiment_id], max_results=10_000):
            history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss"))
            out[run.info.run_id] = (exp.name, run.info.run_name, run.info.status, run.data.params,
                                    {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
                                    history)
    return out


def _event_count(store: str) -> int:
    """Events besides the syncs' own records (each pass that copies records one `SourceImported`)."""
    return tracklog.sql("SELECT count(*) FROM events WHERE kind <> 'SourceImported'", uri=store).fetchall()[0][0]


def test_sync_copies_everything_once_and_again_only_what_is_new(tmp_path: Path) -> None:
    src, dest = str(tmp_path / "src"), str(tmp_path / "dest")
    _log_runs(src, "exp", 3)
    first = sync(src, dest)
    assert first.events > 0
    assert _snapshot(dest) == _snapshot(src)
    events = _event_count(dest)
    assert events == _event_count(src)

    again = sync(src, dest)
    assert again.events == 0 and _event_count(dest) == events  # nothing copied twice

    _log_runs(src, "exp", 2, prefix="late")
    later = sync(src, dest)
    assert later.events > 0
    assert _snapshot(dest) == _snapshot(src) and len(_snapshot(dest)) == 5
    assert _event_count(dest) == _event_count(src)


def test_sync_from_a_compacted_store(tmp_path: Path) -> None:
    src, dest = str(tmp_path / "src"), str(tmp_path / "dest")
    _log_runs(src, "exp", 2)
    sync(src, dest)
    _log_runs(src, "exp", 2, prefix="more")
    log = EventLog.open(src)
    for stream in ("control", "metric"):
        compact(log.store, stream)
    log.close()
    sync(src, dest)
    assert _snapshot(dest) == _snapshot(src) and len(_snapshot(dest)) == 4
    assert _event_count(dest) == _event_count(src)


def test_experiments_with_the_same_name_merge(tmp_path: Path) -> None:
    laptop, team = str(tmp_path / "laptop"), str(tmp_path / "team")
    mine = _log_runs(laptop, "shared", 2, prefix="laptop")
    theirs = _log_runs(team, "shared", 1, prefix="team")
    sync(laptop, team)
    client = tracklog.Client(team)
    exps = [e for e in client.search_experiments(view_type=ViewType.ALL) if e.name == "shared"]
    assert len(exps) == 1
    found = {r.info.run_id for r in client.search_runs([exps[0].experiment_id])}
    assert found == set(mine) | set(theirs)


def test_sync_refuses_what_it_cannot_copy(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        sync(str(tmp_path / "nowhere"), str(tmp_path / "dest"))
    with pytest.raises(UnsupportedSourceError, match="tracking servers"):
        sync("http://127.0.0.1:9", str(tmp_path / "dest"))


def test_other_engines_read_the_live_files_and_agree_with_search(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    _log_runs(store, "exp", 3)
    log = EventLog.open(store)
    compact(log.store, "metric")  # compacted and uncompacted files side by side
    log.close()
    _log_runs(store, "exp", 1, prefix="after")
    files = tracklog.dataset(store)
    frame = pl.read_parquet(files.metric_files)
    latest = (frame.sort("step").group_by(["run_id", "key"]).agg(pl.col("value").last())
              .filter(pl.col("key") == "loss"))
    from_polars = {r["run_id"]: r["value"] for r in latest.to_dicts()}
    runs = tracklog.Client(store).search_runs(
        [tracklog.Client(store).get_experiment_by_name("exp").experiment_id])
    assert from_polars == {r.info.run_id: r.data.metrics["loss"] for r in runs}
    assert len(from_polars) == 4


def test_export_to_mlflow_keeps_every_run(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    from tracklog.transfer import export_mlflow

    store = str(tmp_path / "store")
    ids = _log_runs(store, "exp", 2, steps=5)
    dest = f"sqlite:///{tmp_path / 'back' / 'mlflow.db'}"
    export_mlflow(store, dest, progress=False)
    client = MlflowClient(dest)
    exp = client.get_experiment_by_name("exp")
    runs = client.search_runs([exp.experiment_id])
    by_tracklog = {r.data.tags["tracklog.run_id"]: r for r in runs}
    assert set(by_tracklog) == set(ids)
    for run_id, run in by_tracklog.items():
        mine = tracklog.Client(store).get_run(run_id)
        assert run.data.params == mine.data.params
        assert run.info.run_name == mine.info.run_name and run.info.status == mine.info.status
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss"))
        assert history == sorted((m.step, m.value) for m in tracklog.Client(store).get_metric_history(run_id, "loss"))
    export_mlflow(store, dest, progress=False)  # again: nothing twice
    assert len(client.search_runs([exp.experiment_id])) == 2


def test_sync_into_a_real_s3_bucket_and_back(tmp_path: Path, s3_endpoint: str) -> None:
    """Local folder -> s3:// bucket (moto on loopback) -> local folder: once, again only what is
    new, and from a compacted store on either side."""
    import uuid

    src, back = str(tmp_path / "src"), str(tmp_path / "back")
    bucket = f"s3://tracklog-tests/sync-{uuid.uuid4().hex}"
    first = _log_runs(src, "exp", 3)[0]
    writer = tracklog.Client(src)
    writer.log_text(first, "x" * 3_000_000, "big/blob.txt")  # streamed, in chunks
    writer.flush()  # sync reads the store's files: the artifact's event must be published first
    assert sync(src, bucket).events > 0
    assert sync(bucket, back).events > 0
    assert Path(tracklog.Client(back).download_artifacts(first, "big/blob.txt", str(tmp_path / "dl"))).read_text() \
        == "x" * 3_000_000
    assert _snapshot(bucket) == _snapshot(back) == _snapshot(src)
    assert _event_count(bucket) == _event_count(back) == _event_count(src)
    assert sync(src, bucket).events == 0 and sync(bucket, back).events == 0  # nothing twice

    _log_runs(src, "exp", 2, prefix="late")
    log = EventLog.open(src)
    for stream in ("control", "metric"):
        compact(log.store, stream)  # the new runs reach the bucket from a compacted store
    log.close()
    assert sync(src, bucket).events > 0
    remote = EventLog.open(bucket)
    for stream in ("control", "metric"):
        compact(remote.store, stream)  # and the way back starts from a compacted bucket
    remote.close()
    assert sync(bucket, back).events > 0
    assert _snapshot(bucket) == _snapshot(back) == _snapshot(src) and len(_snapshot(back)) == 5
    assert _event_count(bucket) == _event_count(back) == _event_count(src)


def _identities(store: str) -> list[tuple[str, str, int]]:
    """(kind, writer_id, writer_seq) of every event the store's raw log holds, duplicates kept."""
    rows = tracklog.sql("SELECT kind, writer_id, writer_seq FROM events", uri=store).fetchall()
    return [(k, w, int(s)) for k, w, s in rows]


def test_two_sync_processes_and_live_writers_on_both_sides_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """Two `tracklog sync --watch` processes copy SRC into DEST while a writer logs into each
    store: every metric point and control event of SRC lands in DEST exactly once (by writer id
    and seq), DEST's own events stay once, and same-name experiments merge, late ones too."""
    import os
    import signal
    import subprocess
    import sys
    from collections import Counter

    src, dest = str(tmp_path / "src"), str(tmp_path / "dest")
    for store in (src, dest):
        tracklog.Client(store).create_experiment("shared")  # the same name on both sides: merged
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    here = Path(__file__).parent
    python = sys.executable
    syncs = [subprocess.Popen([python, "-m", "tracklog.cli", "sync", src, dest, "--watch", "--interval", "0.1"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for proc in syncs:
        assert proc.stdout is not None and "synced" in proc.stdout.readline().decode()  # a first pass is done
    writers = [subprocess.Popen([python, str(here / "live_writer.py"), store, name, "12", *late], env=env)
               for store, name, late in ((src, "src", ["late"]), (dest, "dest", []))]
    try:
        for writer in writers:
            assert writer.wait(timeout=240) == 0
    finally:
        for proc in syncs:
            proc.send_signal(signal.SIGINT)
        outputs = [proc.communicate(timeout=60) for proc in syncs]
    passes = [out.decode().count("synced") for out, _ in outputs]
    assert min(passes) >= 3, passes  # both kept syncing while the writers wrote
    errors = [err.decode() for _, err in outputs]
    assert all("Traceback" not in e or "KeyboardInterrupt" in e for e in errors), errors
    sync(src, dest)  # a last pass picks up what the writers published after the syncs' last one

    held = Counter((w, s) for _, w, s in _identities(dest))
    assert [ident for ident, n in held.items() if n > 1] == []  # nothing twice
    merged_creation = {(w, s) for k, w, s in _identities(src) if k == "ExperimentCreated"}
    missing = [(k, w, s) for k, w, s in _identities(src) if (w, s) not in held and (w, s) not in merged_creation]
    assert missing == []  # nothing lost
    client = tracklog.Client(dest)
    runs = {r.info.run_name: r for name in ("shared", "late")
            for r in client.search_runs([client.get_experiment_by_name(name).experiment_id], max_results=1000)}
    assert sorted(runs) == sorted([f"src-{i}" for i in range(12)] + [f"dest-{i}" for i in range(12)])
    assert {r.info.run_name for r in client.search_runs([client.get_experiment_by_name("late").experiment_id])} \
        == {f"src-{i}" for i in range(6, 12)}
    for run in runs.values():
        history = client.get_metric_history(run.info.run_id, "loss")
        assert sorted(m.step for m in history) == list(range(200)), run.info.run_name
        assert run.info.status == "FINISHED" and run.data.tags["writer"] == run.info.run_name.split("-")[0]
    assert len([e for e in client.search_experiments(view_type=ViewType.ALL) if e.name == "shared"]) == 1
