"""Heartbeats: how a process proves that the runs it runs are alive.

One daemon thread per process appends a `RunHeartbeatSent` for each run this process started
or resumed and has not ended, every quarter of the heartbeat timeout
(``TRACKLOG_HEARTBEAT_TIMEOUT``, default 120 s: every 30 s), and asks the writer to publish at
once, so other processes see it within the interval. Logging costs nothing more: the hot path
never looks at a clock or a flag for this. When the process dies without ending its runs
(``kill -9``, OOM, a lost machine), the heartbeats stop and every reader's ``runs`` view
reads those runs KILLED, ended at their last sign of life (`projections.views.RUNS_LIVE`).

A process that was only paused (SIGSTOP, a partition) sends a heartbeat as soon as it runs
again — its runs read RUNNING again.
"""

from __future__ import annotations

import os
import threading

from eventlog import EventLog
from eventlog.events import RunHeartbeatSent
from projections.catalog import heartbeat_timeout

__all__ = ["HEARTBEATS", "Heartbeats", "heartbeat_interval"]


def heartbeat_interval() -> float:
    """Seconds between two heartbeats: a quarter of the timeout (at most 30 s with the default)."""
    return heartbeat_timeout() / 4


class Heartbeats:
    """The runs this process keeps alive, and the one thread that sends their heartbeats."""

    def __init__(self) -> None:
        self._runs: dict[str, EventLog] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def watch(self, log: EventLog, run_id: str) -> None:
        """Send heartbeats for `run_id` (to `log`) from now on; the first one now."""
        log.append(RunHeartbeatSent(run_id=run_id))
        with self._lock:
            self._runs[run_id] = log
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tracklog-heartbeat", daemon=True)
                self._thread.start()

    def unwatch(self, run_id: str) -> None:
        """The run ended (or was deleted): no more heartbeats for it."""
        with self._lock:
            self._runs.pop(run_id, None)

    def watching(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def beat(self) -> None:
        """Send one heartbeat for every watched run and publish them."""
        with self._lock:
            runs = list(self._runs.items())
        logs = {}
        for run_id, log in runs:
            try:
                log.append(RunHeartbeatSent(run_id=run_id))
                logs[id(log)] = log
            except Exception:  # noqa: BLE001 - a closed log: its runs are no longer this process's
                self.unwatch(run_id)
        for log in logs.values():
            log.writer.publish_soon(0.0)

    def _run(self) -> None:
        while True:
            # after a pause (SIGSTOP, a suspended VM) the wait is over at once: a beat right away
            self._wake.wait(heartbeat_interval())
            with self._lock:
                if not self._runs:
                    self._thread = None
                    return
            self.beat()

    def _after_fork_in_child(self) -> None:
        """A forked child runs none of its parent's runs (and has no thread)."""
        self._runs = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None


HEARTBEATS = Heartbeats()
os.register_at_fork(after_in_child=HEARTBEATS._after_fork_in_child)
