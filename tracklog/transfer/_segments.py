"""Events written under deterministic identities: how an import lands exactly once.

An imported entity (a run, an experiment, a registered model…) gets its own writer id, derived
from the source and the entity (uuid5), and its events get the envelope the source gives them
(the original time and user), not the importer's. Segment names depend only on the writer id
and the first sequence number (`eventlog.writer.segment_path`), so an import that is run again,
or rerun after being killed halfway, publishes the same names: put-if-absent makes every event
land once, whoever gets there first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from eventlog.codec import control_table, metric_schema, write_parquet
from eventlog.compaction import read_commits
from eventlog.events import Event
from eventlog.storage import Store
from eventlog.writer import segment_path

if TYPE_CHECKING:
    from eventlog.log import EventLog

__all__ = ["IMPORTED", "METRIC_CHUNK", "IdentityWriter", "Landed", "finish", "identity", "progress_bar", "unfinished"]

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
    for field in metric_schema():
        kind = pa.dictionary(pa.int32(), pa.string()) if field.type == pa.string() else field.type
        fields.append(pa.field(field.name, kind))
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


def progress_bar(*, total: int | None, desc: str, unit: str, progress: bool | None, **options: Any) -> Any:
    """An importer's progress bar (None: shown on a terminal only; it vanishes when done)."""
    from tqdm.auto import tqdm

    disable = None if progress is None else not progress
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=False, dynamic_ncols=True, **options)
