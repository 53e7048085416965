"""The DuckDB catalog: incremental folding equals replay, time travel, conflict rules, robustness."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import (
    CorruptFileWarning,
    EventLog,
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentRenamed,
    ExperimentTagSet,
    MetricLogged,
    ParamLogged,
    RunDeleted,
    RunDescriptionSet,
    RunEnded,
    RunRenamed,
    RunRestored,
    RunResumed,
    RunStarted,
    RunTagDeleted,
    RunTagSet,
)
from eventlog.codec import control_table, metric_table, write_parquet
from projections.catalog import Catalog

VIEWS = ["experiments", "runs", "metrics", "latest_metrics", "params", "tags", "inputs", "artifacts", "events", "param_conflicts"]
RUNS, EXPS, KEYS, WRITERS = ["r0", "r1", "r2"], ["e1", "e2"], ["a", "b"], ["w0", "w1"]


def _dump(cur, view: str) -> list:
    return sorted(map(repr, cur.sql(f"SELECT * FROM {view}").fetchall()))


# ---- random event histories ---------------------------------------------------------------

_run, _key, _val = st.sampled_from(RUNS), st.sampled_from(KEYS), st.sampled_from(["x", "y", "z"])
_control = st.one_of(
    st.builds(lambda r, e: RunStarted(run_id=r, experiment_id=e, run_name=f"n-{r}", start_time=5), _run, st.sampled_from(EXPS)),
    st.builds(lambda r, s: RunEnded(run_id=r, status=s, end_time=9), _run, st.sampled_from(["FINISHED", "FAILED", "KILLED"])),
    st.builds(lambda r: RunResumed(run_id=r), _run),
    st.builds(lambda r, v: RunRenamed(run_id=r, run_name=v), _run, _val),
    st.builds(lambda r: RunDeleted(run_id=r), _run),
    st.builds(lambda r: RunRestored(run_id=r), _run),
    st.builds(lambda r, v: RunDescriptionSet(run_id=r, description=v), _run, _val),
    st.builds(lambda r, k, v: ParamLogged(run_id=r, key=k, value=v), _run, _key, _val),
    st.builds(lambda r, k, v: RunTagSet(run_id=r, key=k, value=v), _run, _key, _val),
    st.builds(lambda r, k: RunTagDeleted(run_id=r, key=k), _run, _key),
    st.builds(lambda e, v: ExperimentCreated(experiment_id=e, name=v, artifact_location=f"/a/{e}"), st.sampled_from(EXPS), _val),
    st.builds(lambda e, v: ExperimentRenamed(experiment_id=e, name=v + "!"), st.sampled_from(EXPS), _val),
    st.builds(lambda e: ExperimentDeleted(experiment_id=e), st.sampled_from(EXPS)),
    st.builds(lambda e, k, v: ExperimentTagSet(experiment_id=e, key=k, value=v), st.sampled_from(EXPS), _key, _val),
)
_metric = st.builds(lambda r, k, v, s: MetricLogged(run_id=r, key=k, value=v, step=s, timestamp=s * 10), _run, _key,
                    st.floats(-10, 10, allow_nan=False), st.integers(0, 3))
_history = st.lists(st.tuples(st.sampled_from(WRITERS), st.one_of(_control, _metric)), min_size=1, max_size=40)


def _stamp(history) -> list:
    """Give each event an envelope: per-writer gapless seqs and increasing ts (writers interleave)."""
    import msgspec

    seqs = dict.fromkeys(WRITERS, 0)
    out = []
    for i, (writer, event) in enumerate(history):
        out.append(msgspec.structs.replace(event, writer_id=writer, writer_seq=seqs[writer], ts=1_000_000_000 * (i + 1), actor="u"))
        seqs[writer] += 1
    return out


def _publish(log: EventLog, events: list, chunk: int) -> None:
    control = [e for e in events if not isinstance(e, MetricLogged)]
    metrics = [e for e in events if isinstance(e, MetricLogged)]
    if control:
        log.store.publish(f"events/stream=control/date=2026-01-01/c-{chunk:04d}.parquet", write_parquet(control_table(control)))
    if metrics:
        cols = {name: [getattr(e, name) for e in metrics] for name in
                ("run_id", "key", "value", "step", "timestamp", "ts", "writer_id", "writer_seq", "actor")}
        log.store.publish(f"events/stream=metric/date=2026-01-01/m-{chunk:04d}.parquet", write_parquet(metric_table(cols)))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_history, st.integers(1, 4))
def test_incremental_folds_equal_a_full_replay_and_the_rules(tmp_path_factory, history, chunks) -> None:
    """fold(a + b) == fold(b, start=fold(a)), and the runs are what the conflict rules say (`_oracle`)."""
    events = _stamp(history)
    root = tmp_path_factory.mktemp("fold")
    log = EventLog.open(str(root))
    incremental = Catalog(log)
    size = max(1, len(events) // chunks)
    for i, start in enumerate(range(0, len(events), size)):
        _publish(log, events[start : start + size], i)
        incremental.refresh()
    replay = Catalog(log, persistent=False)
    a, b = incremental.connect(), replay.connect()
    for view in VIEWS:
        assert _dump(a, view) == _dump(b, view), view

    expected = _oracle(events)
    rows = {r[0]: r[1:] for r in a.sql(
        "SELECT run_id, experiment_id, run_name, status, lifecycle_stage, params, tags, metrics, end_time_ms FROM runs").fetchall()}
    assert rows == expected
    incremental.close()


def _oracle(events: list) -> dict:
    """The runs by DESIGN.md's rules, computed plainly from the events (the test's own reading of
    them): last writer wins by (ts, writer_id, writer_seq) for status, names, lifecycle and tags;
    the first writer for params and what RunStarted fixes; the highest (step, timestamp,
    writer_seq, writer_id) for the latest metric."""
    order = sorted(events, key=lambda e: (e.ts, e.writer_id, e.writer_seq))
    runs: dict = {}
    for e in order:
        if isinstance(e, RunStarted) and e.run_id not in runs:
            runs[e.run_id] = {"exp": e.experiment_id, "status": "RUNNING", "end": None, "life": "active",
                              "tags": {}, "params": {}, "metrics": {}}
    for e in order:
        run = runs.get(getattr(e, "run_id", None))
        if run is None:
            continue
        if isinstance(e, RunStarted):
            run["status"], run["end"] = "RUNNING", None
            run["tags"]["mlflow.runName"] = e.run_name
        elif isinstance(e, RunResumed):
            run["status"], run["end"] = "RUNNING", None
        elif isinstance(e, RunEnded):
            run["status"], run["end"] = e.status, e.end_time
        elif isinstance(e, RunRenamed):
            run["tags"]["mlflow.runName"] = e.run_name
        elif isinstance(e, RunDeleted | RunRestored):
            run["life"] = "deleted" if isinstance(e, RunDeleted) else "active"
        elif isinstance(e, RunDescriptionSet):
            run["tags"]["mlflow.note.content"] = e.description
        elif isinstance(e, RunTagSet):
            run["tags"][e.key] = e.value
        elif isinstance(e, RunTagDeleted):
            run["tags"].pop(e.key, None)
        elif isinstance(e, ParamLogged):
            run["params"].setdefault(e.key, e.value)
        elif isinstance(e, MetricLogged):
            rank = (e.step, e.timestamp, e.writer_seq, e.writer_id)
            if e.key not in run["metrics"] or rank > run["metrics"][e.key][0]:
                run["metrics"][e.key] = (rank, e.value)
    return {run_id: (r["exp"], r["tags"].get("mlflow.runName", ""), r["status"], r["life"], dict(sorted(r["params"].items())),
                     dict(sorted(r["tags"].items())), {k: v for k, (_, v) in sorted(r["metrics"].items())}, r["end"])
            for run_id, r in runs.items()}


def test_deleting_the_cache_and_replaying_gives_the_same_answers(tmp_path) -> None:
    log = EventLog.open(str(tmp_path))
    _publish(log, _stamp([("w0", RunStarted(run_id="r0", experiment_id="0", run_name="n")),
                          ("w0", ParamLogged(run_id="r0", key="a", value="1")),
                          ("w1", MetricLogged(run_id="r0", key="m", value=2.0, step=1, timestamp=5))]), 0)
    first = Catalog(log)
    before = {v: _dump(first.connect(), v) for v in VIEWS}
    first.close()
    again = Catalog(log)
    assert again.refresh() == 0, "the cache remembers what it folded"
    assert {v: _dump(again.connect(), v) for v in VIEWS} == before
    again.close()
    import os

    os.unlink(again.path)
    rebuilt = Catalog(log)
    assert {v: _dump(rebuilt.connect(), v) for v in VIEWS} == before


def _timeline(tmp_path) -> EventLog:
    """One run's life, one event per minute from 10:00 UTC."""
    base = int(datetime(2026, 1, 1, 10, 0, tzinfo=UTC).timestamp() * 1e9)
    events = [
        RunStarted(run_id="r", experiment_id="0", run_name="first", start_time=base // 1_000_000),  # 10:00
        ParamLogged(run_id="r", key="lr", value="0.1"),                                           # 10:01
        RunTagSet(run_id="r", key="stage", value="dev"),                                          # 10:02
        MetricLogged(run_id="r", key="loss", value=1.0, step=1, timestamp=0),                     # 10:03
        RunTagSet(run_id="r", key="stage", value="prod"),                                         # 10:04
        MetricLogged(run_id="r", key="loss", value=0.5, step=2, timestamp=0),                     # 10:05
        RunEnded(run_id="r", status="FINISHED", end_time=base // 1_000_000 + 360_000),            # 10:06
        RunDeleted(run_id="r"),                                                                   # 10:07
    ]
    import msgspec

    stamped = [msgspec.structs.replace(e, writer_id="w", writer_seq=i, ts=base + i * 60_000_000_000, actor="ann")
               for i, e in enumerate(events)]
    log = EventLog.open(str(tmp_path))
    _publish(log, stamped, 0)
    return log


@pytest.mark.parametrize(("when", "status", "stage", "loss", "lifecycle"), [
    (datetime(2026, 1, 1, 10, 2, 30), "RUNNING", "dev", None, "active"),
    (datetime(2026, 1, 1, 10, 4, 30, tzinfo=UTC), "RUNNING", "prod", 1.0, "active"),
    (int(datetime(2026, 1, 1, 10, 6, 30, tzinfo=UTC).timestamp() * 1000), "FINISHED", "prod", 0.5, "active"),
    (datetime(2026, 1, 1, 10, 8), "FINISHED", "prod", 0.5, "deleted"),
])
def test_as_of_shows_the_run_as_it_was(tmp_path, when, status, stage, loss, lifecycle) -> None:
    catalog = Catalog(_timeline(tmp_path))
    cur = catalog.connect(as_of=when)
    row = cur.sql("SELECT status, tags['stage'], metrics['loss'], lifecycle_stage, params['lr'] FROM runs").fetchall()
    assert row == [(status, stage, loss, lifecycle, "0.1")]
    assert cur.execute("SELECT count(*) FROM metrics").fetchone()[0] == (loss is not None) + (loss == 0.5)


def test_as_of_before_the_run_existed_is_empty_and_now_is_current(tmp_path) -> None:
    catalog = Catalog(_timeline(tmp_path))
    assert catalog.connect(as_of=datetime(2026, 1, 1, 9, 0)).execute("SELECT count(*) FROM runs").fetchone() == (0,)
    assert catalog.connect().execute("SELECT lifecycle_stage FROM runs").fetchone() == ("deleted",)
    active = catalog.connect(as_of=datetime(2026, 1, 1, 10, 6, 30)).execute(
        "SELECT count(*) FROM runs WHERE lifecycle_stage = 'active'").fetchone()
    assert active == (1,), "the runs table before the deletion"
    with pytest.raises(Exception, match="as_of must be a datetime or epoch milliseconds"):
        catalog.connect(as_of="yesterday")


def test_conflicts_across_writers(tmp_path) -> None:
    """Params: first writer wins, the rest are param_conflicts. Tags: last writer wins."""
    log = EventLog.open(str(tmp_path))
    _publish(log, _stamp([
        ("w0", RunStarted(run_id="r", experiment_id="0", run_name="n")),
        ("w1", ParamLogged(run_id="r", key="lr", value="0.1")),
        ("w0", ParamLogged(run_id="r", key="lr", value="0.2")),
        ("w0", RunTagSet(run_id="r", key="t", value="old")),
        ("w1", RunTagSet(run_id="r", key="t", value="new")),
        ("w1", MetricLogged(run_id="r", key="m", value=5.0, step=9, timestamp=1)),
        ("w0", MetricLogged(run_id="r", key="m", value=7.0, step=3, timestamp=2)),
    ]), 0)
    cur = Catalog(log).connect()
    assert cur.sql("SELECT params['lr'], tags['t'], metrics['m'] FROM runs").fetchall() == [("0.1", "new", 5.0)]
    assert cur.sql("SELECT key, kept_value, refused_value, writer_id FROM param_conflicts").fetchall() == [("lr", "0.1", "0.2", "w0")]


def test_a_corrupt_segment_is_skipped_with_a_warning(tmp_path) -> None:
    log = EventLog.open(str(tmp_path))
    _publish(log, _stamp([("w0", RunStarted(run_id="r", experiment_id="0", run_name="n"))]), 0)
    log.store.publish("events/stream=control/date=2026-01-01/zz-bad.parquet", b"not parquet")
    catalog = Catalog(log)
    with pytest.warns(CorruptFileWarning, match="zz-bad.parquet"):
        cur = catalog.connect()
    assert cur.sql("SELECT run_name FROM runs").fetchall() == [("n",)]
    assert any("zz-bad.parquet" in p for p in catalog.problems)


def test_a_foreign_parquet_file_is_skipped_by_both_folds(tmp_path) -> None:
    """A valid Parquet file of other columns or types in a stream folder does not break the
    catalog's fold: it warns with its path and answers for the valid data."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    log = EventLog.open(str(tmp_path))
    _publish(log, _stamp([("w0", RunStarted(run_id="r", experiment_id="0", run_name="n"))]), 0)
    _publish(log, _stamp([("w0", MetricLogged(run_id="r", key="m", value=3.0, step=1, timestamp=2))]), 1)
    for stream, table in (("metric", pa.table({"a": [1]})),
                          ("control", pa.table({"kind": ["RunStarted"], "ts": ["x"], "writer_id": ["w"], "writer_seq": [1]}))):
        folder = tmp_path / f"events/stream={stream}/date=2026-01-01"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"foreign-{stream}.parquet")
    catalog = Catalog(log)
    with pytest.warns(CorruptFileWarning, match="foreign-(metric|control).parquet"):
        cur = catalog.connect()
    assert cur.sql("SELECT run_name, metrics['m'] FROM runs").fetchall() == [("n", 3.0)]
    assert sorted(p.rsplit("/", 1)[1] for p in catalog.problems) == ["foreign-control.parquet", "foreign-metric.parquet"]


def test_a_cache_held_by_another_process_means_the_next_slot_then_memory(tmp_path, monkeypatch) -> None:
    """A second reader of a store gets a slot of its own (kept incrementally); past the last slot
    it folds in memory, with a warning."""
    log = EventLog.open(str(tmp_path))
    _publish(log, _stamp([("w0", RunStarted(run_id="r", experiment_id="0", run_name="n"))]), 0)
    Catalog(log).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(tmp_path / '_cache' / 'catalog.duckdb')!r})
        print('holding', flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        second = Catalog(log)
        assert second.path == str(tmp_path / "_cache" / "catalog-1.duckdb")
        assert second.connect().sql("SELECT run_name FROM runs").fetchall() == [("n",)]
        second.close()
        monkeypatch.setenv("TRACKLOG_CATALOG_SLOTS", "1")
        with pytest.warns(UserWarning, match="held by another process"):
            catalog = Catalog(log)
        assert catalog.path == ":memory:"
        assert catalog.connect().sql("SELECT run_name FROM runs").fetchall() == [("n",)]
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_a_large_first_fold_goes_in_batches_with_the_same_answers(tmp_path, monkeypatch) -> None:
    """Metric files fold a few at a time (bounded memory); the views equal a fold in one go."""
    import projections.catalog as catalog

    log = EventLog.open(str(tmp_path / "s"))
    for run in range(3):
        log.append(RunStarted(run_id=f"r{run}", experiment_id="0", run_name=f"n{run}"))
        for seg in range(4):
            for step in range(25):
                log.log_metric(f"r{run}", "loss", float(seg * 25 + step), seg * 25 + step, 1000 + step)
            log.flush()
    whole = Catalog(log, path=str(tmp_path / "whole.duckdb"))
    expected = {v: _dump(whole.connect(), v) for v in VIEWS}
    whole.close()
    folds = []
    real = catalog.Catalog._fold

    def counting(self, control, metrics, **kw):
        folds.append(len(metrics))
        return real(self, control, metrics, **kw)

    monkeypatch.setattr(catalog, "FOLD_BATCH_ROWS", 60)
    monkeypatch.setattr(catalog.Catalog, "_fold", counting)
    batched = Catalog(log, path=str(tmp_path / "batched.duckdb"))
    assert {v: _dump(batched.connect(), v) for v in VIEWS} == expected
    assert folds == [3, 3, 3, 3]  # 12 files of 25 points: 3 files (75 points >= 60) a batch
    batched.close()


def test_an_exact_repeat_of_a_metric_point_is_folded_once(tmp_path) -> None:
    """Same run, key, step, timestamp and value (a client retrying a request whose answer was
    lost): one point, as MLflow's stores keep it — within a fold and across folds, from any writer.
    (The Parquet log keeps every event; the catalog's views show the point once.)"""
    log = EventLog.open(str(tmp_path))
    point = {"run_id": "r", "key": "m", "value": 0.5, "step": 3, "timestamp": 100}
    _publish(log, _stamp([("w0", RunStarted(run_id="r", experiment_id="0", run_name="n")),
                          ("w0", MetricLogged(**point)), ("w1", MetricLogged(**point)),
                          ("w1", MetricLogged(**{**point, "value": 0.7}))]), 0)
    catalog = Catalog(log)
    cur = catalog.connect()
    assert cur.sql("SELECT value FROM metrics ORDER BY value").fetchall() == [(0.5,), (0.7,)]
    later = [msgspec.structs.replace(MetricLogged(**point), writer_id="w2", writer_seq=0, ts=10**12, actor="u"),
             msgspec.structs.replace(MetricLogged(**{**point, "step": 4}), writer_id="w2", writer_seq=1, ts=10**12 + 1, actor="u")]
    _publish(log, later, 1)
    cur = catalog.connect()
    assert cur.sql("SELECT step, value FROM metrics ORDER BY step, value").fetchall() == [(3, 0.5), (3, 0.7), (4, 0.5)]
    assert cur.sql("SELECT count(*) FROM events WHERE kind = 'MetricLogged'").fetchall() == [(3,)]
    catalog.close()
    replay = Catalog(log, persistent=False)
    assert replay.connect().sql("SELECT step, value FROM metrics ORDER BY step, value").fetchall() == \
        [(3, 0.5), (3, 0.7), (4, 0.5)]


def test_runs_rebuilt_in_chunks_and_after_a_crash_are_the_same(tmp_path, monkeypatch) -> None:
    """A fold notes the runs it touched and rebuilds their rows after its batches — in chunks for
    many runs. A crash between the two leaves the note, and the next refresh finishes the job."""
    import projections.catalog as catalog

    events = _stamp([(WRITERS[i % 2], e) for i, e in enumerate(
        [RunStarted(run_id=f"r{i}", experiment_id="0", run_name=f"n{i}") for i in range(30)]
        + [ParamLogged(run_id=f"r{i}", key="p", value=str(i)) for i in range(30)]
        + [MetricLogged(run_id=f"r{i}", key="m", value=float(i), step=1, timestamp=1) for i in range(30)])])
    log = EventLog.open(str(tmp_path / "s"))
    _publish(log, events, 0)
    whole = Catalog(log, persistent=False)
    expected = _dump(whole.connect(), "runs")

    monkeypatch.setattr(catalog, "IN_LIST_LIMIT", 4)
    monkeypatch.setattr(catalog, "RUNS_PER_STATEMENT", 7)
    chunked = Catalog(log, path=str(tmp_path / "chunked.duckdb"))
    assert _dump(chunked.connect(), "runs") == expected
    chunked.close()

    def crash(self) -> None:
        raise KeyboardInterrupt("killed between the fold and the rebuild")

    monkeypatch.setattr(catalog.Catalog, "_rebuild_stale", crash)
    crashed = Catalog(log, path=str(tmp_path / "crashed.duckdb"))
    with pytest.raises(KeyboardInterrupt):
        crashed.refresh()
    crashed.close()
    monkeypatch.undo()
    again = Catalog(log, path=str(tmp_path / "crashed.duckdb"))
    assert again.refresh() == 0, "the events were folded before the crash"
    assert _dump(again.connect(), "runs") == expected
    assert again.con.execute("SELECT count(*) FROM _stale").fetchall() == [(0,)]


def test_events_that_rebuild_no_run_row_are_events_the_run_row_never_reads() -> None:
    """A kind in NOT_RUN_STALE folds without rebuilding its run's row, so the row's SQL must not read it
    (else the row would go stale until the next event of that run)."""
    from projections.views import NOT_RUN_STALE, RUNS

    read = set(re.findall(r"'([A-Z][A-Za-z]+)'", RUNS))
    assert {"RunStarted", "RunTagSet", "ParamLogged"} <= read  # the pattern finds the kinds RUNS reads
    assert read.isdisjoint(NOT_RUN_STALE), read & set(NOT_RUN_STALE)
