"""The buffered writer: append in memory (and the WAL), publish segments in the background.

A `Writer` stamps each event with the envelope — ``writer_id`` (uuid7 per writer), a gapless
``writer_seq`` and a strictly increasing ``ts`` — and returns. A metric point becomes one
fixed-size binary record in the open batch's `RecordBuffer` (the WAL segment, or memory with
durability ``none``): no Python object is kept per point, and a call with many points
(`log_metrics`, `log_batch`) takes the lock once. Control events are kept as structs (and
written to the WAL). A daemon thread publishes the batch as one Parquet segment per stream,
turning the records into Arrow columns through NumPy, when it reaches `flush_events`, every
`flush_interval` seconds, and on `flush()`, interpreter exit and SIGTERM. After ``fork`` the
child re-mints a fresh writer.

A batch and its WAL segment hold exactly the same events, and segment names depend only on
those events (``<writer_id>-<first_seq>``), so a batch republished from a dead writer's WAL
lands under the names the writer would have used: exactly once, whoever gets there first.

An unreachable store does not slow logging down: a publish that fails leaves its batch in the
WAL and the writer *offline*; appends go on, the flusher retries with backoff (the batches
keep their names, so a retry of a batch that did land is a no-op) and publishes everything
once the store answers. What waits is bounded by `wal_limit` bytes: a warning at 80%, and at
the limit appends wait for the store (nothing is dropped). `drain` waits a bounded time for
the store; at exit, what is left stays in the WAL for the next process that opens the store
(`recover_wal`) or ``tracklog sync URI``, and one warning line says so.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from eventlog.codec import WRITER_ID, control_table, metric_table_from_columns, write_parquet
from eventlog.errors import (
    InvalidInputError,
    InvalidValueError,
    StorageError,
    TracklogError,
    UnsupportedStoreError,
    WriterClosedError,
)
from eventlog.events import AnyEvent, Event, MetricLogged
from eventlog.storage import FsspecStore, Store
from eventlog.wal import (
    RecordBuffer,
    WalSegment,
    claim_orphans,
    now_ms_ns,
    read_records,
    record_dtype,
)

__all__ = ["ACTOR", "Batch", "Durability", "Writer", "segment_path", "segment_writer", "uuid7"]

Durability = Literal["wal", "fsync", "none"]
# Who control events appended in this context are recorded for, if not the writer's own actor:
# the tracking server sets it per request to the authenticated user.
ACTOR: ContextVar[str] = ContextVar("tracklog_actor", default="")
_encode = msgspec.msgpack.Encoder().encode
if TYPE_CHECKING:
    import pyarrow as pa

Columns = dict[str, Any]  # metric points as NumPy columns: see RecordBuffer.metric_columns
_live_writers: weakref.WeakSet[Writer] = weakref.WeakSet()
_FILL_WARNING = 0.8  # warn once the waiting events take this share of the WAL limit
_MAX_BACKOFF = 30.0  # s between retries of an unreachable store, at most
_DRAIN_RETRY = 0.5  # s between retries while someone waits for the store (end_run, exit)


def _warn(message: str, *args: Any) -> None:
    import logging

    logging.getLogger("tracklog.writer").warning(message, *args)


def uuid7() -> str:
    from uuid_utils import uuid7 as _uuid7

    return str(_uuid7())


def segment_path(stream: str, writer_id: str, first_seq: int, ts: int) -> str:
    """The deterministic name of one flush of one writer.

    Raises:
        InvalidValueError: a writer id that is not a plain name, or a negative sequence number:
            it would name a file elsewhere (a copied segment's writer id is read from its rows).
    """
    if not WRITER_ID.fullmatch(writer_id) or first_seq < 0:
        raise InvalidValueError(f"no segment name for writer id {writer_id[:80]!r} at seq {first_seq}: expected a "
                                "plain name (letters, digits, '_', '.', '-') and a seq >= 0")
    day = time.strftime("%Y-%m-%d", time.gmtime(ts // 1_000_000_000))
    return f"events/stream={stream}/date={day}/{writer_id}-{first_seq:012d}.parquet"


def segment_writer(path: str) -> str:
    """The writer id in a segment's name (`segment_path`'s ``…/<writer_id>-<first seq>.parquet``)."""
    return path.rsplit("/", 1)[-1].rsplit("-", 1)[0]


class Batch:
    """Events taken from the buffer for one flush: metric points as binary records in a
    `RecordBuffer` (the WAL segment, or memory), control events as stamped structs.

    Once a batch takes no more appends it is sealed: its metric records are copied out as NumPy
    columns, which outlive the buffer (readers fold a published batch from memory).
    """

    __slots__ = ("_rows", "_sealed", "actor", "control", "first_seq", "records", "writer_id")

    def __init__(self, writer_id: str, actor: str, first_seq: int, records: RecordBuffer | None = None) -> None:
        self.writer_id = writer_id
        self.actor = actor
        self.first_seq = first_seq
        self.records = records
        self.control: list[Event] = []
        self._rows: list[tuple[Any, ...]] | None = None  # given rows, or the sealed columns decoded
        self._sealed: tuple[Columns, list[str]] | None = None  # (columns, names)

    def __len__(self) -> int:
        return self.metric_count() + len(self.control)

    def metric_count(self) -> int:
        if self._rows is not None:
            return len(self._rows)
        if self._sealed is not None:
            return len(self._sealed[0]["seq"])
        return 0 if self.records is None else self.records.metric_count()

    def seal(self) -> None:
        """No more appends: copy the metric records out of the buffer, which may then go."""
        if self._sealed is None and self.records is not None:
            self._sealed = (self.records.metric_columns(), list(self.records.names))

    def metric_columns(self) -> tuple[Columns, list[str]]:
        """The metric points as NumPy columns (see `RecordBuffer.metric_columns`) and the names
        their ``run``/``key`` fields index."""
        sealed = self._sealed  # read once: a failed publish unseals (see Writer._publish)
        if sealed is not None:
            return sealed
        if self.records is not None:
            return self.records.metric_columns(), list(self.records.names)
        buffer = RecordBuffer()  # rows given as tuples (EventLog.pending)
        for row in self._rows or ():
            buffer.append_metric(*row)
        return buffer.metric_columns(), buffer.names

    @property
    def metrics(self) -> list[tuple[Any, ...]]:
        """``(seq, ts, run_id, key, value, step, timestamp)`` of each point, in append order."""
        if self._rows is not None:
            return self._rows
        rows = metric_rows(*self.metric_columns())
        if self._sealed is not None:
            self._rows = rows
        return rows

    @metrics.setter
    def metrics(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = list(rows)

    def metric_events(self) -> list[MetricLogged]:
        return [
            MetricLogged(writer_id=self.writer_id, writer_seq=s, ts=t, actor=self.actor,
                         run_id=r, key=k, value=v, step=st, timestamp=tm)
            for s, t, r, k, v, st, tm in self.metrics
        ]

    def latest_metric_rows(self) -> list[tuple[Any, ...]]:
        """The latest point of each (run, key) — highest (step, timestamp, seq) — as
        ``(run_id, key, value, step, timestamp, writer_seq, writer_id)``: what a fold of the
        latest values needs from this batch, without a Python object per point."""
        return latest_rows(*self.metric_columns(), self.writer_id)

    def metric_table(self) -> pa.Table:
        """The metric points as the Arrow table of their segment (sorted as a segment is)."""
        columns, names = self.metric_columns()
        return metric_table_from_columns(columns, names, self.writer_id, self.actor)

    def segments(self) -> list[tuple[str, str]]:
        """``(stream, path)`` of each segment this batch is published as: names that depend
        only on its events, so every publish of it (a retry, a recovery) lands on them."""
        out = []
        if self.control:
            out.append(("control", segment_path("control", self.writer_id, self.control[0].writer_seq,
                                                self.control[0].ts)))
        if self.metric_count():
            columns, _ = self.metric_columns()
            out.append(("metric", segment_path("metric", self.writer_id, int(columns["seq"][0]), int(columns["ts"][0]))))
        return out

    def publish(self, store: Store, *, durable: bool) -> list[tuple[str, str]]:
        """Write this batch's segments; a segment already there (a retry) counts as done.

        Returns ``(stream, path)`` of each segment.
        """
        out = self.segments()
        for stream, path in out:
            table = control_table(self.control) if stream == "control" else self.metric_table()
            store.publish(path, write_parquet(table), durable=durable)
        return out


def metric_rows(columns: Columns, names: list[str]) -> list[tuple[Any, ...]]:
    """Metric columns as ``(seq, ts, run_id, key, value, step, timestamp)`` tuples."""
    name = names.__getitem__
    return list(zip(columns["seq"].tolist(), columns["ts"].tolist(), map(name, columns["run"].tolist()),
                    map(name, columns["key"].tolist()), columns["value"].tolist(), columns["step"].tolist(),
                    columns["timestamp"].tolist(), strict=True))


def latest_rows(columns: Columns, names: list[str], writer_id: str) -> list[tuple[Any, ...]]:
    """The point with the highest (step, timestamp, seq) per (run, key), as fold rows."""
    import numpy as np

    if not len(columns["seq"]):
        return []
    group = (columns["run"].astype(np.int64) << 32) | columns["key"]
    order = np.lexsort((columns["seq"], columns["timestamp"], columns["step"], group))
    group = group[order]
    last = np.ones(len(order), dtype=bool)  # the last row of each (run, key) group
    last[:-1] = group[1:] != group[:-1]
    heads = order[last]
    name = names.__getitem__
    return list(zip(map(name, columns["run"][heads].tolist()), map(name, columns["key"][heads].tolist()),
                    columns["value"][heads].tolist(), columns["step"][heads].tolist(),
                    columns["timestamp"][heads].tolist(), columns["seq"][heads].tolist(),
                    [writer_id] * len(heads), strict=True))


class Writer:
    """One process's appender to one store. Thread-safe; re-minted after fork."""

    def __init__(
        self,
        store: Store,
        wal_dir: str,
        *,
        actor: str,
        durability: Durability = "wal",
        flush_events: int = 100_000,
        flush_interval: float = 3.0,
        wal_limit: int | None = None,
        publish_wait: float = 5.0,
        id_prefix: str = "",
    ) -> None:
        if durability not in ("wal", "fsync", "none"):
            raise InvalidInputError(f"durability must be 'wal', 'fsync' or 'none', got {durability!r}")
        if (wal_limit is not None and wal_limit <= 0) or publish_wait < 0:
            raise InvalidInputError(f"wal_limit must be > 0 (or None) and publish_wait >= 0, got {wal_limit!r} "
                                    f"and {publish_wait!r}")
        self.store = store
        self.wal_limit = wal_limit  # bytes of events waiting to be published, at most (None: no bound)
        self.publish_wait = publish_wait  # s that end_run (store offline) and exit wait for the store
        self._room_at = int(_FILL_WARNING * wal_limit) if wal_limit is not None else 1 << 62  # see _check_room
        self.wal_dir = wal_dir
        self.actor = actor
        self.durability = durability
        self.flush_events = flush_events
        self.flush_interval = flush_interval
        # before each minted writer id: a namespace the store assigns (a tracking server's, per user)
        self.id_prefix = id_prefix
        self._use_wal = durability != "none"
        self._fsync = durability == "fsync"
        # called with (stream, path, batch) after each segment this writer publishes, so readers
        # in this process can fold it from memory instead of reading it back
        self.on_publish: list[Callable[[str, str, Batch], None]] = []
        self._mint()
        _live_writers.add(self)

    # ---- identity and state ----------------------------------------------------------

    def _mint(self) -> None:
        self.writer_id = self.id_prefix + uuid7()
        self._seq = 0
        self._last_ts = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._full = False  # the size trigger fired: publish now
        self._soon_at: float | None = None  # publish by then (monotonic), see publish_soon
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._inflight: list[Batch] = []
        self._closed = False
        self._batch = Batch(self.writer_id, self.actor, 0)
        self._buffer: RecordBuffer | None = None  # the current batch's records, opened at its first event
        self._failures = 0  # publishes failed in a row: the store is offline while > 0
        self._stalled = False  # a bounded wait for a publish ran out: treat the store as offline
        self._offline_since: float | None = None  # time.time() of the first failure of this outage
        self._last_error = ""
        self._retry_at = 0.0  # monotonic time of the next attempt while offline
        self._draining_until = 0.0  # someone waits for the store until then: retry often
        self._acked = 0  # every event below this writer_seq is published (and its hooks ran)
        self._published_count = 0  # successful flushes: tells whether an outage ended meanwhile
        self._done = threading.Condition()  # notified after each flush attempt
        self._inflight_bytes = 0  # bytes of the taken, unpublished batches' records
        self._fill_warned = False
        self._full_warned = False
        self._orphans_waiting = False  # dead writers' WALs to republish before our own batches
        self._gave_up: tuple[int, int] | None = None  # (next seq, flushes) when a drain last ran out

    def _after_fork_in_child(self) -> None:
        """The parent keeps its own buffer and WAL; the child starts clean."""
        for batch in [*self._inflight, self._batch]:
            if batch.records is not None:
                batch.records.close()
        self._mint()

    # ---- the hot path -----------------------------------------------------------------

    def log_metric(self, run_id: str, key: str, value: float, step: int, timestamp: int | None) -> None:
        """Append one metric point (already validated). The fast path of tracklog.

        A `timestamp` of None means the event's own time, in ms.
        """
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise WriterClosedError("this event log is closed; open it again to append")
            buffer = self._buffer or self._open_buffer()
            end = buffer.log_metric(run_id, key, value, step, timestamp)
            full = end >= buffer.full_at
            if full:
                self._full = True
                self._wake.set()
        finally:
            lock.release()
        if self._thread is None:
            self._start()
        if self._fsync:
            buffer.sync(end)
        if full and self._inflight_bytes + end >= self._room_at:
            self._check_room(end)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int, timestamp: int | None) -> None:
        """Append several points (key: float value) of one run at one step and timestamp (None:
        now), all or none (already validated)."""
        if not metrics:
            return
        with self._lock:
            if self._closed:
                raise WriterClosedError("this event log is closed; open it again to append")
            buffer = self._buffer or self._open_buffer()
            end = buffer.log_step(run_id, metrics, step, timestamp)
            full = end >= buffer.full_at
            if full:
                self._full = True
                self._wake.set()
        if self._thread is None:
            self._start()
        if self._fsync:
            buffer.sync(end)
        if full and self._inflight_bytes + end >= self._room_at:
            self._check_room(end)

    def log_batch(self, run_id: str, keys: Sequence[str], values: Sequence[float], steps: Sequence[int],
                  timestamps: Sequence[int]) -> None:
        """Append points of one run given as columns, all or none (already validated)."""
        if not keys:
            return
        with self._lock:
            if self._closed:
                raise WriterClosedError("this event log is closed; open it again to append")
            buffer = self._buffer or self._open_buffer()
            end = buffer.log_columns(run_id, keys, values, steps, timestamps)
            full = end >= buffer.full_at
            if full:
                self._full = True
                self._wake.set()
        if self._thread is None:
            self._start()
        if self._fsync:
            buffer.sync(end)
        if full and self._inflight_bytes + end >= self._room_at:
            self._check_room(end)

    def append(self, event: Event) -> Event:
        """Stamp `event` with the envelope, record it and return the stamped event."""
        if isinstance(event, MetricLogged):
            self.log_metric(event.run_id, event.key, event.value, event.step, event.timestamp)
            return event
        end = 0
        with self._lock:
            if self._closed:
                raise WriterClosedError("this event log is closed; open it again to append")
            buffer = self._buffer or self._open_buffer()
            seq, ts = buffer.seq, max(now_ms_ns(), buffer.last_ts + 1)
            stamped = msgspec.structs.replace(event, writer_id=self.writer_id, writer_seq=seq, ts=ts,
                                              actor=ACTOR.get() or self.actor)
            if self._use_wal:  # without a WAL, the batch's list is the only copy
                end = buffer.append_event(_encode(stamped))
            self._batch.control.append(stamped)
            buffer.seq, buffer.last_ts = seq + 1, ts
            full = buffer.nbytes >= buffer.full_at
            if full:
                self._full = True
                self._wake.set()
        if self._thread is None:
            self._start()
        if self._fsync:
            buffer.sync(end)
        if full and self._inflight_bytes + buffer.nbytes >= self._room_at:
            self._check_room(buffer.nbytes)
        return stamped

    def _open_buffer(self) -> RecordBuffer:
        """The current batch's buffer, at its first event: it takes over the envelope counters."""
        batch = self._batch
        if self._use_wal:
            header = {"writer_id": self.writer_id, "actor": self.actor, "first_seq": batch.first_seq}
            buffer: RecordBuffer = WalSegment(self.wal_dir, self.writer_id, batch.first_seq, header, fsync=self._fsync,
                                              last_ts=self._last_ts, flush_events=self.flush_events)
        else:
            buffer = RecordBuffer(batch.first_seq, self._last_ts, self.flush_events)
        batch.records = self._buffer = buffer
        return buffer

    def _next_seq(self) -> int:
        return self._buffer.seq if self._buffer is not None else self._seq

    # ---- flushing ---------------------------------------------------------------------

    def _take(self) -> Batch | None:
        with self._lock:
            batch = self._batch
            if not len(batch):
                return None
            buffer = self._buffer
            if buffer is not None:  # the counters go back to the writer until the next batch opens
                self._seq, self._last_ts = buffer.seq, buffer.last_ts
                self._inflight_bytes += buffer.nbytes
            self._batch = Batch(self.writer_id, self.actor, self._seq)
            self._buffer = None
            self._inflight.append(batch)
            return batch

    def flush(self) -> None:
        """Publish everything appended so far; raises `StorageError` if the store refuses (the
        events stay in the WAL, and the writer is offline until a publish succeeds)."""
        with self._flush_lock:
            try:
                contacted = self._reach()
                self._take()
                for batch in list(self._inflight):
                    self._publish(batch)
                    contacted = True
            except Exception as exc:
                self._failed(exc)
                raise
            finally:
                with self._done:
                    self._done.notify_all()
            if contacted:
                self._succeeded()

    def _reach(self) -> bool:
        """Before publishing: run the store's self-test if it has not passed yet, republish dead
        writers' WALs that waited for the store, and while offline with nothing of our own to
        publish, probe it. True if the store answered one of these."""
        contacted = False
        store = self.store
        if isinstance(store, FsspecStore):
            if not store.verified:
                store.self_test()
                contacted = True
            elif self.offline and not self.has_pending():
                store.probe()
                contacted = True
        if self._orphans_waiting:  # the store did not answer when this writer opened
            contacted = recover_wal(store, self.wal_dir) > 0 or contacted
            self._orphans_waiting = False
        return contacted

    def _publish(self, batch: Batch) -> None:
        batch.seal()
        try:
            published = batch.publish(self.store, durable=self._fsync)
        except Exception as exc:
            if batch.records is not None:  # waiting for the store: keep the points in the WAL, not in memory
                batch._sealed = batch._rows = None
            if isinstance(exc, TracklogError):
                raise
            raise StorageError(f"could not publish a segment to {self.store.uri}: {type(exc).__name__}: {exc}") from exc
        with self._lock:
            self._inflight.remove(batch)
            if batch.records is not None:
                self._inflight_bytes -= batch.records.nbytes
        if batch.records is not None:
            batch.records.remove()
            batch.records = None
        for stream, path in published:
            for hook in self.on_publish:
                hook(stream, path, batch)
        self._acked = max(self._acked, batch.first_seq + len(batch))

    # ---- an unreachable store -----------------------------------------------------------

    @property
    def offline(self) -> bool:
        """Whether the store is taken as unreachable: the last publish failed, or a bounded
        wait for one ran out (until a publish succeeds)."""
        return self._failures > 0 or self._stalled

    def _failed(self, exc: BaseException) -> None:
        cause = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ is not None else exc
        self._last_error = f"{type(cause).__name__}: {cause}"
        self._failures += 1
        self._retry_at = time.monotonic() + min(_MAX_BACKOFF, 2.0 ** self._failures)
        if self._offline_since is None:
            self._offline_since = time.time()
            _warn("tracklog: cannot publish to %s (%s); logging goes on: events wait in the local WAL at %s and are "
                  "published when the store answers (retrying every %g s at most)",
                  self.store.uri, self._last_error, self.wal_dir, _MAX_BACKOFF)

    def unreachable(self, exc: BaseException) -> None:
        """The store failed a reader (a listing): take it as offline, as a failed publish does."""
        self._failed(exc)

    def _succeeded(self) -> None:
        if self._offline_since is not None:
            _warn("tracklog: %s answers again: the events that waited %.0f s are published",
                  self.store.uri, time.time() - self._offline_since)
        self._failures, self._stalled, self._offline_since = 0, False, None
        self._fill_warned = self._full_warned = False
        self._published_count += 1

    def _settled(self, target: int) -> bool:
        """Whether every event below writer_seq `target` is published (hooks included)."""
        return self._acked >= target or not self.has_pending()

    def drain(self, timeout: float) -> bool:
        """Have the flusher publish what was appended so far, waiting at most `timeout` seconds;
        True if it all got published. The store may be down: the caller never waits longer
        (the flusher does the publishing, so a store that hangs holds up only it)."""
        with self._lock:
            target = self._next_seq()
        if self._settled(target):
            return True
        deadline = time.monotonic() + timeout
        self._draining_until = deadline
        if self._thread is None or not self._thread.is_alive():
            threading.Thread(target=self._attempt, name="tracklog-drain", daemon=True).start()
        else:
            self._retry_at = 0.0
            self._wake.set()
        with self._done:
            while not self._settled(target):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._stalled = True
                    self._gave_up = (self._next_seq(), self._published_count)
                    return False
                self._done.wait(min(remaining, _DRAIN_RETRY))
        return True

    def _attempt(self) -> None:
        with contextlib.suppress(Exception):  # _failed recorded it
            self.flush()

    def poke(self) -> None:
        """While offline, have the store tried again at the backoff's pace even if this process
        appends nothing (its flusher, if running, does so already)."""
        if not self.offline or (self._thread is not None and self._thread.is_alive()):
            return
        if time.monotonic() >= self._retry_at and not self._flush_lock.locked():
            self._retry_at = time.monotonic() + min(_MAX_BACKOFF, 2.0 ** self._failures)  # one poke at a time
            threading.Thread(target=self._attempt, name="tracklog-retry", daemon=True).start()

    def contact(self, wait: float) -> None:
        """Check the store (the put-if-absent self-test) and republish dead writers' WALs,
        waiting at most `wait` seconds: a store that does not answer by then leaves this writer
        offline, and its flusher does both before it publishes.

        Raises:
            UnsupportedStoreError: the store overwrites on exclusive create.
        """
        self._orphans_waiting = True
        if not isinstance(self.store, FsspecStore):  # a local folder answers at once
            recover_wal(self.store, self.wal_dir)
            self._orphans_waiting = False
            return
        outcome: list[BaseException | None] = []
        done, late = threading.Event(), threading.Event()

        def check() -> None:
            try:
                with self._flush_lock:
                    self.store.self_test()  # type: ignore[attr-defined]  # an FsspecStore, see above
                    if self._orphans_waiting:
                        recover_wal(self.store, self.wal_dir)
                        self._orphans_waiting = False
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                outcome.append(exc)
            done.set()
            if late.is_set():  # the caller went on offline: record how it ended
                if outcome[0] is None:
                    self._succeeded()
                elif isinstance(outcome[0], Exception):
                    self._failed(outcome[0])

        threading.Thread(target=check, name="tracklog-contact", daemon=True).start()
        if not done.wait(wait):
            late.set()
            if not done.is_set():
                self._failed(TimeoutError(f"no answer within {wait:g} s"))
                return
        error = outcome[0]
        if isinstance(error, UnsupportedStoreError):
            raise error
        if error is not None:
            self._failed(error)

    def recover_before_publishing(self) -> None:
        """Republish dead writers' WALs before this writer's first publish, not now: the store
        may not answer now (a tracking server that went away)."""
        self._orphans_waiting = True

    def wal_bytes(self) -> int:
        """Bytes of this writer's unpublished events (its WAL segments, or memory)."""
        buffer = self._buffer
        return self._inflight_bytes + (buffer.nbytes if buffer is not None else 0)

    def _check_room(self, end: int) -> None:
        """A batch filled up: warn as unpublished events near `wal_limit`; at the limit, wait
        for the store to take some (appends block rather than drop events)."""
        limit = self.wal_limit
        if limit is None:
            return
        used = self._inflight_bytes + end
        if used >= _FILL_WARNING * limit and not self._fill_warned:
            self._fill_warned = True
            _warn("tracklog: %s has not taken events for %s; %.0f%% of the local WAL limit (%s of %s, "
                  "TRACKLOG_WAL_LIMIT) is used at %s; at the limit logging calls wait for the store",
                  self.store.uri, self._outage(), 100 * used / limit, _size(used), _size(limit), self.wal_dir)
        if used < limit:
            return
        if not self._full_warned:
            self._full_warned = True
            _warn("tracklog: the local WAL of %s is full (%s, TRACKLOG_WAL_LIMIT) at %s: logging calls wait until the "
                  "store takes events (none are dropped); last error: %s",
                  self.store.uri, _size(limit), self.wal_dir, self._last_error or "none")
        with self._done:
            while self.wal_bytes() >= limit and not self._closed and not self._stopping:
                self._done.wait(_DRAIN_RETRY)

    def _outage(self) -> str:
        since = self._offline_since
        return "a while" if since is None else f"{time.time() - since:.0f} s"

    def pending_count(self) -> int:
        """How many appended events are not published yet."""
        with self._lock:
            return sum(len(b) for b in self._inflight) + len(self._batch)

    def left_behind(self) -> str:
        """One line for the user: how many events wait, where, and how to publish them."""
        count = self.pending_count()
        if not self._use_wal:
            return (f"tracklog: {self.store.uri} did not take {count:,} event(s) within {self.publish_wait:g} s "
                    f"(TRACKLOG_PUBLISH_WAIT); they are LOST at exit (durability='none'); last error: "
                    f"{self._last_error or 'no answer'}")
        return (f"tracklog: {self.store.uri} did not take {count:,} event(s) within {self.publish_wait:g} s "
                f"(TRACKLOG_PUBLISH_WAIT); they wait in the local WAL at {self.wal_dir} and the next process "
                f"that opens the store publishes them, or run: tracklog sync {self.store.uri} "
                f"(last error: {self._last_error or 'no answer'})")

    def wait_or_warn(self) -> bool:
        """Wait up to `publish_wait` for the store to take what was appended; else warn (one
        line: what waits, where, how to publish it). True if everything is published.

        A second call after a wait that ran out, with nothing appended or published since,
        only warns: the store had its chance."""
        with self._lock:
            again = self._gave_up == (self._next_seq(), self._published_count)
        if again:
            return False  # the user was told, and nothing changed since
        if self.drain(self.publish_wait):
            return True
        _warn("%s", self.left_behind())
        return False

    def unpublished(self) -> list[tuple[str, str, Batch]]:
        """Copies of the unpublished batches, each with the segments it will be published as
        (``(stream, path, batch)``): a reader folds them ahead of the store (read-your-writes
        while it is unreachable). The open batch is closed first, so none of them changes."""
        if not self._use_wal:  # no WAL: a fold ahead could show events that exit then loses
            return []
        self._take()
        out = []
        with self._lock:
            for batch in self._inflight:
                copy = Batch(self.writer_id, self.actor, batch.first_seq)
                copy.control = list(batch.control)
                if batch.metric_count():
                    copy._sealed = _records_since(batch, 0)
                out += [(stream, path, copy) for stream, path in copy.segments()]
        return out

    # ---- the background flusher ---------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name=f"tracklog-flush-{self.writer_id[-8:]}", daemon=True)
            self._thread.start()
        _install_exit_hooks()
        # pyarrow imports pandas, which imports this module, whose import registers an exit hook;
        # if that first happens while the interpreter shuts down, the last flush would fail
        import concurrent.futures.thread  # noqa: F401

    def publish_soon(self, within: float) -> None:
        """Have the background flusher publish within `within` seconds (instead of at its next
        interval); requests close together share one flush, and the caller does not wait."""
        deadline = time.monotonic() + within
        soon = self._soon_at
        if soon is None or deadline < soon:
            self._soon_at = deadline
            self._wake.set()

    def _timeout(self) -> float:
        now = time.monotonic()
        if self._failures:
            retry_at = self._retry_at
            if now < self._draining_until:
                retry_at = min(retry_at, now + _DRAIN_RETRY)
            return max(0.0, retry_at - now)
        soon = self._soon_at
        return self.flush_interval if soon is None else min(self.flush_interval, max(0.0, soon - now))

    def _run(self) -> None:
        _warm_up()
        while not self._stopping:
            self._wake.wait(self._timeout())
            self._wake.clear()
            if self._stopping:
                break
            now = time.monotonic()
            if self._failures and now < self._retry_at and now >= self._draining_until:
                if self._full:  # offline: batches stay the size of a flush, to publish once it answers
                    self._full = False
                    self._take()
                continue
            soon = self._soon_at
            if not self._failures and not self._full and soon is not None and now < soon:
                continue  # woken to publish later than now: wait until then
            self._full, self._soon_at = False, None
            self._attempt()

    @property
    def appended(self) -> bool:
        """Whether this writer has appended anything: this process writes to the store."""
        return self._seq > 0

    def has_pending(self) -> bool:
        """Whether anything appended is not yet published (without copying it)."""
        with self._lock:
            return bool(self._inflight) or bool(len(self._batch))

    def pending(self) -> tuple[list[tuple[Any, ...]], list[Event]]:
        """Metric rows ``(seq, ts, run_id, key, value, step, timestamp)`` and control events
        appended but not yet published (read-your-writes)."""
        with self._lock:
            batches = [*self._inflight, self._batch]
            parts = [_records_since(b, 0) for b in batches if b.metric_count()]
            control = [c for b in batches for c in b.control]
        return [row for columns, names in parts for row in metric_rows(columns, names)], control

    def pending_control(self, since: int) -> tuple[list[Event], int]:
        """The unpublished control events whose writer_seq is at least `since`, and the seq the
        next event will get: asking again from there gives each pending event once.

        A reader folding this writer's events this way folds published batches through
        `on_publish` (an event may leave the buffer between two calls).
        """
        control: list[Event] = []
        with self._lock:
            batches, ends, next_seq = self._batches()
            for batch, end in zip(batches, ends, strict=True):
                if end > since and batch.control:
                    control += batch.control[bisect.bisect_left(batch.control, since, key=_writer_seq):]
        return control, next_seq

    def pending_latest_metrics(self, since: int) -> tuple[list[tuple[Any, ...]], int]:
        """Like `pending_control`, for metric points: the latest unpublished point per (run, key)
        among those whose writer_seq is at least `since`, as fold rows
        ``(run_id, key, value, step, timestamp, writer_seq, writer_id)``."""
        parts = []
        with self._lock:
            batches, ends, next_seq = self._batches()
            for batch, end in zip(batches, ends, strict=True):
                if end > since and batch.metric_count():
                    parts.append(_records_since(batch, since))
        return [row for columns, names in parts for row in latest_rows(columns, names, self.writer_id)], next_seq

    def _batches(self) -> tuple[list[Batch], list[int], int]:
        """The unpublished batches, the seq each ends before, and the next seq (under the lock)."""
        batches = [*self._inflight, self._batch]
        next_seq = self._next_seq()
        return batches, [*(b.first_seq for b in batches[1:]), next_seq], next_seq

    def _stop_thread(self, timeout: float = 60.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)

    def close(self) -> None:
        """Flush and stop the background thread; later appends raise `WriterClosedError`."""
        if self._closed:
            return
        self._stop_thread()
        self.flush()
        with self._lock:
            self._closed = True
            if self._buffer is not None and not len(self._batch):  # opened, then an append failed
                self._buffer.remove()
                self._batch.records = self._buffer = None
        _live_writers.discard(self)


