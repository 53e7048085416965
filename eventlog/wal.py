"""Record buffers and the write-ahead log: each appended event is in a local file before the call returns.

Every batch of a writer lives in a `RecordBuffer`: fixed-size binary metric records and
length-prefixed blobs (strings, msgpack control events), appended in place. With a WAL the
buffer is a `WalSegment`, a memory-mapped file (``MAP_SHARED``): a store into the mapping is in
the kernel's page cache at once, so ``kill -9`` loses nothing that was appended, at the cost of
a memory copy rather than a system call. ``fsync`` durability adds ``msync`` per append (group
commit across threads) to survive power loss too. Without a WAL the same records go to a
``bytearray``. Either way the metric records are the batch's only copy of its points: a flush
reads them back as NumPy columns (`RecordBuffer.metric_columns`), with no Python object per
point.

Layout: ``TLWAL002`` then typed records, each ending in a commit byte written last (see
`RecordBuffer`); the first record is a header, a zero byte marks the end.

Each segment is ``flock``\\ ed by its writer for as long as it lives; a segment whose lock can be
taken belongs to a dead process and is recovered by whoever opens the store next. One segment
holds exactly one flush, so recovery republishes it under the same deterministic names.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    import numpy as np

__all__ = ["METRIC_FIELDS", "RECORD_SIZE", "RecordBuffer", "WalSegment", "claim_orphans", "now_ms_ns",
           "read_records", "record_dtype"]

MAGIC = b"TLWAL002"
COMMIT = 0xA5
_METRIC, _STRING, _EVENT = 1, 2, 3  # a 0 byte (unwritten) ends the records
# type, seq, ts, run index, key index, value, step, timestamp, commit byte
_METRIC_REC = struct.Struct("<BqqIIdqqB")
RECORD_SIZE = _METRIC_REC.size
METRIC_FIELDS = ("seq", "ts", "run", "key", "value", "step", "timestamp")  # of a record, as columns
_COLUMN_TYPES = {"seq": "i8", "ts": "i8", "run": "u4", "key": "u4", "value": "f8", "step": "i8", "timestamp": "i8"}
_SEQ = struct.Struct("<q")  # a metric record's seq, at offset 1
_HEAD = struct.Struct("<BI")  # type, payload length
_INITIAL = 256 << 10  # grows by doubling; a large sparse file costs ms to create and remove
_SLACK = 64  # room kept free past the end, so a metric append needs one bounds check
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode
_time_ns = time.time_ns  # the writers' clock (a benchmark may stand in a simulated one)


@cache
def record_dtype() -> np.dtype[Any]:
    """The NumPy layout of one metric record (NumPy loads on first use: it is not needed to log)."""
    import numpy as np

    return np.dtype({
        "names": ["type", "seq", "ts", "run", "key", "value", "step", "timestamp", "commit"],
        "formats": ["u1", "<i8", "<i8", "<u4", "<u4", "<f8", "<i8", "<i8", "u1"],
        "offsets": [0, 1, 9, 17, 21, 25, 33, 41, 49],
        "itemsize": RECORD_SIZE,
    })


def now_ms_ns() -> int:
    """Now, in ns, truncated to the millisecond: the base of every event's ``ts``.

    A writer's ts is this clock plus a counter: within one ms its events get ts+1, ts+2, …
    (a hybrid logical clock). Strictly increasing and ordered like real time to the ms, it
    costs ~0.2 B a point in Parquet's delta encoding, where raw ns jitter costs ~1.7 B.
    """
    now = _time_ns()
    return now - now % 1_000_000


class RecordBuffer:
    """The records of one open batch, in memory; it stamps each metric point as it appends it.

    Records are ``[u8 type][body][u8 0xA5]``; the commit byte is stored last, so a record cut
    short by a crash is recognised and dropped. A metric record is fixed-size (one
    ``pack_into``); its run id and key are indices into strings defined earlier (`names`).
    Consecutive metric records form spans that NumPy reads as one array.

    While a batch is open its buffer holds the writer's envelope counters: `seq`, the next
    writer_seq, and `last_ts`, the last ts given (see `now_ms_ns`). The `log_*` methods stamp,
    write and count in one call, all or nothing; callers serialise them (the writer's lock).
    """

    def __init__(self, seq: int = 0, last_ts: int = 0, flush_events: int = 1 << 62,
                 memory: bytearray | mmap.mmap | None = None) -> None:
        self.seq = seq
        self.last_ts = last_ts
        self._mm: bytearray | mmap.mmap = bytearray(_INITIAL) if memory is None else memory
        self._size = len(self._mm)
        self._off = 0
        self._strings: dict[str, int] = {}
        self.names: list[str] = []  # run ids and keys, by index
        self._spans: list[tuple[int, int]] = []  # closed runs of consecutive metric records
        self._span_bytes = 0  # their total size
        self._span_start = 0
        # the writer's size trigger: at this offset the buffer holds `flush_events` events
        self.full_at = flush_events * RECORD_SIZE

    # ---- appending (the hot path) ------------------------------------------------------

    def log_metric(self, run_id: str, key: str, value: float, step: int, timestamp: int | None) -> int:
        """Stamp and write one metric point (`timestamp` None: its ts in ms); returns the end offset."""
        ts = _time_ns()
        ts -= ts % 1_000_000
        if ts <= self.last_ts:
            ts = self.last_ts + 1
        if timestamp is None:
            timestamp = ts // 1_000_000
        strings = self._strings
        ri = strings.get(run_id)
        if ri is None:
            ri = self._define(run_id)
        ki = strings.get(key)
        if ki is None:
            ki = self._define(key)
        off = self._off
        if off + _SLACK > self._size:
            self._grow(off + _SLACK)
        try:
            _METRIC_REC.pack_into(self._mm, off, _METRIC, self.seq, ts, ri, ki, value, step, timestamp, COMMIT)
        except BaseException:
            self._discard(off, off + RECORD_SIZE)
            raise
        self.seq += 1
        self.last_ts = ts
        self._off = off = off + RECORD_SIZE
        return off

    def log_step(self, run_id: str, metrics: Mapping[str, float], step: int, timestamp: int | None) -> int:
        """Stamp and write several points (key: value) of one run at one step and one timestamp
        (None: the first point's ts in ms); ts counts up by one per point."""
        strings = self._strings
        ri = strings.get(run_id)
        if ri is None:
            ri = self._define(run_id)
        seq = self.seq
        ts = _time_ns()
        ts -= ts % 1_000_000
        if ts <= self.last_ts:
            ts = self.last_ts + 1
        stamp = ts // 1_000_000 if timestamp is None else timestamp
        start = off = self._off
        end = off + len(metrics) * RECORD_SIZE
        if end + _SLACK > self._size:
            self._grow(end + _SLACK)
        pack, mm = _METRIC_REC.pack_into, self._mm
        try:
            for key, value in metrics.items():
                pack(mm, off, _METRIC, seq, ts, ri, strings[key], value, step, stamp, COMMIT)
                off += RECORD_SIZE
                seq += 1
                ts += 1
        except KeyError:  # a key not seen in this batch: define the new ones first (no record in between)
            self._discard(start, end)
            for key in metrics:
                if key not in strings:
                    self._define(key)
            return self.log_step(run_id, metrics, step, timestamp)
        except BaseException:
            self._discard(start, end)
            raise
        self.seq, self.last_ts, self._off = seq, ts - 1, off
        return off

    def log_columns(self, run_id: str, keys: Sequence[str], values: Sequence[float], steps: Sequence[int],
                    timestamps: Sequence[int]) -> int:
        """Stamp and write a batch of points of one run given column by column, all or none:
        the records are built in one NumPy array and copied in at once; seq and ts count up by one."""
        import numpy as np

        strings = self._strings
        if run_id not in strings:
            self._define(run_id)
        distinct = set(keys)
        if not strings.keys() >= distinct:
            for key in dict.fromkeys(keys):  # in order of first appearance
                if key not in strings:
                    self._define(key)
        n = len(keys)
        seq, ts = self.seq, max(now_ms_ns(), self.last_ts + 1)
        records = np.zeros(n, dtype=record_dtype())  # commit bytes 0: they are set after the copy
        records["type"] = _METRIC
        records["seq"] = np.arange(seq, seq + n)
        records["ts"] = np.arange(ts, ts + n)
        records["run"] = strings[run_id]
        if len(distinct) == 1:  # one metric's history, the common batch
            records["key"] = strings[keys[0]]
        else:
            records["key"] = np.fromiter(map(strings.__getitem__, keys), dtype=np.uint32, count=n)
        records["value"] = np.asarray(values, dtype=np.float64)
        records["step"] = np.asarray(steps, dtype=np.int64)
        records["timestamp"] = np.asarray(timestamps, dtype=np.int64)
        start = self._off
        end = start + n * RECORD_SIZE
        if end + _SLACK > self._size:
            self._grow(end + _SLACK)
        self._mm[start:end] = records.tobytes()
        # the commit bytes go last, in order, after every body: recovery never takes a record
        # whose body a crash cut short
        self._mm[start + RECORD_SIZE - 1 : end : RECORD_SIZE] = bytes([COMMIT]) * n
        self.seq, self.last_ts, self._off = seq + n, ts + n - 1, end
        return end

    def append_metric(self, seq: int, ts: int, run_id: str, key: str, value: float, step: int, timestamp: int) -> int:
        """Write one metric point stamped elsewhere (recovery); the counters move past it."""
        ri = self._strings.get(run_id)
        if ri is None:
            ri = self._define(run_id)
        ki = self._strings.get(key)
        if ki is None:
            ki = self._define(key)
        off = self._off
        if off + _SLACK > self._size:
            self._grow(off + _SLACK)
        _METRIC_REC.pack_into(self._mm, off, _METRIC, seq, ts, ri, ki, value, step, timestamp, COMMIT)
        self.seq, self.last_ts = seq + 1, ts
        self._off = off = off + RECORD_SIZE
        return off

    def _discard(self, start: int, end: int) -> None:
        """Zero what a failed append wrote past the end: recovery must never see it."""
        self._mm[start:end] = bytes(end - start)

    def append_event(self, payload: bytes) -> int:
        """Write one msgpack-encoded control event; returns the end offset. It counts as one event."""
        end = self._append_blob(_EVENT, payload)
        self.full_at -= RECORD_SIZE
        return end

    def _define(self, text: str) -> int:
        index = len(self.names)
        self._append_blob(_STRING, text.encode())
        self._strings[text] = index
        self.names.append(text)
        return index

    def _append_blob(self, kind: int, payload: bytes) -> int:
        off = self._off
        if off > self._span_start:
            self._spans.append((self._span_start, off))
            self._span_bytes += off - self._span_start
        end = off + _HEAD.size + len(payload) + 1
        if end + _SLACK > self._size:
            self._grow(end + _SLACK)
        _HEAD.pack_into(self._mm, off, kind, len(payload))
        self._mm[off + _HEAD.size : end - 1] = payload
        self._mm[end - 1] = COMMIT
        self._off = self._span_start = end
        self.full_at += end - off
        return end

    def _grow(self, need: int) -> None:
        size = self._size
        while size < need:
            size *= 2
        self._resize(size)
        self._size = size

    def _resize(self, size: int) -> None:
        self._mm.extend(bytes(size - len(self._mm)))  # type: ignore[union-attr]

    # ---- reading back ---------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        """Bytes written so far (what the batch takes in its WAL file, or in memory)."""
        return self._off

    def metric_count(self) -> int:
        """How many metric records the buffer holds."""
        return (self._span_bytes + self._off - self._span_start) // RECORD_SIZE

    def _all_spans(self) -> list[tuple[int, int]]:
        return [*self._spans, (self._span_start, self._off)] if self._off > self._span_start else list(self._spans)

    def offset_of_seq(self, seq: int) -> int:
        """The offset of the first metric record whose seq is at least `seq` (or the end)."""
        spans = self._all_spans()
        lo, hi = 0, len(spans)
        while lo < hi:  # the first span whose last record reaches seq
            mid = (lo + hi) // 2
            if self._seq_at(spans[mid][1] - RECORD_SIZE) < seq:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(spans):
            return self._off
        start, stop = spans[lo]
        first, last = 0, (stop - start) // RECORD_SIZE
        while first < last:  # then the first record in it that does
            mid = (first + last) // 2
            if self._seq_at(start + mid * RECORD_SIZE) < seq:
                first = mid + 1
            else:
                last = mid
        return start + first * RECORD_SIZE

    def _seq_at(self, offset: int) -> int:
        return int(_SEQ.unpack_from(self._mm, offset + 1)[0])

    def metric_columns(self, start: int = 0, end: int | None = None) -> dict[str, np.ndarray[Any, Any]]:
        """The metric records between offsets `start` and `end` as contiguous NumPy columns
        ``seq, ts, run, key, value, step, timestamp`` (``run``/``key`` index `names`): one copy
        per field, with no Python object per point."""
        import numpy as np

        end = self._off if end is None else end
        dtype = record_dtype()
        spans = [(max(s, start), min(e, end)) for s, e in self._all_spans() if min(e, end) > max(s, start)]
        n = sum(e - s for s, e in spans) // RECORD_SIZE
        columns = {name: np.empty(n, dtype=_COLUMN_TYPES[name]) for name in METRIC_FIELDS}
        at = 0
        for s, e in spans:
            # a view lives only for the copy: a mapping with exported buffers cannot grow
            view = np.frombuffer(self._mm, dtype=dtype, count=(e - s) // RECORD_SIZE, offset=s)
            for name, column in columns.items():
                column[at : at + len(view)] = view[name]
            at += len(view)
            del view
        return columns

    def sync(self, upto: int) -> None:
        """Make the records up to `upto` durable: nothing to do in memory."""

    def close(self) -> None:
        """Release the memory (a WAL segment also releases its file and lock)."""

    def remove(self) -> None:
        """The batch is published: drop the records (a WAL segment deletes its file)."""
        self.close()


class WalSegment(RecordBuffer):
    """A `RecordBuffer` in one open, locked, growing WAL file."""

    def __init__(self, directory: str, writer_id: str, first_seq: int, header: dict[str, Any], *, fsync: bool,
                 last_ts: int = 0, flush_events: int = 1 << 62) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"{writer_id}-{first_seq:012d}.wal")
        # born locked under a name recovery ignores, then renamed: a recoverer can never take
        # the lock of a segment whose writer is alive, nor find one without its header
        staging = os.path.join(directory, f".{writer_id}-{first_seq:012d}.wal.new")
        self._fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(self._fd, _INITIAL)
        super().__init__(first_seq, last_ts, flush_events, mmap.mmap(self._fd, _INITIAL))
        self._mm[: len(MAGIC)] = MAGIC
        self._off = self._span_start = len(MAGIC)
        self._fsync = fsync
        self._synced = 0
        self._sync_lock = threading.Lock()
        self._append_blob(_EVENT, _encode(header))
        os.rename(staging, self.path)
        if fsync:
            os.fsync(self._fd)
            _fsync_dir(directory)

    def _resize(self, size: int) -> None:
        self._mm.resize(size)  # type: ignore[union-attr]

    def sync(self, upto: int) -> None:
        """msync up to `upto`; threads waiting together share one msync (group commit)."""
        if self._synced >= upto:
            return
        with self._sync_lock:
            if self._synced >= upto:
                return
            target = self._off
            self._mm.flush()  # type: ignore[union-attr]
            self._synced = target

    def remove(self) -> None:
        """Delete the file (its events are published), then release the lock."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            self._mm.close()  # type: ignore[union-attr]
            os.close(self._fd)
            self._fd = -1


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(path: str) -> tuple[dict[str, Any], list[Any]]:
    """The header and the records of one WAL file, stopping at the first torn record.

    A metric record comes back as the tuple ``(seq, ts, run_id, key, value, step, timestamp)``,
    a control event as its decoded msgpack map.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(MAGIC):
        raise ValueError(f"{path} is not a tracklog WAL file (no {MAGIC!r} header)")
    strings: list[str] = []
    records: list[Any] = []
    off = len(MAGIC)
    size = len(data)
    while off < size:
        kind = data[off]
        if kind == _METRIC:
            end = off + _METRIC_REC.size
            if end > size or data[end - 1] != COMMIT:
                break
            _, seq, ts, ri, ki, value, step, timestamp, _ = _METRIC_REC.unpack_from(data, off)
            records.append((seq, ts, strings[ri], strings[ki], value, step, timestamp))
        elif kind in (_STRING, _EVENT):
            if off + _HEAD.size > size:
                break
            _, n = _HEAD.unpack_from(data, off)
            end = off + _HEAD.size + n + 1
            if end > size or data[end - 1] != COMMIT:
                break
            body = data[off + _HEAD.size : end - 1]
            if kind == _STRING:
                strings.append(body.decode())
            else:
                try:
                    records.append(_decode(body))
                except msgspec.DecodeError:
                    break
        else:
            break
        off = end
    if not records or not isinstance(records[0], dict):
        raise ValueError(f"{path} has no WAL header record")
    return records[0], records[1:]


@contextlib.contextmanager
def _locked(path: str) -> Iterator[bool]:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    try:
        # the owner may have published and unlinked it between our open and our lock
        yield os.path.exists(path)
    finally:
        os.close(fd)


def claim_orphans(directory: str) -> Iterator[str]:
    """Yield the WAL files of dead writers, each locked while the caller handles it.

    The caller republishes the events and unlinks the file before moving on.
    """
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for name in names:
        if not name.endswith(".wal"):
            continue
        path = os.path.join(directory, name)
        with _locked(path) as ours:
            if ours:
                yield path
