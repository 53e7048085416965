"""`ServerStore`: the server's one open store — the catalog kept warm in the background.

The server reads and writes through a `tracklog.Client` on a `LocalStore`, like any process:
reads query the catalog (the one read model), and a read after this server's own writes
publishes and folds them first, from memory (`Catalog.sync`), so a client reads its writes at
once, as MLflow's clients expect. What other processes write to the store is folded by a
background thread every `refresh_interval` seconds (requests never list the store); the same
thread compacts the store every `compact_interval` seconds.

Start-up folds only what is new since the catalog was last current: a warm catalog opens in
about the time it takes to list the store.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from eventlog.compaction import compact, remove_expired
from projections.scope import Scope

if TYPE_CHECKING:
    import duckdb

    from tracklog.tracking.client import Client
    from tracklog.tracking.local import LocalStore

__all__ = ["ServerStore"]

_log = logging.getLogger("tracklog.server")


class ServerStore:
    """One store as the server uses it.

    Args:
        client: the `tracklog.Client` of the store (a local one).
        refresh_interval: how often (s) other processes' events are folded (and this server's
            own pending events published).
        compact_interval: how often (s) the store is compacted (0: never; ``tracklog compact``).
    """

    def __init__(self, client: Client, *, refresh_interval: float = 1.0, compact_interval: float = 600.0) -> None:
        self.client = client
        self.local: LocalStore = client.store  # type: ignore[assignment]
        self.log = self.local.log
        self.refresh_interval = refresh_interval
        self.compact_interval = compact_interval
        self.local.max_age = None  # requests read what the background thread folded, plus their own writes
        self.local.heartbeats = False  # the runs are its clients' (their processes send heartbeats, if any)
        self.local.end_waits = False  # a request never waits for an unreachable store (the WAL keeps its events)
        self.local.declares = True  # the server records crashed runs' RunHeartbeatLost as it finds them
        # the refresher publishes; the writer's own thread only flushes when its buffer fills
        self.log.writer.flush_interval = max(self.log.writer.flush_interval, 3600.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._compacted = time.monotonic()
        self.refreshed_at = 0.0  # time.time() of the last background fold

    def start(self) -> None:
        """Fold what is new in the store, then keep folding in the background."""
        self.refresh()
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
                self.refresh()
                if self.compact_interval and time.monotonic() - self._compacted > self.compact_interval:
                    self._compact()
            except Exception:  # keep going: a store hiccup must not stop the server's reads
                _log.exception("tracklog server: background refresh failed; retrying")

    def refresh(self) -> None:
        """Publish this server's pending events and fold every new segment of the store."""
        self.local.catalog.sync(max_age=0.0)
        self.local.cursor().close()  # declares crashed runs lost, at most once per heartbeat interval
        self.refreshed_at = time.time()

    def _compact(self) -> None:
        for stream in ("control", "metric"):
            compact(self.log.store, stream, compactor=self.log.writer.writer_id)
            remove_expired(self.log.store, stream, 3600.0)
        self._compacted = time.monotonic()

    def cursor(self, as_of: int | float | None = None, *, fresh: bool = False,
               scope: Scope | None = None) -> duckdb.DuckDBPyConnection:
        """A catalog cursor with this server's own writes folded (and, `fresh`, every new segment
        of the store); with `as_of` (epoch ms), the store as it was then; with `scope`, its views
        show only what the scope allows (`projections.scope`)."""
        if fresh:
            self.refresh()
        return self.local.cursor(as_of, scope=scope)
