"""`ServerStore`: the server's one open store — writes, fresh reads, and a catalog kept warm.

The server holds one `tracklog.Client` per store. Writes go to its in-process writer and return
at once. Reads must see the caller's own writes, as MLflow's do, without paying a DuckDB fold
per request (a fold costs tens of milliseconds, a request should cost tens of microseconds):

- experiments, runs (with their latest metrics), searches and logged models come from the
  in-memory fold (`projections.TrackingState`); it folds this process's new events only after
  a write, and relists the store at most every `relist_interval` seconds for other writers;
- metric histories come from the DuckDB catalog, which a background thread refreshes every
  `refresh_interval` seconds, plus the points this server logged since (kept per run and key,
  tagged with the refresh cycle they belong to, dropped once a refresh has folded them). A point
  both in the catalog and still in memory is counted once: the two are merged as multisets. What
  the catalog answered is kept until its next refresh, so a history polled by many clients (or
  a UI) costs one query per refresh.

Everything that touches the in-memory fold runs on the event-loop thread; the background thread
publishes segments, folds them into the catalog and, every `compact_interval` seconds, compacts.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from projections import TrackingState
from projections.scope import Scope

if TYPE_CHECKING:
    import duckdb

    from tracklog.client import Client

__all__ = ["ServerStore"]

_log = logging.getLogger("tracklog.server")
Point = tuple[int, int, float]  # step, timestamp, value


class ServerStore:
    """One store as the server uses it.

    Args:
        client: the `tracklog.Client` of the store.
        relist_interval: at most this long (s) before other processes' published events show in
            runs, experiments and searches.
        refresh_interval: how often (s) this process's events are published and the catalog
            folds new segments (other processes' metric histories show after it).
        compact_interval: how often (s) the store is compacted (0: never; ``tracklog compact``).
    """

    def __init__(self, client: Client, *, relist_interval: float = 1.0, refresh_interval: float = 2.0,
                 compact_interval: float = 600.0) -> None:
        self.client = client
        self.backend = client._b
        self.log = self.backend.log
        self.relist_interval = relist_interval
        self.refresh_interval = refresh_interval
        self.compact_interval = compact_interval
        # the refresher publishes; the writer's own thread only flushes when its buffer fills
        self.log.writer.flush_interval = max(self.log.writer.flush_interval, 3600.0)
        self._cycle = 0
        self._recent: dict[tuple[str, str], list[tuple[int, Point]]] = {}  # (run, key) -> [(cycle, point)]
        self._recent_lock = threading.Lock()
        self._dirty = True  # own (non-metric) events appended since the fold last looked
        self._metric_writes = 0  # own metric appends, and how many the fold has seen
        self._metric_writes_seen = 0
        self._metric_seq = -1  # the newest own pending metric row folded into the state
        self._generation = 0  # catalog refreshes so far: what the history cache is valid for
        self._histories: dict[tuple[str, str], tuple[int, list[Point]]] = {}
        self._relisted = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._compacted = time.monotonic()
        self.refreshed_at = 0.0

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Fold the whole store once (state and catalog), then keep the catalog fresh in the background."""
        self.backend.state()
        self._relisted = time.monotonic()
        self._refresh_catalog()
        self._thread = threading.Thread(target=self._run, name="tracklog-server-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.log.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            try:
                self._refresh_catalog()
                if self.compact_interval and time.monotonic() - self._compacted > self.compact_interval:
                    self._compact()
            except Exception:  # keep going: a store hiccup must not stop the server's reads
                _log.exception("tracklog server: background refresh failed; retrying")

    def _refresh_catalog(self) -> None:
        cycle = self._cycle
        self._cycle += 1  # points logged from now on belong to the next cycle
        self.log.flush()  # every point of this cycle (and before) is published
        self.backend.catalog().refresh()  # ... and folded
        self._generation += 1  # cached histories are older than the catalog now (before the drop below)
        with self._recent_lock:
            for key in list(self._recent):
                kept = [p for p in self._recent[key] if p[0] > cycle]
                if kept:
                    self._recent[key] = kept
                else:
                    del self._recent[key]
        self.refreshed_at = time.time()

    def _compact(self) -> None:
        from eventlog.compaction import compact, remove_expired

        for stream in ("control", "metric"):
            compact(self.log.store, stream, compactor=self.log.writer.writer_id)
            remove_expired(self.log.store, stream, 3600.0)
        self._compacted = time.monotonic()

    # ---- writes ---------------------------------------------------------------------------

    def touched(self) -> None:
        """Own events are being appended: the next read folds them."""
        self._dirty = True

    def append(self, event: Any) -> Any:
        """Append an event of this server's own (the next read folds it)."""
        self._dirty = True
        return self.log.append(event)

    def wrote_metrics(self, run_id: str, points: list[tuple[str, int, int, float]]) -> None:
        """Own metric points (key, step, timestamp, value) of `run_id`, just appended: histories
        show them until the catalog has folded them."""
        self._metric_writes += 1
        cycle = self._cycle
        with self._recent_lock:
            for key, step, timestamp, value in points:
                self._recent.setdefault((run_id, key), []).append((cycle, (step, timestamp, value)))

    # ---- reads ----------------------------------------------------------------------------

    def state(self) -> TrackingState:
        """The in-memory fold with this process's own writes in it (metrics included)."""
        now = time.monotonic()
        relist = now - self._relisted >= self.relist_interval
        if self._dirty or relist:
            self._dirty = False
            if relist:
                self._relisted = now
            state = self.backend.state(stale_ok=self.relist_interval)
        else:
            state = self.backend.view.state
        if self._metric_writes == self._metric_writes_seen:
            return state
        self._metric_writes_seen = self._metric_writes
        pending = self.log.pending()  # metrics appended but not published: fold the new ones
        rows = pending.metrics
        start = bisect.bisect_right(rows, self._metric_seq, key=lambda r: r[0]) if rows and rows[0][0] <= self._metric_seq else 0
        if start < len(rows):
            wid = pending.writer_id
            state.apply_metric_rows((r, k, v, st, tm, s, wid) for s, _t, r, k, v, st, tm in rows[start:])
            self._metric_seq = rows[-1][0]
        return state

    def run_state(self, run_id: str) -> Any:
        """The run's state, or None. Other processes' runs show after the next relisting."""
        return self.state().run(run_id)

    def recent_points(self, run_id: str, key: str) -> list[Point]:
        with self._recent_lock:
            return [p for _, p in self._recent.get((run_id, key), ())]

    def history(self, run_id: str, key: str) -> list[Point]:
        """Every point of one metric, by step then time: the catalog's and the ones logged here
        since its last refresh, each once. Blocking (DuckDB): call from a worker thread."""
        recent = self.recent_points(run_id, key)
        rows = self.cached_history(run_id, key)
        if rows is None:
            generation = self._generation  # read before the query: a refresh meanwhile makes it stale
            cur = self.cursor()
            try:
                rows = cur.execute("SELECT step, timestamp, value FROM metric_points WHERE run_id = ? AND key = ? "
                                   "ORDER BY step, timestamp, writer_seq", [run_id, key]).fetchall()
            finally:
                cur.close()
            if len(self._histories) > 4096:
                self._histories.clear()
            self._histories[(run_id, key)] = (generation, rows)
        rows = list(rows)
        if not recent:
            return rows
        first = min(p[0] for p in recent)  # recent points are late steps: only the tail can hold them
        folded = Counter(map(_same, rows[bisect.bisect_left(rows, first, key=lambda r: r[0]):]))
        for point in recent:  # a point already folded is not counted twice
            if folded[_same(point)] > 0:
                folded[_same(point)] -= 1
            else:
                rows.append(point)
        rows.sort(key=lambda p: (p[0], p[1]))
        return rows

    def cached_history(self, run_id: str, key: str) -> list[Point] | None:
        """The catalog's points of one metric, if asked since its last refresh (else None)."""
        held = self._histories.get((run_id, key))
        return held[1] if held is not None and held[0] == self._generation else None

    def cursor(self, scope: Scope | None = None) -> duckdb.DuckDBPyConnection:
        """A cursor on the catalog as of its last refresh (no fold happens here); with `scope`, its
        views show only what the scope allows."""
        return self.backend.catalog().connect(refresh=False, scope=scope)

    def fresh_cursor(self, scope: Scope | None = None) -> duckdb.DuckDBPyConnection:
        """A cursor on the catalog with every event appended so far folded in (slow: a fold)."""
        self.log.flush()
        return self.backend.catalog().connect(refresh=True, scope=scope)


def _same(point: Point) -> tuple[int, int, Any]:
    step, timestamp, value = point
    return step, timestamp, "nan" if value != value else value
