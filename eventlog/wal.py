"""The write-ahead log: each appended event is in a local file before the call returns.

A WAL segment is a memory-mapped file (``MAP_SHARED``): a store into the mapping is in the
kernel's page cache at once, so ``kill -9`` loses nothing that was appended, at the cost of a
memory copy rather than a system call. ``fsync`` durability adds ``msync`` per append (group
commit across threads) to survive power loss too.

Layout: ``TLWAL002`` then typed records, each ending in a commit byte written last (see
`WalSegment`); the first record is a header, a zero byte marks the end.

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
from collections.abc import Iterator
from typing import Any

import msgspec

__all__ = ["WalSegment", "claim_orphans", "read_records"]

MAGIC = b"TLWAL002"
COMMIT = 0xA5
_METRIC, _STRING, _EVENT = 1, 2, 3  # a 0 byte (unwritten) ends the records
# type, seq, ts, run index, key index, value, step, timestamp, commit byte
_METRIC_REC = struct.Struct("<BqqIIdqqB")
_HEAD = struct.Struct("<BI")  # type, payload length
_INITIAL = 256 << 10  # grows by doubling; a large sparse file costs ms to create and remove
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class WalSegment:
    """One open, locked, growing WAL file.

    Records are ``[u8 type][body][u8 0xA5]``; the commit byte is stored last, so a record cut
    short by a crash is recognised and dropped. A metric record is fixed-size (one
    ``pack_into``); its run id and key are indices into strings defined earlier in the segment.
    """

    def __init__(self, directory: str, writer_id: str, first_seq: int, header: dict[str, Any], *, fsync: bool) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"{writer_id}-{first_seq:012d}.wal")
        # born locked under a name recovery ignores, then renamed: a recoverer can never take
        # the lock of a segment whose writer is alive, nor find one without its header
        staging = os.path.join(directory, f".{writer_id}-{first_seq:012d}.wal.new")
        self._fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(self._fd, _INITIAL)
        self._mm = mmap.mmap(self._fd, _INITIAL)
        self._size = _INITIAL
        self._mm[: len(MAGIC)] = MAGIC
        self._off = len(MAGIC)
        self._strings: dict[str, int] = {}
        self._fsync = fsync
        self._synced = 0
        self._sync_lock = threading.Lock()
        self._append_blob(_EVENT, _encode(header))
        os.rename(staging, self.path)
        if fsync:
            os.fsync(self._fd)
            _fsync_dir(directory)

    def append_metric(self, seq: int, ts: int, run_id: str, key: str, value: float, step: int, timestamp: int) -> int:
        """Write one metric point; returns the end offset (for `sync`). Callers serialise appends."""
        strings = self._strings
        ri = strings.get(run_id)
        if ri is None:
            ri = self._define(run_id)
        ki = strings.get(key)
        if ki is None:
            ki = self._define(key)
        off = self._off
        if off + 64 > self._size:
            self._grow(off + 64)
        _METRIC_REC.pack_into(self._mm, off, _METRIC, seq, ts, ri, ki, value, step, timestamp, COMMIT)
        self._off = off = off + _METRIC_REC.size
        return off

    def append_event(self, payload: bytes) -> int:
        """Write one msgpack-encoded control event; returns the end offset."""
        return self._append_blob(_EVENT, payload)

    def _define(self, text: str) -> int:
        index = len(self._strings)
        self._append_blob(_STRING, text.encode())
        self._strings[text] = index
        return index

    def _append_blob(self, kind: int, payload: bytes) -> int:
        off = self._off
        end = off + _HEAD.size + len(payload) + 1
        if end + 64 > self._size:
            self._grow(end + 64)
        _HEAD.pack_into(self._mm, off, kind, len(payload))
        self._mm[off + _HEAD.size : end - 1] = payload
        self._mm[end - 1] = COMMIT
        self._off = end
        return end

    def sync(self, upto: int) -> None:
        """msync up to `upto`; threads waiting together share one msync (group commit)."""
        if self._synced >= upto:
            return
        with self._sync_lock:
            if self._synced >= upto:
                return
            target = self._off
            self._mm.flush()
            self._synced = target

    def _grow(self, need: int) -> None:
        size = self._size
        while size < need:
            size *= 2
        self._mm.resize(size)
        self._size = size

    def remove(self) -> None:
        """Delete the file (its events are published), then release the lock."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            self._mm.close()
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