def _writer_seq(event: Event) -> int:
    return event.writer_seq


def _records_since(batch: Batch, seq: int) -> tuple[Columns, list[str]]:
    """A copy of the batch's metric columns from `seq` on (under the writer's lock: an open
    batch's buffer may be growing)."""
    if batch._sealed is not None or batch.records is None:
        columns, names = batch.metric_columns()
        if seq > 0:
            import numpy as np

            first = int(np.searchsorted(columns["seq"], seq))
            columns = {name: column[first:] for name, column in columns.items()}
        return columns, names
    start = batch.records.offset_of_seq(seq) if seq > 0 else 0
    return batch.records.metric_columns(start), list(batch.records.names)


def _warm_up() -> None:
    """Import and initialise NumPy and pyarrow off the caller's path; imports fail during
    interpreter shutdown, where the last flush happens."""
    import numpy  # noqa: F401
    import pyarrow as pa
    import pyarrow.parquet  # noqa: F401

    record_dtype()
    pa.array(["warm"])


def recover_wal(store: Store, wal_dir: str) -> int:
    """Republish the WAL segments of dead writers of this store; returns how many."""
    return recover_wal_events(store, wal_dir)[0]


def recover_wal_events(store: Store, wal_dir: str) -> tuple[int, int]:
    """Like `recover_wal`; returns how many WAL segments and how many events it republished."""
    count = events = 0
    for path in claim_orphans(wal_dir):
        try:
            header, records = read_records(path)
        except (ValueError, OSError) as exc:
            _warn("tracklog: skipping unreadable WAL file %s: %s", path, exc)
            continue
        batch = Batch(header["writer_id"], header.get("actor", ""), header["first_seq"], RecordBuffer())
        for rec in records:
            if isinstance(rec, tuple):
                batch.records.append_metric(*rec)  # type: ignore[union-attr]
            else:
                batch.control.append(msgspec.convert(rec, AnyEvent))  # type: ignore[arg-type]
        if len(batch):
            batch.publish(store, durable=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        count += 1
        events += len(batch)
    return count, events


# ---- process-wide hooks ---------------------------------------------------------------

_hooks_installed = threading.Event()  # atexit and SIGTERM hooks, once per process (inherited by forks)
_hooks_lock = threading.Lock()


def flush_all() -> None:
    """At exit: publish what each writer holds, waiting at most its `publish_wait` for the
    store (what is left stays in the WAL, and one warning line says so); then stop each
    flusher thread (a daemon thread must not outlive finalisation)."""
    for writer in list(_live_writers):
        try:
            if writer.wait_or_warn():
                writer._stop_thread(timeout=5.0)
                if writer.has_pending():  # appended by another thread meanwhile
                    writer.wait_or_warn()
            writer._stopping = True  # a flusher stuck on the store ends when it returns
        except Exception as exc:  # at exit there is no caller to raise to  # noqa: BLE001
            _warn("tracklog: flush at exit failed: %s; %s", exc, writer.left_behind())


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _on_sigterm(signum: int, frame: Any) -> None:
    flush_all()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_exit_hooks() -> None:
    with _hooks_lock:
        if _hooks_installed.is_set():
            return
        _hooks_installed.set()
    atexit.register(flush_all)
    _flush_when_multiprocessing_child_exits()
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)


