"""Compaction: merge small segments into large sorted files, committed the Delta Lake way.

A compactor reads the commits of a stream, picks live segments, writes merged outputs under
``compacted/stream=…/date=…/c-<compactor>-<i>.parquet`` and then creates
``_commits/stream=…/<N>.json`` put-if-absent, listing what it consumed and produced. Commits
are numbered 0, 1, 2…; a compactor that loses the race for number N re-reads the commits and
retries as N+1 — unless the winner consumed one of its inputs, in which case it gives up and
removes its outputs. An output no commit names is invisible; such strays are removed once
they are older than an hour (and the retention), so a slow compactor's outputs are never
taken for strays before it commits.

Readers read the commits first, then list files: live = (segments ∪ committed outputs) −
consumed. Outputs not named by any commit are invisible. Consumed files are deleted only after
the retention period, so a reader that listed before a commit still finds what it listed:
every event is seen exactly once, at every instant.
"""

from __future__ import annotations

import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from eventlog.codec import read_segment, write_parquet
from eventlog.errors import CorruptFileError, CorruptFileWarning, InvalidValueError, StorageError
from eventlog.storage import Store

__all__ = ["Commit", "CompactionReport", "compact", "live_files", "parse_duration", "read_commits", "remove_expired"]

_COMMIT_NAME = re.compile(r"(\d+)\.json$")
_DATE = re.compile(r"/date=([0-9-]+)/")
TARGET_ROWS = 4_000_000  # rows per output file
GROUP_ROWS = 8_000_000  # rows sorted together at most: bounds memory whatever a day holds
COMMIT_LIMIT = 64 << 20  # bytes a commit file may have (~500k paths): a bigger one is not a commit
STRAY_AGE = 3600.0  # an uncommitted output younger than this may belong to a compactor still at work


class Commit(msgspec.Struct, frozen=True):
    number: int
    consumed: list[str]
    produced: list[str]
    ts: float = 0.0
    compactor: str = ""


_commit_cache: dict[tuple[str, str], Commit] = {}  # commit files are immutable: cache by path


def read_commits(store: Store, stream: str) -> list[Commit]:
    """Every commit of `stream`, in order."""
    commits = []
    for path in store.list_all(f"_commits/stream={stream}"):
        if not _COMMIT_NAME.search(path):
            continue
        key = (store.uri, path)
        commit = _commit_cache.get(key)
        if commit is None:
            try:
                commit = msgspec.json.decode(store.read_bytes(path, limit=COMMIT_LIMIT), type=Commit)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise CorruptFileError(f"{store.uri}/{path} is not a valid compaction commit: {exc}") from exc
            _commit_cache[key] = commit
        commits.append(commit)
    return sorted(commits, key=lambda c: c.number)


def live_files(store: Store, stream: str) -> list[str]:
    """The files a reader should read for `stream`: commits first, then the listing."""
    commits = read_commits(store, stream)
    consumed = {p for c in commits for p in c.consumed}
    produced = {p for c in commits for p in c.produced}
    segments = store.list_files(f"events/stream={stream}")
    outputs = store.list_files(f"compacted/stream={stream}") if produced else []
    return sorted([p for p in segments if p not in consumed] + [p for p in outputs if p in produced and p not in consumed])


class CompactionReport(msgspec.Struct):
    stream: str
    commit: int | None = None
    consumed: int = 0
    produced: int = 0
    rows: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    deleted: int = 0


def _date(path: str) -> str:
    match = _DATE.search(path)
    return match.group(1) if match else "unknown"


def _sort_keys(stream: str) -> list[tuple[str, str]]:
    if stream == "metric":
        return [("run_id", "ascending"), ("key", "ascending"), ("step", "ascending"), ("writer_id", "ascending"), ("writer_seq", "ascending")]
    return [("ts", "ascending"), ("writer_id", "ascending"), ("writer_seq", "ascending")]


