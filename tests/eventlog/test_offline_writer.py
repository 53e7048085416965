"""The writer with a store that stops answering: events wait in the WAL, bounded, and are
published exactly once when it answers again (end to end with a real S3 server:
tests/tracklog/test_offline_store.py)."""

from __future__ import annotations

import collections
import logging
import threading
import time

import pytest

from eventlog import EventLog, StorageError
from eventlog.events import RunStarted
from eventlog.storage import LocalStore
from eventlog.writer import Writer


class FlakyStore(LocalStore):
    """A real local store that can be taken down (connections refused), or made to store a
    segment and then lose the answer (a timeout after the write landed)."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.down = False
        self.lose_answers = 0
        self.publishes = 0

    def publish(self, relpath: str, data: bytes, *, durable: bool = False) -> bool:
        self.publishes += 1
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        created = super().publish(relpath, data, durable=durable)
        if self.lose_answers:
            self.lose_answers -= 1
            raise TimeoutError("the answer was lost")
        return created


@pytest.fixture
def store(tmp_path) -> FlakyStore:
    return FlakyStore(str(tmp_path / "store"))


def open_log(store: FlakyStore, tmp_path, **options) -> EventLog:
    return EventLog(store, Writer(store, str(tmp_path / "wal"), actor="tester", flush_interval=0.05, **options))


def published(log: EventLog) -> collections.Counter:
    """(writer_id, writer_seq) of every published event, with how often it is there."""
    return collections.Counter((e.writer_id, e.writer_seq) for e in log.scan(include_pending=False))


def test_a_retry_of_a_segment_that_landed_adds_nothing(store, tmp_path) -> None:
    """A publish whose segment landed but whose answer was lost is retried under the same
    names: put-if-absent makes the retry a no-op, so every event is there once."""
    log = open_log(store, tmp_path)
    log.append(RunStarted(run_id="r", experiment_id="0", run_name="a"))
    for i in range(10):
        log.log_metric("r", "loss", float(i), i, None)
    store.lose_answers = 1
    with pytest.raises(StorageError, match="could not publish a segment to .*TimeoutError: the answer was lost"):
        log.flush()
    assert log.writer.offline
    log.flush()
    assert not log.writer.offline
    counts = published(log)
    assert len(counts) == 11 and set(counts.values()) == {1}
    log.close()


def test_events_wait_in_the_wal_not_in_memory_and_publish_once_when_the_store_returns(store, tmp_path) -> None:
    """While the store is down, batches taken by size stay in their WAL files (no in-memory copy
    of their points is kept); once it answers, each is published once and its WAL file goes."""
    log = open_log(store, tmp_path, flush_events=100)
    log.append(RunStarted(run_id="r", experiment_id="0", run_name="a"))
    log.flush()  # the store answered once: the flusher runs and the encoder's imports are done
    store.down = True
    for i in range(1000):
        log.log_metric("r", "loss", float(i), i, None)
    assert not log.writer.drain(0.3)  # the store does not answer: the wait runs out
    assert log.writer.offline and log.writer.pending_count() == 1000
    deadline = time.monotonic() + 30  # the flusher takes what is due on its own thread, in its own time
    while not log.writer._inflight and time.monotonic() < deadline:
        time.sleep(0.02)
    batches = list(log.writer._inflight)
    assert batches and all(b._sealed is None and b.records is not None for b in batches)
    store.down = False
    assert log.writer.drain(60)
    counts = published(log)
    assert len(counts) == 1001 and set(counts.values()) == {1}
    assert not log.writer.offline and [f for f in (tmp_path / "wal").iterdir()] == []
    log.close()


def test_the_wal_limit_warns_then_holds_appends_until_the_store_takes_events(store, tmp_path, caplog) -> None:
    """Past 80% of the WAL limit a warning says so; at the limit appends wait (nothing is
    dropped) until the store answers, then every event is published once."""
    log = open_log(store, tmp_path, flush_events=50, wal_limit=20_000)
    store.down = True
    done = threading.Event()

    def train() -> None:
        for i in range(2000):
            log.log_metric("r", "loss", float(i), i, None)
        done.set()

    with caplog.at_level(logging.WARNING, logger="tracklog.writer"):
        thread = threading.Thread(target=train, daemon=True)
        thread.start()
        for _ in range(600):
            if log.writer._full_warned:
                break
            thread.join(0.1)
        assert log.writer._full_warned and not done.is_set()  # held at the limit, not dropping
        assert log.writer.wal_bytes() < 2 * 20_000
        store.down = False
        assert log.writer.drain(60)
        thread.join(60)
        assert done.is_set()
    messages = [r.getMessage() for r in caplog.records]
    assert any("of the local WAL limit" in m and "TRACKLOG_WAL_LIMIT" in m for m in messages)
    assert any("is full" in m and "none are dropped" in m for m in messages)
    assert log.writer.drain(60)
    counts = published(log)
    assert len(counts) == 2000 and set(counts.values()) == {1}
    log.close()


def test_a_wait_that_runs_out_says_what_waits_where_once(store, tmp_path, caplog) -> None:
    """`wait_or_warn` (end_run, exit) gives up after `publish_wait` with one line: how many
    events wait, where, and how to publish them; asked again with nothing new, it says no more."""
    log = open_log(store, tmp_path, publish_wait=0.2)
    store.down = True
    for i in range(5):
        log.log_metric("r", "loss", float(i), i, None)
    with caplog.at_level(logging.WARNING, logger="tracklog.writer"):
        assert not log.writer.wait_or_warn()
        assert not log.writer.wait_or_warn()
    lines = [r.getMessage() for r in caplog.records if "did not take" in r.getMessage()]
    assert lines == [
        f"tracklog: {store.uri} did not take 5 event(s) within 0.2 s (TRACKLOG_PUBLISH_WAIT); they wait in the "
        f"local WAL at {tmp_path / 'wal'} and the next process that opens the store publishes them, or run: "
        f"tracklog sync {store.uri} (last error: ConnectionRefusedError: [Errno 111] Connection refused)"
    ]
    store.down = False
    assert log.writer.drain(60)
    log.close()
