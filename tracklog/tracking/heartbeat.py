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

Runs logged through a tracking server (``http(s)://`` tracking URIs) are kept alive the same way
by `SERVER_HEARTBEATS`: one request per server and interval, naming every such run of this
process (``POST /api/2.0/tracklog/runs/heartbeats``); the server records the heartbeats. A
server that does not know the endpoint (MLflow's own) is asked no more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from eventlog import EventLog
from eventlog.errors import EndpointNotFoundError, RunNotFoundError, TracklogError
from eventlog.events import RunHeartbeatSent
from projections.catalog import heartbeat_timeout
from tracklog.tracking._watch import RunWatcher

__all__ = ["HEARTBEATS", "SERVER_HEARTBEATS", "Heartbeats", "ServerHeartbeats", "heartbeat_interval"]

_log = logging.getLogger("tracklog.heartbeat")


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


class _Server(Protocol):
    uri: str

    def send_heartbeats(self, run_ids: Sequence[str]) -> None: ...


class ServerHeartbeats(RunWatcher[_Server]):
    """The runs this process keeps alive through tracking servers (each with its server's store)."""

    thread_name = "tracklog-server-heartbeat"

    def watch(self, server: _Server, run_id: str) -> None:
        """Send heartbeats for `run_id` through `server` from now on; the first one now."""
        if self._send(server, [run_id]):
            self.add(run_id, server)

    def interval(self) -> float:
        return heartbeat_interval()

    def tick(self) -> None:
        by_server: dict[int, tuple[_Server, list[str]]] = {}
        for run_id, server in self.items():
            by_server.setdefault(id(server), (server, []))[1].append(run_id)
        for server, run_ids in by_server.values():
            if not self._send(server, run_ids):
                for run_id in run_ids:
                    self.unwatch(run_id)

    @staticmethod
    def _send(server: _Server, run_ids: list[str]) -> bool:
        """Whether to go on sending these runs' heartbeats to this server."""
        try:
            server.send_heartbeats(run_ids)
        except RunNotFoundError:
            return False  # deleted for good, or the server forgot it: nothing left to keep alive
        except EndpointNotFoundError:
            return False  # not a tracklog server: MLflow's has no heartbeats
        except (TracklogError, OSError) as exc:  # the next beat tries again: a blip must not kill the run
            _log.warning("heartbeats to %s failed; retrying: %s", server.uri, exc)
        return True


HEARTBEATS = Heartbeats()
SERVER_HEARTBEATS = ServerHeartbeats()
