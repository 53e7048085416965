"""Compaction merges segments without losing, duplicating or hiding an event, even mid-flight."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections import Counter

import msgspec
import pytest

from eventlog import EventLog, InvalidValueError, RunTagSet
from eventlog.compaction import (
    Commit,
    compact,
    live_files,
    parse_duration,
    read_commits,
    remove_expired,
)
from projections.catalog import Catalog


def _ids(log: EventLog) -> Counter:
    return Counter((e.writer_id, e.writer_seq) for e in log.scan(include_pending=False))


def _fill(log: EventLog, segments: int, per: int = 50) -> None:
    for s in range(segments):
        for i in range(per):
            log.log_metric(f"run{s % 3}", "loss", float(i), s * per + i, 0)
        log.append(RunTagSet(run_id=f"run{s % 3}", key="k", value=str(s)))
        log.flush()


def test_compaction_keeps_every_event_once(store_uri: str) -> None:
    log = EventLog.open(store_uri)
    _fill(log, 6)
    before = _ids(log)
    report = compact(log.store, "metric")
    compact(log.store, "control")
    assert report.commit == 0 and report.consumed == 6 and report.produced == 1 and report.rows == 300
    assert _ids(log) == before and max(before.values()) == 1
    assert live_files(log.store, "metric") == ["compacted/stream=metric/date=" + log.files("metric")[0].split("date=")[1]]
    assert all(p.startswith("compacted/") for p in log.files("control"))
    remove_expired(log.store, "metric", retention=0)
    assert _ids(log) == before
    assert log.store.list_files("events/stream=metric") == []
    log.close()


def test_outputs_are_sorted_by_run_key_step(tmp_path) -> None:
    log = EventLog.open(str(tmp_path))
    _fill(log, 4)
    compact(log.store, "metric")
    table = log.read(log.files("metric")[0])
    rows = list(zip(table["run_id"].to_pylist(), table["key"].to_pylist(), table["step"].to_pylist(), strict=True))
    assert rows == sorted(rows)


def test_a_large_day_is_sorted_in_bounded_groups(tmp_path, monkeypatch) -> None:
    """Memory stays bounded: segments are sorted together only up to GROUP_ROWS rows at a time."""
    import eventlog.compaction as compaction

    monkeypatch.setattr(compaction, "GROUP_ROWS", 120)
    log = EventLog.open(str(tmp_path))
    _fill(log, 6)  # 6 segments x 50 rows: groups of 150, 150
    before = _ids(log)
    report = compact(log.store, "metric")
    assert report.produced == 2 and report.rows == 300
    assert _ids(log) == before and max(before.values()) == 1
    for path in log.files("metric"):
        table = log.read(path)
        rows = list(zip(table["run_id"].to_pylist(), table["key"].to_pylist(), table["step"].to_pylist(), strict=True))
        assert rows == sorted(rows) and len(rows) == 150
    log.close()


def test_retention_keeps_consumed_files_for_readers_that_listed_them(tmp_path) -> None:
    log = EventLog.open(str(tmp_path))
    _fill(log, 3)
    compact(log.store, "metric")
    assert remove_expired(log.store, "metric", retention=3600) == 0
    assert len(log.store.list_files("events/stream=metric")) == 3
    assert remove_expired(log.store, "metric", retention=3600, now=time.time() + 7200) == 3


def test_a_compactor_that_loses_the_race_for_its_inputs_gives_up_cleanly(tmp_path) -> None:
    log = EventLog.open(str(tmp_path))
    _fill(log, 3)
    inputs = live_files(log.store, "metric")
    rival = Commit(number=0, consumed=inputs, produced=[], ts=time.time(), compactor="rival")
    log.store.publish("_commits/stream=metric/00000000.json", msgspec.json.encode(rival))
    report = compact(log.store, "metric", min_files=1)
    assert report.commit is None
    assert [c.compactor for c in read_commits(log.store, "metric")] == ["rival"]
    assert log.store.list_files("compacted/stream=metric") == [], "the loser removed its outputs"


def test_a_compactor_that_loses_only_the_number_retries_under_the_next(tmp_path, monkeypatch) -> None:
    """A rival commits number 0 (consuming nothing of ours) after we chose 0: we commit as 1."""
    import eventlog.compaction as compaction

    log = EventLog.open(str(tmp_path))
    _fill(log, 3)
    before = _ids(log)
    real_read_commits = compaction.read_commits
    calls = []

    def rival_commits_after_our_first_read(store, stream):
        calls.append(stream)
        if len(calls) == 1:  # our first look: no commits yet, so we pick number 0 …
            rival = Commit(number=0, consumed=[], produced=[], ts=time.time(), compactor="rival")
            store.publish(f"_commits/stream={stream}/00000000.json", msgspec.json.encode(rival))
            return []  # … and the rival takes it right after
        return real_read_commits(store, stream)

    monkeypatch.setattr(compaction, "read_commits", rival_commits_after_our_first_read)
    report = compact(log.store, "metric")
    monkeypatch.undo()
    assert report.commit == 1
    assert [c.compactor for c in read_commits(log.store, "metric")][0] == "rival"
    assert _ids(log) == before


def test_the_catalog_skips_outputs_whose_inputs_it_folded(tmp_path) -> None:
    log = EventLog.open(str(tmp_path))
    _fill(log, 4)
    catalog = Catalog(log)
    before = catalog.connect().execute("SELECT count(*), sum(value) FROM metrics").fetchall()
    compact(log.store, "metric")
    compact(log.store, "control")
    assert catalog.connect().execute("SELECT count(*), sum(value) FROM metrics").fetchall() == before
    assert Catalog(log, persistent=False).connect().execute("SELECT count(*), sum(value) FROM metrics").fetchall() == before


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "15m", "1h", "2d", "0.5h")] == [90, 90, 900, 3600, 172800, 1800]
    with pytest.raises(InvalidValueError, match="a duration is a number with an optional unit"):
        parse_duration("soon")


_WRITER = textwrap.dedent("""
    import sys
    from eventlog import EventLog
    log = EventLog.open(sys.argv[1], flush_interval=0.02)
    for i in range(int(sys.argv[2])):
        log.log_metric("run", "k", float(i), i, 0)
        if i % 200 == 0:
            log.flush()
    log.close()
