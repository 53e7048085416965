"""The writer: binary records in the batch's buffer, all-or-none appends, columns at flush,
and readers that fold this process's pending events once each."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import EventLog, MetricLogged, RunTagSet
from eventlog.codec import metric_schema, read_parquet
from eventlog.wal import read_records
from eventlog.writer import latest_rows

_keys = st.sampled_from(["loss", "acc", "lr", "a/b", "z"])
_runs = st.sampled_from(["r1", "r0", "r2"])
_point = st.tuples(_runs, _keys, st.floats(allow_nan=False), st.integers(-(2**40), 2**40), st.integers(0, 2**45))
# a call: one point (log_metric), one step of several keys (log_metrics) or a batch (log_batch)
_call = st.one_of(
    st.tuples(st.just("metric"), _point),
    st.tuples(st.just("step"), _runs, st.dictionaries(_keys, st.floats(allow_nan=False), min_size=1, max_size=5),
              st.integers(0, 1000), st.integers(0, 2**45)),
    st.tuples(st.just("batch"), _runs, st.lists(st.tuples(_keys, st.floats(allow_nan=False), st.integers(0, 1000),
                                                           st.integers(0, 2**45)), min_size=1, max_size=8)),
)


def _log(log: EventLog, call: tuple) -> list[tuple]:
    """Make one call; returns the (run, key, value, step, timestamp) points it logged."""
    if call[0] == "metric":
        run, key, value, step, timestamp = call[1]
        log.writer.log_metric(run, key, value, step, timestamp)
        return [call[1]]
    if call[0] == "step":
        _, run, values, step, timestamp = call
        log.writer.log_metrics(run, values, step, timestamp)
        return [(run, key, value, step, timestamp) for key, value in values.items()]
    _, run, points = call
    keys, values, steps, stamps = (list(c) for c in zip(*points, strict=True))
    log.writer.log_batch(run, keys, values, steps, stamps)
    return [(run, k, v, s, t) for k, v, s, t in points]


@settings(max_examples=40, deadline=None)
@given(st.lists(_call, min_size=1, max_size=12), st.sampled_from(["wal", "none"]))
def test_a_segment_holds_every_point_logged_sorted_by_run_key_step(tmp_path_factory, calls: list, durability: str) -> None:
    """Whatever mix of calls logged them, a flush publishes exactly those points, as plain typed columns."""
    log = EventLog.open(str(tmp_path_factory.mktemp("s")), durability=durability, flush_interval=3600)  # type: ignore[arg-type]
    logged = [point for call in calls for point in _log(log, call)]
    assert [(r[2], r[3], r[4], r[5], r[6]) for r in log.writer.pending()[0]] == [(r, k, v, s, t) for r, k, v, s, t in logged]
    log.flush()
    (path,) = log.files("metric")
    table = read_parquet(log.store.read_bytes(path), where=path)
    assert table.schema == metric_schema()
    rows = table.to_pylist()
    assert [(r["run_id"], r["key"], r["step"], r["writer_seq"]) for r in rows] == sorted(
        (r["run_id"], r["key"], r["step"], r["writer_seq"]) for r in rows)
    assert sorted((r["run_id"], r["key"], r["value"], r["step"], r["timestamp"]) for r in rows) == sorted(logged)
    assert sorted(r["writer_seq"] for r in rows) == list(range(len(logged)))
    assert {r["writer_id"] for r in rows} == {log.writer.writer_id}
    log.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(_point, min_size=1, max_size=40))
def test_latest_rows_agree_with_a_plain_fold(points: list) -> None:
    """The NumPy reduction keeps, per (run, key), the point a fold keeps: highest (step, timestamp, seq)."""
    import numpy as np

    names = sorted({p[0] for p in points} | {p[1] for p in points})
    index = {name: i for i, name in enumerate(names)}
    columns = {
        "seq": np.arange(len(points), dtype=np.int64), "ts": np.arange(len(points), dtype=np.int64),
        "run": np.array([index[p[0]] for p in points], dtype=np.uint32),
        "key": np.array([index[p[1]] for p in points], dtype=np.uint32),
        "value": np.array([p[2] for p in points]), "step": np.array([p[3] for p in points], dtype=np.int64),
        "timestamp": np.array([p[4] for p in points], dtype=np.int64),
    }
    expected: dict[tuple[str, str], tuple] = {}
    for seq, (run, key, value, step, timestamp) in enumerate(points):
        held = expected.get((run, key))
        if held is None or (step, timestamp, seq) > (held[3], held[4], held[5]):
            expected[(run, key)] = (run, key, value, step, timestamp, seq, "w")
    assert sorted(latest_rows(columns, names, "w")) == sorted(expected.values())


def test_a_call_that_fails_midway_records_nothing_and_leaves_no_gap(tmp_path) -> None:
    """log_metrics and log_batch are all or none: a bad point aborts the call, in memory and in the WAL."""
    log = EventLog.open(str(tmp_path), flush_interval=3600)
    log.log_metric("r", "k", 1.0, 0, 1)
    with pytest.raises(struct.error):
        log.writer.log_metrics("r", {"a": 1.0, "b": "not a number", "c": 3.0}, 1, 1)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="could not convert string to float"):
        log.writer.log_batch("r", ["a", "b"], [1.0, "x"], [2, 2], [1, 1])  # type: ignore[list-item]
    log.log_metric("r", "k", 2.0, 1, 1)
    _, records = read_records(log.writer._batch.records.path)
    assert [(r[0], r[3], r[4]) for r in records if isinstance(r, tuple)] == [(0, "k", 1.0), (1, "k", 2.0)]
    log.close()
    events = [e for e in EventLog.open(str(tmp_path)).scan("metric") if isinstance(e, MetricLogged)]
    assert sorted((e.writer_seq, e.value) for e in events) == [(0, 1.0), (1, 2.0)]


def test_pending_events_are_handed_out_once_from_a_cursor(tmp_path) -> None:
    """pending_control / pending_latest_metrics from the returned seq give only what is new and still pending."""
    log = EventLog.open(str(tmp_path), flush_interval=3600)
    writer = log.writer
    log.append(RunTagSet(run_id="r", key="t", value="0"))
    for step in range(5):
        writer.log_metrics("r", {"a": float(step), "b": -float(step)}, step, 7)
    control, seq = writer.pending_control(0)
    assert [e.value for e in control] == ["0"] and seq == 11
    assert writer.pending_latest_metrics(0)[0] == [("r", "a", 4.0, 4, 7, 9, writer.writer_id),
                                                   ("r", "b", -4.0, 4, 7, 10, writer.writer_id)]
    log.flush()  # published: no longer pending, whatever the cursor
    log.append(RunTagSet(run_id="r", key="t", value="1"))
    writer.log_metrics("r", {"new-key": 1.0}, 9, 7)  # defines a string between records
    writer.log_metric("r", "a", 5.0, 10, 7)
    assert [e.value for e in writer.pending_control(seq)[0]] == ["1"]
    assert writer.pending_control(writer.pending_control(0)[1])[0] == []
    latest, after = writer.pending_latest_metrics(13)
    assert [(row[1], row[5]) for row in latest] == [("a", 13)] and after == 14
    assert writer.pending_latest_metrics(after)[0] == []
    log.close()


def test_publish_soon_publishes_before_the_interval_without_waiting(tmp_path) -> None:
    """publish_soon returns at once; the flusher publishes by the deadline, long before its interval."""
    log = EventLog.open(str(tmp_path), flush_interval=3600)
    log.append(RunTagSet(run_id="r", key="t", value="v"))
    log.writer.publish_soon(0.05)
    assert log.files("control") == []  # the caller does not wait for the flush
    deadline = time.monotonic() + 30  # a liveness bound: the request is for 0.05 s
    while not log.files("control") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(log.files("control")) == 1
    log.close()


def test_pending_metrics_from_any_seq_across_many_spans(tmp_path) -> None:
    """Control events and new keys split the buffer into spans of records; every cursor finds its place."""
    log = EventLog.open(str(tmp_path), flush_interval=3600)
    points = []  # (seq, key, step)
    for i in range(30):
        log.append(RunTagSet(run_id="r", key="t", value=str(i)))
        key = f"k{i % 4}" if i % 7 else f"new{i}"
        log.log_metric("r", key, float(i), i, 1)
        points.append((2 * i + 1, key, i))
    for since in range(0, 62):
        expected = {}
        for seq, key, step in points:
            if seq >= since:
                expected[key] = (key, step, seq)
        latest, next_seq = log.writer.pending_latest_metrics(since)
        assert sorted((row[1], row[3], row[5]) for row in latest) == sorted(expected.values()) and next_seq == 60
    log.close()
