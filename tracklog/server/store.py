"""`ServerStore`: the server's one open store — writes, fresh reads, and a catalog kept warm.

The server holds one `tracklog.Client` per store. Writes go to its in-process writer and return
at once. Reads must see the caller's own writes, as MLflow's do, without paying a DuckDB fold
per request (a fold costs tens of milliseconds, a request should cost tens of microseconds):

- experiments, runs (with their latest metrics), searches and logged models come from the
  in-memory fold (`projections.TrackingState`), which folds this process's events as they are
  appended and relists the store at most every `relist_interval` seconds for other writers;
- metric histories come from the DuckDB catalog, which a background thread refreshes every
  `refresh_interval` seconds, plus the points this process appended since, from memory — merged
  by event identity, so nothing is missing or doubled.

Everything that touches the in-memory fold runs on the event-loop thread; the background thread
only publishes segments and folds them into the catalog.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from projections import TrackingState

if TYPE_CHECKING:
    import duckdb

    from eventlog.writer import Batch
    from tracklog.client import Client

__all__ = ["ServerStore"]

_log = logging.getLogger("tracklog.server")


class ServerStore:
    """One store as the server uses it.

    Args:
        client: the `tracklog.Client` of the store.
        relist_interval: at most this long (s) before other processes' published events show.
        refresh_interval: how often (s) the catalog folds new segments (metric histories, SQL).
    """

    def __init__(self, client: Client, *, relist_interval: float = 1.0, refresh_interval: float = 1.0) -> None:
        self.client = client
        self.backend = client._b
        self.log = self.backend.log
        self.relist_interval = relist_interval
        self.refresh_interval = refresh_interval
        # the refresher publishes; the writer's own thread only flushes when its buffer fills
        self.log.writer.flush_interval = max(self.log.writer.flush_interval, 3600.0)
        self._published: list[Batch] = []  # own metric segments published, not yet folded into the catalog
        self._publish_lock = threading.Lock()  # held while publishing, and while reading own points
        self._dirty: dict[str, int] = {}  # run id -> refresh cycle of its last own metric write
        self._cycle = 0
        self._metric_writes = 0  # own metric appends, and how many were folded into the state
        self._metric_writes_folded = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refreshed_at = 0.0
        self.log.writer.on_publish.append(self._on_publish)

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Fold the whole store once (state and catalog), then keep the catalog fresh in the background."""
        self.backend.state()
        self._refresh_catalog()
        self._thread = threading.Thread(target=self._run, name="tracklog-server-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._publish_lock:
            self.log.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            try:
                self._refresh_catalog()
            except Exception:  # keep refreshing: a store hiccup must not stop the server's reads
                _log.exception("tracklog server: catalog refresh failed; retrying")

    def _refresh_catalog(self) -> None:
        cycle = self._cycle
        self._cycle += 1
        with self._publish_lock:
            self.log.flush()
            folded = list(self._published)
        self.backend.catalog().refresh()
        with self._publish_lock:
            ids = {id(b) for b in folded}
            self._published = [b for b in self._published if id(b) not in ids]
            for run_id, c in list(self._dirty.items()):  # list(): one atomic copy
                if c <= cycle:
                    self._dirty.pop(run_id, None)
        self.refreshed_at = time.time()

    def _on_publish(self, stream: str, path: str, batch: Batch) -> None:
        if stream == "metric":
            with self._lock_unless_held():
                self._published.append(batch)

    @contextmanager
    def _lock_unless_held(self) -> Iterator[None]:
        # The refresher publishes holding the publish lock (readers wait), so its hooks run
        # locked already; another flusher (a registry change, a full buffer) takes it if free.
        # Never wait here: the refresher may hold it while waiting for that flusher to finish.
        if self._publish_lock.acquire(blocking=False):
            try:
                yield
            finally:
                self._publish_lock.release()
        else:
            yield

    # ---- reads ----------------------------------------------------------------------------

    def state(self) -> TrackingState:
        """The in-memory fold, with this process's own writes (metrics included) folded in."""
        state = self.backend.state(stale_ok=self.relist_interval)
        if self._metric_writes != self._metric_writes_folded:
            self._metric_writes_folded = self._metric_writes
            pending = self.log.pending()
            wid = pending.writer_id
            state.apply_metric_rows((r, k, v, st, tm, s, wid) for s, _t, r, k, v, st, tm in pending.metrics)
        return state

    def wrote_metrics(self, run_id: str, count: int = 1) -> None:
        """Note own metric appends to `run_id` (they must show in reads until the catalog has them)."""
        self._metric_writes += count
        self._dirty[run_id] = self._cycle

    def own_points(self, run_id: str, key: str) -> list[tuple[int, int, float, str, int]]:
        """Own points of one metric not yet known to be in the catalog: (step, timestamp, value,
        writer_id, writer_seq)."""
        if run_id not in self._dirty:
            return []
        with self._publish_lock:
            batches = [*self._published, self.log.pending()]
        return [(st, tm, v, b.writer_id, s) for b in batches
                for s, _t, r, k, v, st, tm in b.metrics if r == run_id and k == key]

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the catalog as of its last refresh (no fold happens here)."""
        return self.backend.catalog().connect(refresh=False)

    def fresh_cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the catalog with every event published so far folded in (slow: a fold)."""
        with self._publish_lock:
            self.log.flush()
        return self.backend.catalog().connect(refresh=True)

    def wait_until_refreshed(self, timeout: float = 10.0) -> None:
        """Block until a catalog refresh that started after this call has finished (tests, SQL)."""
        start = time.time()
        while self.refreshed_at <= start and time.time() - start < timeout:
            time.sleep(0.01)

    def run_state(self, run_id: str) -> Any:
        """The run's state, or None. Other processes' runs show after the next relisting."""
        return self.state().run(run_id)