""")
_COMPACTOR = textwrap.dedent("""
    import sys, time
    from eventlog import EventLog
    from eventlog.compaction import compact, remove_expired
    log = EventLog.open(sys.argv[1])
    deadline = time.time() + float(sys.argv[2])
    while time.time() < deadline:
        for stream in ("metric", "control"):
            compact(log.store, stream)
            remove_expired(log.store, stream, retention=3.0)
        time.sleep(0.05)
""")
_READER = textwrap.dedent("""
    import sys, time, json
    from collections import Counter
    from eventlog import EventLog
    log = EventLog.open(sys.argv[1])
    deadline = time.time() + float(sys.argv[2])
    seen, scans = set(), 0
    while time.time() < deadline:
        ids = Counter((e.writer_id, e.writer_seq) for e in log.scan("metric", include_pending=False))
        assert max(ids.values(), default=1) == 1, "an event was seen twice in one scan"
        now = set(ids)
        assert seen <= now, f"{len(seen - now)} events vanished between scans"
        seen, scans = now, scans + 1
    print(json.dumps({"scans": scans, "seen": len(seen)}))
""")


@pytest.mark.slow
def test_readers_see_each_event_exactly_once_while_writers_and_two_compactors_run(tmp_path) -> None:
    _exactly_once_under_load(str(tmp_path / "store"), points=20_000, seconds=25)


def test_exactly_once_under_load_short(tmp_path) -> None:
    """The same as the slow test, briefer: two writers, two compactors and two readers at once."""
    _exactly_once_under_load(str(tmp_path / "store"), points=4_000, seconds=8)


def _exactly_once_under_load(uri: str, points: int, seconds: float) -> None:
    EventLog.open(uri).close()
    py = sys.executable
    writers = [subprocess.Popen([py, "-c", _WRITER, uri, str(points)]) for _ in range(2)]
    compactors = [subprocess.Popen([py, "-c", _COMPACTOR, uri, str(seconds)]) for _ in range(2)]
    readers = [subprocess.Popen([py, "-c", _READER, uri, str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for p in writers + compactors:
        assert p.wait(timeout=300) == 0
    for p in readers:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        assert msgspec.json.decode(out)["scans"] >= 2, "a reader must compare at least two scans"
    log = EventLog.open(uri)
    ids = _ids(log)
    assert max(ids.values()) == 1
    assert sum(1 for e in log.scan("metric", include_pending=False)) == 2 * points
    assert len(read_commits(log.store, "metric")) >= 1, "the compactors never committed"
