"""Events written under deterministic identities: how an import lands exactly once.

An imported entity (a run, an experiment, a registered model…) gets its own writer id, derived
from the source and the entity (uuid5), and its events get the envelope the source gives them
(the original time and user), not the importer's. Segment names depend only on the writer id
and the first sequence number (`eventlog.writer.segment_path`), so an import that is run again,
or rerun after being killed halfway, publishes the same names: put-if-absent makes every event
land once, whoever gets there first.

An entity that changed in the source since it was imported is imported again as a new
*generation* (`Lineage`): only what changed (`tracklog.transfer._delta`), under a writer id
derived from the entity, the generation's number and the source's state. The generations done
are claims (``imports/<entity>/<n>`` holds the writer id and the state), so a rerun of a killed
re-import finds the same generation number, the same history and the same state, and writes the
same segments again (put-if-absent: once); and a source whose state is the one last imported is
skipped after reading those claims alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from eventlog.codec import control_table, events_from_table, metric_schema, write_parquet
from eventlog.compaction import read_commits
from eventlog.events import Event
from eventlog.storage import Store
from eventlog.writer import segment_path
from tracklog.transfer._delta import point_key

if TYPE_CHECKING:
    import duckdb

    from eventlog.log import EventLog

__all__ = ["IMPORTED", "METRIC_CHUNK", "IdentityWriter", "Landed", "Lineage", "finish", "held_events", "held_points",
           "identity", "lineage", "progress_bar", "unfinished"]

IMPORTED = "imports"  # claims marking an entity imported completely (every importer's)

METRIC_CHUNK = 1_000_000  # metric points per segment
_NAMESPACE = uuid.UUID("5f0c7a52-6c1e-4e8e-9a43-7d1b2c0f15a1")  # tracklog's imports


def identity(*parts: str) -> str:
    """The writer id of an imported entity: the same parts always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


class Landed:
    """Which segment paths a store holds, counting those a compaction consumed (and may have
    deleted) as held: a rerun must not publish them again."""

    def __init__(self, store: Store, listing: Iterable[str] | None = None) -> None:
        """With `listing` (the store's segment paths, listed after its commits were read), a
        path is looked up there rather than asked of the store (one request per path on S3)."""
        self.store = store
        self._consumed = {p for stream in ("control", "metric") for c in read_commits(store, stream) for p in c.consumed}
        self._listed = set(listing) if listing is not None else None

    def __contains__(self, path: str) -> bool:
        if path in self._consumed:
            return True
        return path in self._listed if self._listed is not None else self.store.exists(path)


class IdentityWriter:
    """Writes one entity's events under `writer_id`, with sequence numbers from 0 and the
    times and actors the caller gives: control events in one segment, metric points in
    segments of `METRIC_CHUNK`."""

    def __init__(self, store: Store, writer_id: str, *, durable: bool = False) -> None:
        self.store = store
        self.writer_id = writer_id
        self.durable = durable
        self.seq = 0
        self.control: list[Event] = []
        self.published = 0  # segments this writer created (0 on a rerun that found them all)

    def add(self, event: Event, ts_ms: int, actor: str) -> None:
        """Queue `event` as if written at `ts_ms` (ms since the epoch) by `actor`.

        The ns part below the ms keeps the order of the events given at one instant."""
        ts = max(int(ts_ms), 0) * 1_000_000 + self.seq % 1_000_000
        self.control.append(msgspec.structs.replace(event, writer_id=self.writer_id, writer_seq=self.seq, ts=ts,
                                                    actor=actor))
        self.seq += 1

    def flush_control(self) -> str | None:
        """Publish the queued control events as one segment; its path (None if none were queued)."""
        if not self.control:
            return None
        first = self.control[0]
        path = segment_path("control", self.writer_id, first.writer_seq, first.ts)
        self.published += self.store.publish(path, write_parquet(control_table(self.control)), durable=self.durable)
        self.control = []
        return path

    def add_metrics(self, run_id: str, keys: Sequence[str], values: Any, steps: Any, timestamps: Any,
                    actor: str) -> int:
        """Publish metric points (columns, in a deterministic order) as segments; returns how many."""
        import numpy as np
        import pyarrow as pa

        n = len(keys)
        values = np.asarray(values, dtype=np.float64)
        steps = np.asarray(steps, dtype=np.int64)
        timestamps = np.asarray(timestamps, dtype=np.int64)
        keys_arr = pa.array(keys, pa.string()) if not isinstance(keys, pa.Array) else keys
        for start in range(0, n, METRIC_CHUNK):
            stop = min(start + METRIC_CHUNK, n)
            seqs = np.arange(self.seq, self.seq + stop - start, dtype=np.int64)
            ts = np.maximum(timestamps[start:stop], 0) * 1_000_000 + seqs % 1_000_000
            table = pa.Table.from_arrays([
                pa.array(np.full(stop - start, run_id, dtype=object), pa.string()).dictionary_encode(),
                keys_arr.slice(start, stop - start).dictionary_encode(),
                pa.array(values[start:stop]), pa.array(steps[start:stop]), pa.array(timestamps[start:stop]),
                pa.array(ts), pa.array([self.writer_id] * (stop - start), pa.string()).dictionary_encode(),
                pa.array(seqs), pa.array([actor] * (stop - start), pa.string()).dictionary_encode(),
            ], schema=_dictionary_schema())
            path = segment_path("metric", self.writer_id, int(seqs[0]), int(ts[0]))
            self.published += self.store.publish(path, write_parquet(table), durable=self.durable)
            self.seq += stop - start
        return n


