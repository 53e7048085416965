"""EventLog: append, flush, scan and read-your-writes, on every backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from eventlog import (
    CorruptFileError,
    CorruptFileWarning,
    EventLog,
    ExperimentCreated,
    InvalidInputError,
    MetricLogged,
    RunTagSet,
    WriterClosedError,
)


def _kinds(log: EventLog) -> list[str]:
    return [type(e).__name__ for e in log.scan()]


def test_scan_includes_unflushed_events_then_published_ones(store_uri: str) -> None:
    log = EventLog.open(store_uri, flush_interval=60)
    log.append(ExperimentCreated(experiment_id="1", name="a"))
    log.log_metric("r1", "loss", 0.5, 1, 10)
    assert log.files("control") == [] and log.files("metric") == []
    assert _kinds(log) == ["ExperimentCreated", "MetricLogged"]
    log.flush()
    assert len(log.files("control")) == 1 and len(log.files("metric")) == 1
    assert _kinds(log) == ["ExperimentCreated", "MetricLogged"]
    log.close()


def test_envelope_is_stamped_gapless_and_increasing(store_uri: str) -> None:
    log = EventLog.open(store_uri)
    stamped = [log.append(RunTagSet(run_id="r", key="k", value=str(i))) for i in range(5)]
    assert [e.writer_seq for e in stamped] == [0, 1, 2, 3, 4]
    assert all(a.ts < b.ts for a, b in zip(stamped, stamped[1:], strict=False))
    assert {e.writer_id for e in stamped} == {log.writer.writer_id}
    log.close()


def test_segment_names_are_writer_and_first_seq(store_uri: str) -> None:
    log = EventLog.open(store_uri)
    log.append(ExperimentCreated(experiment_id="1", name="a"))
    for i in range(3):
        log.log_metric("r", "k", float(i), i, 0)
    log.flush()
    wid = log.writer.writer_id
    assert log.files("control")[0].endswith(f"/{wid}-000000000000.parquet")
    assert log.files("metric")[0].endswith(f"/{wid}-000000000001.parquet")
    assert log.files("metric")[0].startswith("events/stream=metric/date=")
    log.close()


def test_another_reader_sees_events_after_the_flush(store_uri: str) -> None:
    writer = EventLog.open(store_uri, flush_interval=60)
    reader = EventLog.open(store_uri)
    writer.log_metric("r", "k", 1.0, 0, 0)
    assert list(reader.scan()) == []
    writer.flush()
    assert [e.value for e in reader.scan() if isinstance(e, MetricLogged)] == [1.0]
    writer.close()
    reader.close()


def test_background_flush_on_interval_and_on_size(tmp_path) -> None:
    log = EventLog.open(str(tmp_path / "a"), flush_interval=0.05)
    log.log_metric("r", "k", 1.0, 0, 0)
    deadline = time.monotonic() + 10
    while not log.files("metric") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.files("metric"), "the interval flush did not publish"
    log.close()

    log = EventLog.open(str(tmp_path / "b"), flush_interval=60, flush_events=10)
    for i in range(35):
        log.log_metric("r", "k", 1.0, i, 0)
    deadline = time.monotonic() + 10
    while not log.files("metric") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.files("metric"), "the size trigger did not publish before the 60 s interval"
    log.close()
    assert sum(isinstance(e, MetricLogged) for e in EventLog.open(str(tmp_path / "b")).scan()) == 35


def test_corrupt_and_foreign_files_are_reported_with_their_path(tmp_path) -> None:
    log = EventLog.open(str(tmp_path))
    log.log_metric("r", "k", 1.0, 0, 0)
    log.flush()
    bad = tmp_path / "events/stream=metric/date=2026-01-01/junk.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not parquet at all")
    (tmp_path / "events/stream=metric/date=2026-01-01/notes.txt").write_text("hello")
    with pytest.warns(CorruptFileWarning) as caught:
        events = list(log.scan("metric"))
    messages = sorted(str(w.message) for w in caught)
    assert "junk.parquet is not a readable Parquet segment" in messages[0]
    assert "notes.txt is not a tracklog segment (not .parquet)" in messages[1]
    assert [e.value for e in events] == [1.0]
    with pytest.raises(CorruptFileError, match="notes.txt is not a tracklog segment"):
        log.read("events/stream=metric/date=2026-01-01/notes.txt")
    log.close()


def _foreign(tmp_path, stream: str, name: str, table) -> str:
    """A valid Parquet file that is not a segment of `stream`, dropped into the store."""
    import pyarrow.parquet as pq

    folder = tmp_path / f"events/stream={stream}/date=2026-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return str(folder / name)


def test_foreign_parquet_files_are_skipped_by_scan_and_compaction(tmp_path) -> None:
    """Parquet that is not a segment (other columns, a wrong column type, an unknown kind) is
    skipped with a warning naming it; the valid events still read, and compaction leaves it live."""
    import pyarrow as pa

    from eventlog.compaction import compact, live_files

    log = EventLog.open(str(tmp_path))
    log.append(ExperimentCreated(experiment_id="1", name="a"))
    log.log_metric("r", "k", 1.0, 0, 0)
    log.flush()
    log.log_metric("r", "k", 2.0, 1, 0)
    log.flush()
    _foreign(tmp_path, "metric", "pandas-export.parquet", pa.table({"a": [1, 2], "b": ["x", "y"]}))
    _foreign(tmp_path, "control", "wrong-type.parquet", pa.table({"kind": ["RunStarted"], "ts": ["soon"],
                                                                  "writer_id": ["w"], "writer_seq": [0]}))
    _foreign(tmp_path, "control", "unknown-kind.parquet", pa.table({"kind": ["Nonsense"], "ts": [1],
                                                                    "writer_id": ["w"], "writer_seq": [0]}))
    with pytest.warns(CorruptFileWarning) as caught:
        events = list(log.scan())
    messages = " ".join(str(w.message) for w in caught)
    assert "pandas-export.parquet is not a tracklog metric segment: it has no column(s) run_id" in messages
    assert "wrong-type.parquet is not a tracklog control segment: column 'ts' is string, expected int64" in messages
    assert "unknown-kind.parquet: unknown event kind 'Nonsense'" in messages
    assert [type(e).__name__ for e in events] == ["ExperimentCreated", "MetricLogged", "MetricLogged"]
    with pytest.warns(CorruptFileWarning, match="compaction skips .*pandas-export.parquet"):
        report = compact(log.store, "metric")
    assert report.consumed == 2 and report.rows == 2
    assert any(p.endswith("pandas-export.parquet") for p in live_files(log.store, "metric"))
    log.close()


def test_append_after_close_is_refused(tmp_path) -> None:
    log = EventLog.open(str(tmp_path))
    log.close()
    with pytest.raises(WriterClosedError, match="closed"):
        log.log_metric("r", "k", 1.0, 0, 0)


def test_bad_options_are_refused(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="durability must be 'wal', 'fsync' or 'none', got 'fast'"):
        EventLog.open(str(tmp_path), durability="fast")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="flush_events must be >= 1"):
        EventLog.open(str(tmp_path), flush_events=0)


@pytest.mark.parametrize("durability", ["wal", "fsync", "none"])
def test_every_durability_mode_round_trips(tmp_path, durability: str) -> None:
    log = EventLog.open(str(tmp_path), durability=durability)  # type: ignore[arg-type]
    for i in range(50):
        log.log_metric("r", "k", float(i), i, 0)
    log.append(RunTagSet(run_id="r", key="k", value="v"))
    log.close()
    again = EventLog.open(str(tmp_path))
    assert sorted(e.step for e in again.scan("metric")) == list(range(50))
    wal_dir = tmp_path / "_wal"
    assert not wal_dir.exists() or not [f for f in os.listdir(wal_dir) if f.endswith(".wal")], "published WAL segments are removed"


_CHILD = textwrap.dedent("""
    import os, signal, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a launcher (CI) may pass SIGTERM down as ignored
    from eventlog import EventLog
    log = EventLog.open(sys.argv[1], durability="none", flush_interval=3600)
    for i in range(1000):
        log.log_metric("r", "k", float(i), i, 0)
    print("ready", flush=True)
    if sys.argv[2] == "term":
        time.sleep(60)
""")


@pytest.mark.parametrize("how", ["exit", "term"])
def test_buffer_is_flushed_at_exit_and_on_sigterm(tmp_path, how: str) -> None:
    """Without a WAL, exit and SIGTERM are the last chances: both must publish the buffer."""
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), how], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    if how == "term":
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=180)
    proc.stdout.close()
    if how == "term":
        assert proc.returncode == -signal.SIGTERM
    assert sum(1 for _ in EventLog.open(str(tmp_path)).scan("metric")) == 1000


def test_fork_mints_a_new_writer_and_the_parent_keeps_its_buffer(tmp_path) -> None:
    log = EventLog.open(str(tmp_path), flush_interval=3600)
    log.log_metric("parent", "k", 1.0, 0, 0)
    parent_id = log.writer.writer_id
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            assert log.writer.writer_id != parent_id
            log.log_metric("child", "k", 2.0, 0, 0)
            log.flush()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.flush()
    events = list(EventLog.open(str(tmp_path)).scan("metric"))
    assert sorted((e.run_id, e.writer_seq) for e in events) == [("child", 0), ("parent", 0)]
    assert len({e.writer_id for e in events}) == 2
    log.close()
