"""One open store per tracking URI per process: its event log, its read model, its caches.

Every `Client` (and so the fluent API) on the same URI shares one backend, so a process has one
writer per store and reads its own writes.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from eventlog import EventLog, RunNotActiveError, RunNotFoundError, UnsupportedStoreError
from eventlog.storage import check_store_uri, split_uri
from projections import LifecycleStage, TrackingState, TrackingView
from projections.tracking import ExperimentState, RunState
from tracklog._config import get_artifact_root

if TYPE_CHECKING:
    import duckdb

    from projections.catalog import Catalog

__all__ = ["Backend", "backend_for", "normalize_uri"]

_KEY_CACHE_LIMIT = 100_000


def normalize_uri(uri: str) -> str:
    check_store_uri(uri)  # before a mistyped scheme becomes a folder name
    protocol, rest = split_uri(uri)
    if protocol in ("http", "https"):
        raise UnsupportedStoreError(
            f"tracking URI {uri!r} points at a tracking server; the http(s) client arrives with "
            "`tracklog server` — for now use a folder or an fsspec URL (s3://…, memory://…)"
        )
    return rest if protocol == "file" else uri


class Backend:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.log = EventLog.open(uri)
        # experiment 0 is implicit: its location is the store's folder, whatever the configuration
        self.view = TrackingView(self.log, default_artifact_location=f"{self.log.artifact_root}/0")
        self.ok_metric_keys: set[str] = set()
        self.active_runs: set[str] = set()  # runs known to exist and not be deleted: the fast path
        self._listed_at = 0.0
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._exists = False  # the store's folder was seen (it is never removed under us)

    @property
    def artifact_root(self) -> str:
        """Where new experiments keep artifacts: `get_artifact_root()`, else ``<store>/artifacts``."""
        return get_artifact_root() or self.log.artifact_root

    def require_store(self) -> None:
        """Reads never create a store: raise `StoreNotFoundError` for a local folder that is not
        there, unless this process has logged to it (its events are still buffered)."""
        if self._exists:
            return
        self._exists = self.log.exists()
        if not self._exists and not self.log.writer.has_pending():
            self.log.require_exists()

    def where(self) -> str:
        """The store, for a not-found message; says so when there is no store at all."""
        if self._exists or self.log.exists() or self.log.writer.has_pending():
            return self.uri
        return f"{self.uri}, where there is no tracklog store (the folder does not exist)"

    def create_store(self) -> None:
        """Create a new local store's folder now (a server serves a store from its start)."""
        if self.log.store.local_root is not None and not self._exists:
            os.makedirs(self.log.store.local_root, exist_ok=True)

    def cursor(self, as_of: Any = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB cursor with every view, current with the store.

        The process's own buffered events are flushed first, so a query sees its own writes.
        """
        self.require_store()
        if self.log.writer.has_pending():
            self.log.flush()
        return self.catalog().connect(as_of)

    def catalog(self) -> Catalog:
        """The store's DuckDB catalog, opened on first use (refreshed by `cursor`, not here)."""
        with self._lock:
            if self._catalog is None:
                from projections.catalog import Catalog

                self._catalog = Catalog(self.log)
        return self._catalog

    def state(self, *, stale_ok: float = 0.0) -> TrackingState:
        """The read model; with `stale_ok`, skip listing the store if it was listed that recently.

        The process's own events are always included. A store that does not exist reads as
        empty (writes read first, and create it); `require_store` is for pure reads.
        """
        now = time.monotonic()
        if stale_ok and now - self._listed_at < stale_ok:
            return self.view.refresh_own()
        state = self.view.refresh()
        self._listed_at = now
        return state

    def find_run(self, run_id: str) -> RunState | None:
        """The run from a recent listing, or else from a fresh one."""
        return self.state(stale_ok=1.0).run(run_id) or self.state().run(run_id)

    def find_experiment(self, experiment_id: str) -> ExperimentState | None:
        return self.state(stale_ok=1.0).experiment(experiment_id) or self.state().experiment(experiment_id)

    def require_active_run(self, run_id: str) -> None:
        """Raise unless `run_id` exists and is not deleted; cache the answer for the fast path."""
        run = self.find_run(run_id)
        if run is None:
            raise RunNotFoundError(f"Run with id={run_id!r} not found in {self.uri}")
        if run.lifecycle.value != LifecycleStage.ACTIVE:
            raise RunNotActiveError(
                f"The run {run_id} must be in the 'active' state to be logged to; current state is "
                f"{run.lifecycle.value}. Restore it with restore_run({run_id!r})."
            )
        self.active_runs.add(run_id)

    def remember_metric_key(self, key: str) -> None:
        if len(self.ok_metric_keys) >= _KEY_CACHE_LIMIT:
            self.ok_metric_keys.clear()
        self.ok_metric_keys.add(key)


_backends: dict[str, Backend] = {}
_backends_lock = threading.Lock()


def backend_for(uri: str) -> Backend:
    """The process's backend for `uri`, opened on first use."""
    key = normalize_uri(uri)
    backend = _backends.get(key)
    if backend is None:
        with _backends_lock:
            backend = _backends.get(key)
            if backend is None:
                backend = _backends[key] = Backend(key)
    return backend