def _dictionary_schema() -> Any:
    import pyarrow as pa

    fields = []
    for column in metric_schema():
        kind = pa.dictionary(pa.int32(), pa.string()) if column.type == pa.string() else column.type
        fields.append(pa.field(column.name, kind))
    return pa.schema(fields)


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def unfinished(log: EventLog, writer_id: str) -> IdentityWriter | None:
    """A writer for the entity under `writer_id`, or None if an import finished it before."""
    if log.read_claim(IMPORTED, writer_id) is not None:
        return None
    return IdentityWriter(log.store, writer_id)


def finish(log: EventLog, writer: IdentityWriter) -> int:
    """Publish the rest of `writer`'s events and mark its entity imported (a rerun skips it);
    returns how many segments the writer created."""
    writer.flush_control()
    log.claim(IMPORTED, writer.writer_id, "done")
    return writer.published


@dataclass
class Lineage:
    """The generations earlier imports wrote for one entity of one source (`base`): their
    writer ids in order, the source state the last one brought, and what it noted (`note`: an
    importer's own record, such as the id an experiment got in the store)."""

    base: str
    writers: list[str] = field(default_factory=list)
    state: str | None = None
    note: str = ""

    def writer(self, store: Store, state: str) -> IdentityWriter:
        """The writer of the next generation, for the source in `state`."""
        return IdentityWriter(store, identity(self.base, str(len(self.writers)), state))

    def finish(self, log: EventLog, writer: IdentityWriter, state: str, note: str = "") -> int:
        """Publish the rest of `writer`'s events and record its generation as done; returns how
        many segments the writer created."""
        writer.flush_control()
        record = json.dumps({"writer": writer.writer_id, "state": state, "note": note})
        log.claim(IMPORTED, f"{self.base}/{len(self.writers)}", record)
        return writer.published


def lineage(log: EventLog, base: str) -> Lineage:
    """The generations done for the entity `base` (one claim read per generation, plus one)."""
    found = Lineage(base)
    while (record := log.read_claim(IMPORTED, f"{base}/{len(found.writers)}")) is not None:
        done = json.loads(record)
        found.writers.append(done["writer"])
        found.state, found.note = done["state"], done.get("note", "")
    return found


def held_events(cursor: duckdb.DuckDBPyConnection, writers: list[str]) -> list[Event]:
    """The control events the store's catalog holds from `writers` (an entity's generations)."""
    if not writers:
        return []
    table = cursor.sql("SELECT * FROM control WHERE writer_id IN (SELECT unnest($w))", params={"w": writers}).to_arrow_table()
    return events_from_table(table, where="the store's catalog")


def held_points(cursor: duckdb.DuckDBPyConnection, writers: list[str]) -> set[tuple[str, int, int, Any]]:
    """The metric points the store's catalog holds from `writers`, as `_delta.point_key`s."""
    if not writers:
        return set()
    rows = cursor.execute("SELECT key, step, timestamp, value FROM metric_points WHERE writer_id IN (SELECT unnest($w))",
                          {"w": writers}).fetchall()
    return {point_key(*row) for row in rows}


def progress_bar(*, total: int | None, desc: str, unit: str, progress: bool | None, **options: Any) -> Any:
    """An importer's progress bar (None: shown on a terminal only; it vanishes when done)."""
    from tqdm.auto import tqdm

    disable = None if progress is None else not progress
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=False, dynamic_ncols=True, **options)
