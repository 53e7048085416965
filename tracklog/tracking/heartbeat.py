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

from eventlog import EventLog
from eventlog.events import RunHeartbeatSent
from projections.catalog import heartbeat_timeout
from tracklog.tracking._watch import RunWatcher

__all__ = ["HEARTBEATS", "Heartbeats", "heartbeat_interval"]


def heartbeat_interval() -> float:
    """Seconds between two heartbeats: a quarter of the timeout (at most 30 s with the default)."""
    return heartbeat_timeout() / 4


class Heartbeats(RunWatcher[EventLog]):
    """The runs this process keeps alive (each with the log its heartbeats go to), and the one
    thread that sends their heartbeats."""

    thread_name = "tracklog-heartbeat"

    def watch(self, log: EventLog, run_id: str) -> None:
        """Send heartbeats for `run_id` (to `log`) from now on; the first one now."""
        log.append(RunHeartbeatSent(run_id=run_id))
        self.add(run_id, log)

    def interval(self) -> float:
        # after a pause (SIGSTOP, a suspended VM) the wait is over at once: a beat right away
        return heartbeat_interval()

    def tick(self) -> None:
        self.beat()

    def beat(self) -> None:
        """Send one heartbeat for every watched run and publish them."""
        logs = {}
        for run_id, log in self.items():
            try:
                log.append(RunHeartbeatSent(run_id=run_id))
                logs[id(log)] = log
            except Exception:  # noqa: BLE001 - a closed log: its runs are no longer this process's
                self.unwatch(run_id)
        for log in logs.values():
            log.writer.publish_soon(0.0)


HEARTBEATS = Heartbeats()