def _after_fork_in_child() -> None:
    for writer in list(_live_writers):
        writer._after_fork_in_child()


class _ForkedChildren:
    """The object multiprocessing's after-fork registry holds (weakly) for this module."""


_FORKED_CHILDREN = _ForkedChildren()
_multiprocessing_hooked = threading.Event()


def _before_fork() -> None:
    # multiprocessing's fork children leave by os._exit, past atexit: have them flush when
    # multiprocessing finalises them instead (its after-fork hooks run once the child is set up)
    util = sys.modules.get("multiprocessing.util")
    if util is not None and not _multiprocessing_hooked.is_set():
        _multiprocessing_hooked.set()
        util.register_after_fork(_FORKED_CHILDREN, _flush_when_child_exits)


def _flush_when_child_exits(_: object) -> None:
    sys.modules["multiprocessing.util"].Finalize(None, flush_all, exitpriority=0)


def _flush_when_multiprocessing_child_exits() -> None:
    """A multiprocessing child whose parent forked before loading this module (`import tracklog`
    loads it only on first use) gets no after-fork hook: it registers the flush itself."""
    mp = sys.modules.get("multiprocessing")
    if mp is not None and mp.parent_process() is not None and "multiprocessing.util" in sys.modules \
            and not _multiprocessing_hooked.is_set():
        _multiprocessing_hooked.set()
        _flush_when_child_exits(None)


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