def compact(
    store: Store,
    stream: str,
    *,
    compactor: str = "",
    progress: Callable[[Iterable[Any], str], Iterable[Any]] | None = None,
    min_files: int = 2,
) -> CompactionReport:
    """Merge the live files of `stream` into sorted outputs under one new commit.

    Args:
        progress: wraps the per-partition loop (e.g. a progress bar); gets items and a label.
        min_files: do nothing unless at least this many files are live.
    """

    report = CompactionReport(stream=stream)
    commits = read_commits(store, stream)
    inputs = live_files(store, stream)
    if len(inputs) < min_files:
        return report
    number = (commits[-1].number + 1) if commits else 0
    token = f"{number:08d}-{uuid.uuid4().hex[:12]}"  # unique per attempt: outputs never collide
    by_date: dict[str, list[str]] = {}
    for path in inputs:
        by_date.setdefault(_date(path), []).append(path)
    produced: list[str] = []
    skipped: set[str] = set()  # corrupt files stay where they are, live and reported, never consumed
    walk = progress(list(by_date.items()), f"compacting {stream}") if progress else by_date.items()
    for day, paths in walk:
        index = 0  # output number within the day
        group: list[Any] = []
        rows = 0
        for path in paths:
            table = _load(store, stream, path, report)
            if table is None:
                skipped.add(path)
                continue
            group.append(table)
            rows += table.num_rows
            if rows >= GROUP_ROWS:  # sorted in groups: each output is sorted, memory stays bounded
                index = _write_group(store, stream, f"compacted/stream={stream}/date={day}/c-{token}", index,
                                     group, report, produced)
                group, rows = [], 0
        if group:
            _write_group(store, stream, f"compacted/stream={stream}/date={day}/c-{token}", index, group, report,
                         produced)
    inputs = [p for p in inputs if p not in skipped]
    if not inputs:
        return report
    while True:
        commit = Commit(number=number, consumed=inputs, produced=produced, ts=time.time(), compactor=compactor)
        if store.publish(f"_commits/stream={stream}/{number:08d}.json", msgspec.json.encode(commit), durable=True):
            break
        # another compactor took this number: did it consume any of our inputs?
        rivals = [c for c in read_commits(store, stream) if c.number >= number]
        if any(set(c.consumed) & set(inputs) for c in rivals):
            for path in produced:
                store.delete(path)
            return report
        number = max(c.number for c in rivals) + 1
    report.commit, report.consumed, report.produced = number, len(inputs), len(produced)
    return report


def _load(store: Store, stream: str, path: str, report: CompactionReport) -> Any:
    """One input's rows, or None (with a warning naming it) for a file that is not a segment."""
    data = store.read_bytes(path)
    try:
        table = read_segment(data, stream, where=f"{store.uri}/{path}")
    except CorruptFileError as exc:
        warnings.warn(f"compaction skips {exc}", CorruptFileWarning, stacklevel=3)
        return None
    report.bytes_before += len(data)
    return table


def _write_group(store: Store, stream: str, prefix: str, index: int, tables: list[Any],
                 report: CompactionReport, produced: list[str]) -> int:
    """Sort `tables` together and publish them as outputs ``<prefix>-<index>.parquet``…; the next index."""
    import pyarrow as pa

    merged = pa.concat_tables(tables, promote_options="default").sort_by(_sort_keys(stream))
    for start in range(0, max(merged.num_rows, 1), TARGET_ROWS):
        out = f"{prefix}-{index:04d}.parquet"
        data = write_parquet(merged.slice(start, TARGET_ROWS), compacted=True)
        store.publish(out, data, durable=True)
        report.bytes_after += len(data)
        produced.append(out)
        index += 1
    report.rows += merged.num_rows
    return index


def remove_expired(store: Store, stream: str, retention: float, *, now: float | None = None) -> int:
    """Delete files consumed by commits older than `retention` seconds, and stray outputs."""
    now = time.time() if now is None else now
    commits = read_commits(store, stream)
    consumed = {p for c in commits if now - c.ts >= retention for p in c.consumed}
    produced = {p for c in commits for p in c.produced}
    deleted = 0
    for path in sorted(consumed):
        if not store.exists(path):
            continue
        try:
            store.delete(path)
            deleted += 1
        except OSError as exc:
            raise StorageError(f"could not delete consumed file {store.uri}/{path}: {exc}") from exc
    stray_age = max(retention, STRAY_AGE)
    for path in store.list_files(f"compacted/stream={stream}"):
        if path not in produced and now - store.mtime(path) >= stray_age:  # a loser's leftovers
            store.delete(path)
            deleted += 1
    return deleted


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``1h``, ``7d`` or plain seconds → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise InvalidValueError(f"a duration is a number with an optional unit s, m, h or d (like 1h), got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]

