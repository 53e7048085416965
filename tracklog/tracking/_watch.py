"""`RunWatcher`: runs this process watches, served by one daemon thread started on demand.

Heartbeats (`tracklog.tracking.heartbeat`) and system metrics
(`tracklog.integrations.system_metrics`) both keep a set of runs and one thread per process
that wakes every so often while any run is left; this is that part, once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["RunWatcher"]

T = TypeVar("T")


class RunWatcher(Generic[T]):
    """Runs (id → what the subclass keeps for each) and the thread that serves them.

    A subclass says how long to sleep (`interval`) and what to do on each tick (`tick`); the
    thread ends at the first tick with no run left and starts again with the next `add`. A forked
    child watches none of its parent's runs.
    """

    thread_name = "tracklog-watcher"

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._runs: dict[str, T] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()  # the thread's sleep; set() wakes it early
        self._thread: threading.Thread | None = None

    def add(self, run_id: str, item: T, before_start: Callable[[], object] | None = None) -> None:
        """Watch `run_id`; start the thread if none runs (calling `before_start` first)."""
        with self._lock:
            self._runs[run_id] = item
            if self._thread is None or not self._thread.is_alive():
                if before_start is not None:
                    before_start()
                # Read once, here: a bad setting is the caller's error, and one changed later
                # (another test's monkeypatch, a user's os.environ) cannot kill the thread mid-run.
                every = self.interval()
                self._thread = threading.Thread(target=self._loop, args=(every,), name=self.thread_name, daemon=True)
                self._thread.start()

    def unwatch(self, run_id: str) -> None:
        """No more for `run_id` (the thread ends at its next tick if no run is left)."""
        with self._lock:
            self._runs.pop(run_id, None)

    def watching(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def items(self) -> list[tuple[str, T]]:
        with self._lock:
            return list(self._runs.items())

    def interval(self) -> float:
        raise NotImplementedError

    def tick(self) -> None:
        raise NotImplementedError

    def _loop(self, every: float) -> None:
        while True:
            self._wake.wait(every)
            with self._lock:
                if not self._runs:
                    self._thread = None
                    return
            self.tick()
