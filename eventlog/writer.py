"""The buffered writer: append in memory (and the WAL), publish segments in the background.

A `Writer` stamps each event with the envelope — ``writer_id`` (uuid7 per writer), a gapless
``writer_seq`` and a strictly increasing ``ts`` — appends it to the WAL (per durability) and to
an in-memory batch, and returns. A daemon thread publishes the batch as one Parquet segment per
stream when it reaches `flush_events`, every `flush_interval` seconds, and on `flush()`,
interpreter exit and SIGTERM. After ``fork`` the child re-mints a fresh writer.

A batch and its WAL segment hold exactly the same events, and segment names depend only on
those events (``<writer_id>-<first_seq>``), so a batch republished from a dead writer's WAL
lands under the names the writer would have used: exactly once, whoever gets there first.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Literal

import msgspec

from eventlog.codec import control_table, metric_table, write_parquet
from eventlog.errors import InvalidInputError, StorageError, WriterClosedError
from eventlog.events import AnyEvent, Event, MetricLogged
from eventlog.storage import Store
from eventlog.wal import WalSegment, claim_orphans, read_records

__all__ = ["ACTOR", "Batch", "Durability", "Writer", "segment_path", "uuid7"]

Durability = Literal["wal", "fsync", "none"]
# Who control events appended in this context are recorded for, if not the writer's own actor:
# the tracking server sets it per request to the authenticated user.
ACTOR: ContextVar[str] = ContextVar("tracklog_actor", default="")
_encode = msgspec.msgpack.Encoder().encode
_time_ns = time.time_ns


def _now_ms_ns() -> int:
    """Now, in ns, truncated to the millisecond.

    A writer's ts is this clock plus a counter: within one ms its events get ts+1, ts+2, …
    (a hybrid logical clock). Strictly increasing and ordered like real time to the ms, it
    costs ~0.2 B a point in Parquet's delta encoding, where raw ns jitter costs ~1.7 B.
    """
    now = _time_ns()
    return now - now % 1_000_000
_live_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


def _warn(message: str, *args: Any) -> None:
    import logging

    logging.getLogger("tracklog.writer").warning(message, *args)


def uuid7() -> str:
    from uuid_utils import uuid7 as _uuid7

    return str(_uuid7())


def segment_path(stream: str, writer_id: str, first_seq: int, ts: int) -> str:
    """The deterministic name of one flush of one writer."""
    day = time.strftime("%Y-%m-%d", time.gmtime(ts // 1_000_000_000))
    return f"events/stream={stream}/date={day}/{writer_id}-{first_seq:012d}.parquet"


class Batch:
    """Events taken from the buffer for one flush; metric rows as compact tuples."""

    __slots__ = ("actor", "control", "first_seq", "metrics", "wal", "writer_id")

    def __init__(self, writer_id: str, actor: str, first_seq: int) -> None:
        self.writer_id = writer_id
        self.actor = actor
        self.first_seq = first_seq
        self.metrics: list[tuple[Any, ...]] = []  # (seq, ts, run_id, key, value, step, timestamp)
        self.control: list[Event] = []
        self.wal: WalSegment | None = None

    def __len__(self) -> int:
        return len(self.metrics) + len(self.control)

    def metric_columns(self) -> dict[str, list[Any]]:
        seq, ts, run_id, key, value, step, timestamp = (list(c) for c in zip(*self.metrics, strict=True))
        n = len(seq)
        return {
            "run_id": run_id, "key": key, "value": value, "step": step, "timestamp": timestamp,
            "ts": ts, "writer_id": [self.writer_id] * n, "writer_seq": seq, "actor": [self.actor] * n,
        }

    def metric_events(self) -> list[MetricLogged]:
        return [
            MetricLogged(writer_id=self.writer_id, writer_seq=s, ts=t, actor=self.actor,
                         run_id=r, key=k, value=v, step=st, timestamp=tm)
            for s, t, r, k, v, st, tm in self.metrics
        ]

    def publish(self, store: Store, *, durable: bool) -> list[tuple[str, str]]:
        """Write this batch's segments; a segment already there (a retry) counts as done.

        Returns ``(stream, path)`` of each segment.
        """
        out = []
        if self.control:
            path = segment_path("control", self.writer_id, self.control[0].writer_seq, self.control[0].ts)
            store.publish(path, write_parquet(control_table(self.control)), durable=durable)
            out.append(("control", path))
        if self.metrics:
            first = self.metrics[0]
            path = segment_path("metric", self.writer_id, first[0], first[1])
            store.publish(path, write_parquet(metric_table(self.metric_columns())), durable=durable)
            out.append(("metric", path))
        return out


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
    ) -> None:
        if durability not in ("wal", "fsync", "none"):
            raise InvalidInputError(f"durability must be 'wal', 'fsync' or 'none', got {durability!r}")
        self.store = store
        self.wal_dir = wal_dir
        self.actor = actor
        self.durability = durability
        self.flush_events = flush_events
        self.flush_interval = flush_interval
        self._use_wal = durability != "none"
        self._fsync = durability == "fsync"
        # called with (stream, path, batch) after each segment this writer publishes, so readers
        # in this process can fold it from memory instead of reading it back
        self.on_publish: list[Callable[[str, str, Batch], None]] = []
        self._mint()
        _live_writers.add(self)

    # ---- identity and state ----------------------------------------------------------

    def _mint(self) -> None:
        self.writer_id = uuid7()
        self._seq = 0
        self._last_ts = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._inflight: list[Batch] = []
        self._closed = False
        self._batch = Batch(self.writer_id, self.actor, 0)
        self._failures = 0

    def _after_fork_in_child(self) -> None:
        """The parent keeps its own buffer and WAL; the child starts clean."""
        for batch in [*self._inflight, self._batch]:
            if batch.wal is not None:
                batch.wal.close()
        self._mint()

    # ---- the hot path -----------------------------------------------------------------

    def log_metric(self, run_id: str, key: str, value: float, step: int, timestamp: int | None) -> None:
        """Append one metric point (already validated). The fast path of tracklog.

        A `timestamp` of None means the event's own time, in ms.
        """
        end = 0
        with self._lock:
            if self._closed:
                raise WriterClosedError("this event log is closed; open it again to append")
            seq = self._seq
            self._seq = seq + 1
            ts = _time_ns()
            ts -= ts % 1_000_000  # inlined _now_ms_ns(): this is the hot path
            if ts <= self._last_ts:
                ts = self._last_ts + 1
            self._last_ts = ts
            if timestamp is None:
                timestamp = ts // 1_000_000
            rec = (seq, ts, run_id, key, value, step, timestamp)
            batch = self._batch
            if self._use_wal:
                wal = batch.wal or self._open_wal(batch)
                end = wal.append_metric(seq, ts, run_id, key, value, step, timestamp)
            batch.metrics.append(rec)
            if len(batch.metrics) >= self.flush_events:
                self._wake.set()
        if self._thread is None:
            self._start()
        if self._fsync:
            wal.sync(end)

    def log_metrics(self, run_id: str, items: list[tuple[str, float]], step: int, timestamp: int | None) -> None:
        """Append several points of one run at one step under one lock (already validated)."""
        end = 0
        with self._lock:
            if self._closed:
                raise WriterClosedError("this event log is closed; open it again to append")
            batch = self._batch
            wal = (batch.wal or self._open_wal(batch)) if self._use_wal else None
            last = self._last_ts
            for key, value in items:
                seq = self._seq
                self._seq = seq + 1
                ts = _now_ms_ns()
                last = ts = ts if ts > last else last + 1
                stamp = ts // 1_000_000 if timestamp is None else timestamp
                if wal is not None:
                    end = wal.append_metric(seq, ts, run_id, key, value, step, stamp)
                batch.metrics.append((seq, ts, run_id, key, value, step, stamp))
            self._last_ts = last
            if len(batch.metrics) >= self.flush_events:
                self._wake.set()
        if self._thread is None:
            self._start()
        if self._fsync and wal is not None:
            wal.sync(end)

    def append(self, event: Event) -> Event:
        """Stamp `event` with the envelope, record it and return the stamped event."""
        if isinstance(event, MetricLogged):
            self.log_metric(event.run_id, event.key, event.value, event.step, event.timestamp)
            return event
        end = 0
        with self._lock:
            if self._closed:
                raise WriterClosedError("this event log is closed; open it again to append")
            seq = self._seq
            self._seq = seq + 1
            ts = max(_now_ms_ns(), self._last_ts + 1)
            self._last_ts = ts
            stamped = msgspec.structs.replace(event, writer_id=self.writer_id, writer_seq=seq, ts=ts,
                                              actor=ACTOR.get() or self.actor)
            batch = self._batch
            if self._use_wal:
                wal = batch.wal or self._open_wal(batch)
                end = wal.append_event(_encode(stamped))
            batch.control.append(stamped)
        if self._thread is None:
            self._start()
        if self._fsync:
            wal.sync(end)
        return stamped

    def _open_wal(self, batch: Batch) -> WalSegment:
        header = {"writer_id": self.writer_id, "actor": self.actor, "first_seq": batch.first_seq}
        batch.wal = WalSegment(self.wal_dir, self.writer_id, batch.first_seq, header, fsync=self._fsync)
        return batch.wal

    # ---- flushing ---------------------------------------------------------------------

    def _take(self) -> Batch | None:
        with self._lock:
            batch = self._batch
            if not len(batch):
                return None
            self._batch = Batch(self.writer_id, self.actor, self._seq)
            self._inflight.append(batch)
            return batch

    def flush(self) -> None:
        """Publish everything appended so far; raises `StorageError` if the store refuses."""
        with self._flush_lock:
            self._take()
            for batch in list(self._inflight):
                self._publish(batch)

    def _publish(self, batch: Batch) -> None:
        try:
            published = batch.publish(self.store, durable=self._fsync)
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(f"could not publish a segment to {self.store.uri}: {exc}") from exc
        with self._lock:
            self._inflight.remove(batch)
        if batch.wal is not None:
            batch.wal.remove()
        for stream, path in published:
            for hook in self.on_publish:
                hook(stream, path, batch)

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

    def _run(self) -> None:
        _warm_up()
        while not self._stopping:
            self._wake.wait(self.flush_interval if not self._failures else min(30.0, 2.0**self._failures))
            self._wake.clear()
            if self._stopping:
                break
            try:
                self.flush()
                self._failures = 0
            except Exception as exc:  # keep the batch, retry later: the WAL still holds it
                self._failures += 1
                _warn("tracklog: background flush failed (attempt %d), will retry: %s", self._failures, exc)

    @property
    def appended(self) -> bool:
        """Whether this writer has appended anything: this process writes to the store."""
        return self._seq > 0

    def publish_soon(self) -> None:
        """Wake the background flusher: publish what is pending now, not at the next interval."""
        self._wake.set()

    def has_pending(self) -> bool:
        """Whether anything appended is not yet published (without copying it)."""
        with self._lock:
            return bool(self._inflight) or bool(len(self._batch))

    def pending(self) -> tuple[list[tuple[Any, ...]], list[Event]]:
        """Metric rows and control events appended but not yet published (read-your-writes)."""
        with self._lock:
            batches = [*self._inflight, self._batch]
            metrics = [m for b in batches for m in b.metrics]
            control = [c for b in batches for c in b.control]
        return metrics, control

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
        _live_writers.discard(self)


def _warm_up() -> None:
    """Import and initialise pyarrow off the caller's path; imports fail during interpreter shutdown,
    where the last flush happens."""
    import pyarrow as pa
    import pyarrow.parquet  # noqa: F401

    pa.array(["warm"])


def recover_wal(store: Store, wal_dir: str) -> int:
    """Republish the WAL segments of dead writers of this store; returns how many."""
    count = 0
    for path in claim_orphans(wal_dir):
        try:
            header, records = read_records(path)
        except (ValueError, OSError) as exc:
            _warn("tracklog: skipping unreadable WAL file %s: %s", path, exc)
            continue
        batch = Batch(header["writer_id"], header.get("actor", ""), header["first_seq"])
        for rec in records:
            if isinstance(rec, tuple):
                batch.metrics.append(rec)
            else:
                batch.control.append(msgspec.convert(rec, AnyEvent))  # type: ignore[arg-type]
        if len(batch):
            batch.publish(store, durable=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        count += 1
    return count


# ---- process-wide hooks ---------------------------------------------------------------

_hooks_installed = threading.Event()  # atexit and SIGTERM hooks, once per process (inherited by forks)
_hooks_lock = threading.Lock()


def flush_all() -> None:
    """At exit: stop each flusher thread (a daemon thread must not outlive finalisation), then flush."""
    for writer in list(_live_writers):
        try:
            # a flusher still warming up (importing pyarrow) need not finish first: flush() is
            # serialised by its own lock, and a signal handler must not wait long
            writer._stop_thread(timeout=5.0)
            writer.flush()
        except Exception as exc:  # at exit there is no caller to raise to
            kept = "the WAL keeps the events" if writer.durability != "none" else "events are LOST (durability='none')"
            _warn("tracklog: flush at exit failed, %s: %s", kept, exc)


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
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)


def _after_fork_in_child() -> None:
    for writer in list(_live_writers):
        writer._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
