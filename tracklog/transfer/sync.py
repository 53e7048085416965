"""``tracklog sync SRC DEST``: copy the events (and artifacts) DEST lacks from SRC, exactly once.

An event's identity is ``(writer_id, writer_seq)``, and it keeps it in DEST, with its ``ts`` and
``actor``: the conflict rules (last writer wins by ``(ts, writer_id, writer_seq)``…) give the
same answer on both sides. A sync reads which identities DEST holds (two columns of each live
file), then, for each live file of SRC — a writer's segment or a compaction output — keeps the
rows DEST lacks and publishes them per writer as ``<writer_id>-<first seq>.parquet``,
put-if-absent. A SRC segment DEST lacks entirely is republished under its own name, so two syncs
running at once publish the same names and each event lands once; live writers on either side
write under their own writer ids and are never in the way. Compacted stores work on both sides:
compaction outputs are read row by row, and segments a DEST compaction consumed still count.

Experiments: an experiment of SRC whose name DEST already has (the name claim) merges into DEST's
experiment: its events are rewritten to DEST's id, its creation is replaced by an
`ExperimentMerged` event (published under an identity of its own, so once). Artifact URIs that
point into SRC's artifact folder are rewritten to DEST's, and the artifact files DEST lacks are
copied. A registered model whose name DEST gives to another model is not copied (a warning says so).

SRC is treated as hostile (`tests/transfer/test_hostile_sync.py`); DEST never gets garbage:

- a SRC data file that is not a segment — not Parquet, truncated, another schema, a column of
  the wrong type, NULLs in the envelope, an unknown event kind, a control row that is no whole
  event, a writer id that is not a plain name (``../x`` would name a file outside DEST), a FIFO,
  a device, a symlink, over 1 GiB — is **skipped with a warning naming it**; the rest is copied
  once, and a later sync copies the file once it is repaired;
- a damaged or oversized (> 64 MiB) compaction commit **stops the sync** (`CorruptFileError`)
  before DEST changes: without it nobody knows which files are live. Paths a commit names
  outside the store are never read (only listed files are);
- a writer id collision — DEST holds another event under a SRC event's (writer id, seq), told
  apart by its ``ts`` — **stops the sync** (`TransferError`, naming both sides) before it
  publishes that file: copying would drop one of the two events. A metric segment DEST holds
  under the same file name is not read (so a no-op resync reads no metric file): a collision
  hidden there is not detected;
- an artifact that is a symlink, a FIFO or a device, a name with ``..`` (an object store's
  key), or a file whose size and sha256 are not those its run's `ArtifactLogged` recorded, is
  **skipped with a warning naming it**. Artifacts are streamed (`Store.publish_stream`, chunks
  of `tracklog.artifacts.CHUNK_SIZE`), checked before they become visible.

Known limit: if SRC is compacted while two syncs run at once, and one of them read SRC before the
compaction and the other after, the same control events can land twice (metric points fold once
in any case).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from eventlog.codec import events_from_table, write_parquet
from eventlog.compaction import read_commits
from eventlog.errors import (
    CorruptFileError,
    InvalidArtifactPathError,
    SourceNotFoundError,
    TransferError,
    UnsupportedSourceError,
)
from eventlog.events import ExperimentMerged, SourceImported
from eventlog.log import EventLog, relisting
from eventlog.writer import segment_path, segment_writer
from tracklog.artifacts import CHUNK_SIZE, validate_artifact_path
from tracklog.transfer._segments import IdentityWriter, Landed, identity

__all__ = ["SyncReport", "sync"]

_EXPERIMENT_NAMES = "experiment-names"
_MODEL_NAMES = "registered-models"
_URI_COLUMNS = ("artifact_uri", "artifact_location", "source")
_THREADS = 8  # files read and published at once: an object store answers each request in ms


@dataclass
class SyncReport:
    """What one pass of a sync copied."""

    source: str
    dest: str
    events: int = 0
    segments: int = 0
    artifacts: int = 0
    merged: dict[str, str] = field(default_factory=dict)  # SRC experiment id -> DEST id, where they differ
    warnings: list[str] = field(default_factory=list)


def sync(src: str, dest: str, *, watch: bool = False, interval: float = 5.0, artifacts: bool = True,
         on_pass: Callable[[SyncReport], object] | None = None, passes: int | None = None) -> SyncReport:
    """Copy what `dest` lacks from `src` (two tracklog stores: folders or fsspec URLs).

    Args:
        watch: keep syncing every `interval` seconds (until interrupted, or `passes` passes).
        artifacts: copy the artifact files `dest` lacks too.
        on_pass: called with each pass's report.

    Returns:
        The report of the last pass.

    Raises:
        SourceNotFoundError: `src` is a folder that does not exist.
        UnsupportedSourceError: either side is a tracking server.
    """
    for uri in (src, dest):
        if uri.startswith(("http://", "https://")):
            raise UnsupportedSourceError(f"sync copies between stores (folders or buckets), not tracking servers: {uri}")
    source = EventLog.open(src, durability="none")
    if not source.exists():
        raise SourceNotFoundError(f"no tracklog store at {src} to sync from: the folder does not exist")
    target = EventLog.open(dest)
    syncer = _Syncer(source, target, artifacts=artifacts)
    try:
        done = 0
        while True:
            report = relisting(syncer.run_pass)
            if on_pass is not None:
                on_pass(report)
            done += 1
            if not watch or (passes is not None and done >= passes):
                return report
            time.sleep(interval)
    finally:
        target.close()
        source.close()


class _Syncer:
    def __init__(self, source: EventLog, target: EventLog, *, artifacts: bool) -> None:
        self.source = source
        self.target = target
        self.copy_artifacts = artifacts
        # DEST's identities (of the writers asked about), by stream and writer id: seq -> ts
        self.held: dict[tuple[str, str], dict[int, int]] = {}
        self.indexed: set[str] = set()  # DEST files already in `held`
        self.handled: set[str] = set()  # SRC files copied in an earlier pass (immutable)
        self.skipped: set[str] = set()  # SRC files that are not segments or artifacts (warned about once)
        self.expected: dict[str, tuple[int, str]] = {}  # SRC artifact file -> (size, sha256) its run recorded
        # kept across passes: a later pass copies events of experiments created (and models
        # blocked) in an earlier one, whose creation it no longer reads
        self.mapping: dict[str, str] = {}  # SRC experiment id -> DEST id, where they differ
        self.blocked: set[str] = set()  # SRC registered model ids DEST gives another model's name
        self.lock = threading.Lock()  # metric files are copied by several threads
        self.index_lock = threading.Lock()  # one thread at a time reads DEST's identities
        self.src_root = source.artifact_root.rstrip("/")
        self.dest_root = target.artifact_root.rstrip("/")

    def run_pass(self) -> SyncReport:
        report = SyncReport(source=self.source.uri, dest=self.target.uri)
        self._index()
        # both streams' commits are read before anything is copied: a damaged commit stops the sync
        # (nobody knows which files are live without it) before it changes DEST
        control_files, metric = self.source.files("control"), self.source.files("metric")
        wanted = [p for p in control_files if p not in self.handled and p not in self.skipped]
        control = self._read(wanted, "control", report)
        # every row is checked against DEST's identities before anything is claimed or published:
        # a writer id collision stops the sync before it changes DEST
        missing = {path: self._missing("control", path, table) for path, table in control.items()}
        self._experiments(control, report)
        self._registered_models(control, report)
        self._expect_artifacts(control.values())
        for path, table in missing.items():
            self._copy(path, table, "control", report)
        metric = [p for p in metric if p not in self.handled and p not in self.skipped]
        # live SRC files hold disjoint events: they are copied side by side. A metric segment DEST
        # holds under its own name is not read (a no-op resync reads no metric file)
        _parallel(lambda path: self._copy_metric(path, report), [p for p in metric if p not in self.landed])
        self.handled.update(p for p in metric if p not in self.skipped)
        if self.copy_artifacts:
            self._artifacts(report)
        if report.events:
            self.target.append(SourceImported(source=self.source.uri, source_kind="tracklog",
                                              events_copied=report.events, artifacts=report.artifacts))
            self.target.flush()
        return report

    def _read(self, paths: Sequence[str], stream: str, report: SyncReport) -> dict[str, Any]:
        """The SRC files' rows by path; a file that is not a valid segment is skipped with a warning."""
        def read(path: str) -> Any:
            try:
                table = self.source.read(path)
                if stream == "control":
                    events_from_table(table, where=f"{self.source.uri}/{path}")  # each row a whole event
                return table
            except CorruptFileError as exc:
                self._skip(path, f"skipped {exc} (the rest is copied; repair or remove that file, then sync again)",
                           report)
                return None

        return {path: table for path, table in zip(paths, _parallel(read, paths), strict=True) if table is not None}

    def _skip(self, path: str, message: str, report: SyncReport) -> None:
        with self.lock:
            if path not in self.skipped:  # once per process: --watch does not repeat it every pass
                self.skipped.add(path)
                report.warnings.append(message)

    # ---- which identities DEST holds ------------------------------------------------------

    def _index(self) -> None:
        """Which DEST files may hold each writer's events, from names only (no file is read):
        its segments are named after their writer, its compaction commits name what they consumed."""
        store = self.target.store
        self.landed = Landed(store, store.list_files("events"))
        self.sources: dict[tuple[str, str], set[str]] = {}  # (stream, writer id) -> live DEST files that may hold its events
        for stream in ("control", "metric"):
            writers_of: dict[str, set[str]] = {}  # compaction output -> the writers it holds
            for commit in read_commits(store, stream):
                held = set().union(*(writers_of.get(p, {segment_writer(p)}) for p in commit.consumed))
                writers_of.update((p, held) for p in commit.produced)
            for path in self.target.files(stream):  # type: ignore[arg-type]
                for writer_id in writers_of.get(path, {segment_writer(path)}):
                    self.sources.setdefault((stream, writer_id), set()).add(path)

    def _read_held(self, stream: str, writers: Iterable[str]) -> None:
        """Fold into `held` the identities (and times) of the DEST files that may hold these
        writers' events."""
        import pyarrow.compute as pc

        def identities(path: str) -> Any:  # a DEST file that is not a segment stops the sync: CorruptFileError
            return self.target.read(path).select(["writer_id", "writer_seq", "ts"])

        with self.index_lock:
            new = sorted({p for w in writers for p in self.sources.get((stream, w), ())} - self.indexed)
            for path, table in zip(new, _parallel(identities, new), strict=True):
                for writer_id in pc.unique(table["writer_id"]).to_pylist():
                    rows = table.filter(pc.equal(table["writer_id"], writer_id))
                    with self.lock:
                        held = self.held.setdefault((stream, writer_id), {})
                        held.update(zip(rows["writer_seq"].to_pylist(), rows["ts"].to_pylist(), strict=True))
                self.indexed.add(path)

    def _missing(self, stream: str, path: str, table: Any) -> Any:
        """The rows of `table` whose identity DEST lacks.

        Raises:
            TransferError: DEST holds another event under the identity of one of these rows (same
                writer id and seq, another time): two stores' writers shared an id. Copying would
                lose one of the two events, so nothing of this file is.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        writers = pc.unique(table["writer_id"]).to_pylist()
        self._read_held(stream, writers)
        if not any((stream, w) in self.held for w in writers):
            return table  # no event of these writers is in DEST yet: the common case
        row_writers = table["writer_id"].to_pylist()
        seqs, times = table["writer_seq"].to_pylist(), table["ts"].to_pylist()
        keep = np.ones(len(seqs), dtype=bool)
        for i, (w, s, ts) in enumerate(zip(row_writers, seqs, times, strict=True)):
            held = self.held.get((stream, w), {}).get(s)
            if held is not None and held != ts:
                raise TransferError(
                    f"writer id collision: {self.source.uri}/{path} has event {w}#{s} at ts {ts}, but {self.target.uri} "
                    f"holds another event {w}#{s} (ts {held}) in one of {', '.join(sorted(self.sources.get((stream, w), ())))}: "
                    "two writers shared an id, and copying would lose one event; nothing of that file was copied "
                    "(rewrite one side's writer id, then sync again)")
            keep[i] = held is None
        return table if keep.all() else table.filter(pa.array(keep))

    # ---- copying ---------------------------------------------------------------------------

    def _copy_metric(self, path: str, report: SyncReport) -> None:
        table = self._read([path], "metric", report).get(path)
        if table is not None:
            self._copy(path, self._missing("metric", path, table), "metric", report)

    def _copy(self, path: str, table: Any, stream: str, report: SyncReport) -> None:
        """Publish `table` (rows DEST lacks) per writer, under `segment_path` names."""
        import pyarrow.compute as pc

        if stream == "control" and table.num_rows:
            table = self._rewrite(table)
        for writer_id in pc.unique(table["writer_id"]).to_pylist() if table.num_rows else []:
            rows = table.filter(pc.equal(table["writer_id"], writer_id)).sort_by("writer_seq")
            first = rows.slice(0, 1).to_pylist()[0]
            name = segment_path(stream, writer_id, first["writer_seq"], first["ts"])
            data = write_parquet(rows)
            published = self.target.store.publish(name, data)
            with self.lock:
                if published:
                    report.segments += 1
                    report.events += rows.num_rows
                held = self.held.setdefault((stream, writer_id), {})
                held.update(zip(rows["writer_seq"].to_pylist(), rows["ts"].to_pylist(), strict=True))
        with self.lock:
            self.handled.add(path)

    def _rewrite(self, table: Any) -> Any:
        """Merged experiments' ids, artifact URIs into DEST; blocked registered models dropped."""
        import pyarrow as pa
        import pyarrow.compute as pc

        mapping, blocked = self.mapping, self.blocked
        if mapping and "experiment_id" in table.column_names:
            ids = table["experiment_id"]
            merged = pc.is_in(ids, pa.array(list(mapping)))
            drop = pc.and_(pc.fill_null(merged, False), pc.equal(table["kind"], "ExperimentCreated"))
            table = table.filter(pc.invert(drop))
            new_ids = [mapping.get(i, i) if i is not None else None for i in table["experiment_id"].to_pylist()]
            table = table.set_column(table.column_names.index("experiment_id"), "experiment_id", pa.array(new_ids, pa.string()))
        if blocked and "registered_model_id" in table.column_names:
            hit = pc.fill_null(pc.is_in(table["registered_model_id"], pa.array(list(blocked))), False)
            table = table.filter(pc.invert(hit))
        if self.src_root != self.dest_root:
            for column in _URI_COLUMNS:
                if column in table.column_names:
                    values = table[column].to_pylist()
                    fixed = [self.dest_root + v[len(self.src_root):] if v and v.startswith(self.src_root + "/") else v
                             for v in values]
                    table = table.set_column(table.column_names.index(column), column, pa.array(fixed, pa.string()))
        return table

    # ---- experiments and registered models ---------------------------------------------------

    def _experiments(self, control: dict[str, Any], report: SyncReport) -> None:
        """Map (in `self.mapping`) the new experiments of SRC whose name DEST gives another id."""
        for row in _rows(control.values(), "ExperimentCreated", ("experiment_id", "name", "ts", "writer_id")):
            src_id, name = row["experiment_id"], row["name"]
            holder = self.target.read_claim(_EXPERIMENT_NAMES, name)
            if holder is None:
                candidate = src_id
                if self.target.read_claim("experiment-ids", src_id) not in (None, src_id):
                    candidate = str(int(identity(self.source.uri, src_id).replace("-", "")[:12], 16))
                self.target.claim("experiment-ids", candidate, candidate)
                holder = self.target.claim(_EXPERIMENT_NAMES, name, candidate)
            if holder != src_id:
                self.mapping[src_id] = holder
                report.merged[src_id] = holder
                writer = IdentityWriter(self.target.store, identity("sync-merge", self.source.uri, src_id, holder))
                writer.add(ExperimentMerged(experiment_id=holder, source_experiment_id=src_id, source=self.source.uri,
                                            name=name), row["ts"] // 1_000_000, self.target.writer.actor)
                writer.flush_control()

    def _registered_models(self, control: dict[str, Any], report: SyncReport) -> None:
        for row in _rows(control.values(), "RegisteredModelCreated", ("registered_model_id", "model_name")):
            rid, name = row["registered_model_id"], row["model_name"]
            if self.target.claim(_MODEL_NAMES, name, rid) != rid:
                self.blocked.add(rid)
                report.warnings.append(f"registered model {name!r} of {self.source.uri} not copied: {self.target.uri} "
                                       "has another model of that name")
        for row in _rows(control.values(), "ModelVersionCreated", ("registered_model_id", "version")):
            if row["registered_model_id"] not in self.blocked:
                self.target.claim(f"model-versions/{row['registered_model_id']}", str(row["version"]), "sync")

    # ---- artifacts -------------------------------------------------------------------------------

    def _expect_artifacts(self, tables: Iterable[Any]) -> None:
        """Remember the size and sha256 each SRC run recorded for its artifact files (the last
        `ArtifactLogged` of a path wins), to check the copies against."""
        roots = {r["run_id"]: r["artifact_uri"] for r in _rows(tables, "RunStarted", ("run_id", "artifact_uri"))}
        logged = _rows(tables, "ArtifactLogged", ("run_id", "path", "size", "sha256", "ts"))
        for row in sorted(logged, key=lambda r: r["ts"]):
            root = roots.get(row["run_id"]) or ""
            if row["sha256"] and root.startswith(self.src_root + "/"):
                self.expected[f"artifacts{root[len(self.src_root):]}/{row['path']}"] = (row["size"], row["sha256"])

    def _artifacts(self, report: SyncReport) -> None:
        """Copy the artifact files DEST lacks, streamed; a name that is not a plain relative
        path, a symlink, a FIFO or a device in SRC, and a file whose bytes are not what its run
        recorded, are skipped with a warning."""
        have = set(self.target.store.list_all("artifacts"))
        for path in self.source.store.list_all("artifacts"):
            if path in have or path in self.skipped:
                continue
            try:
                validate_artifact_path(path)
                with self.source.store.open_read(path) as fh:
                    if self.target.store.publish_stream(path, self._checked(path, fh)):
                        report.artifacts += 1
            except (CorruptFileError, InvalidArtifactPathError, _DigestMismatch) as exc:
                self._skip(path, f"artifact {self.source.uri}/{path} not copied: {exc}", report)
            except FileNotFoundError:
                continue  # removed since it was listed (a dangling symlink is refused above)

    def _checked(self, path: str, fh: Any) -> Iterator[bytes]:
        """`fh`'s bytes in chunks, hashed on the way; raises `_DigestMismatch` at the end (so
        nothing is published) if they are not the size and sha256 the run recorded."""
        digest, size = hashlib.sha256(), 0
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
        expected = self.expected.get(path)
        if expected is not None and (size, digest.hexdigest()) != expected:
            raise _DigestMismatch(f"it has {size} bytes with sha256 {digest.hexdigest()}, but its run recorded "
                                  f"{expected[0]} bytes with sha256 {expected[1]}")


class _DigestMismatch(Exception):
    """An artifact file whose bytes are not those its run recorded."""


def _parallel(fn: Callable[[str], Any], paths: Sequence[str]) -> list[Any]:
    """`fn` of each path, in order, on a few threads (reads and PUTs wait on the store)."""
    if len(paths) < 2:
        return [fn(p) for p in paths]
    with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="tracklog-sync") as pool:
        return list(pool.map(fn, paths))


def _rows(tables: Iterable[Any], kind: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    import pyarrow.compute as pc

    out: list[dict[str, Any]] = []
    for table in tables:
        if not table.num_rows or any(c not in table.column_names for c in columns):
            continue
        rows = table.filter(pc.equal(table["kind"], kind)).select(list(columns))
        out.extend(rows.to_pylist())
    return out

