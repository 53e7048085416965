"""Crashed runs: a run whose process died without ending it reads KILLED, ended at its last sign
of life, once its heartbeats are a timeout old — on every read surface, with nobody running a
command; a paused process's run reads RUNNING again when it sends its next heartbeat.

Real processes, really SIGKILLed or SIGSTOPped; TRACKLOG_HEARTBEAT_TIMEOUT=2 (heartbeats every 0.5 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from click.testing import CliRunner

import tracklog
from eventlog.errors import InvalidValueError
from projections.catalog import heartbeat_timeout
from tests.server.conftest import ServerProcess
from tracklog.cli import cli

TIMEOUT = "2"
_TRAINER = textwrap.dedent("""
    import sys, time, tracklog
    tracklog.set_tracking_uri(sys.argv[1])
    run = tracklog.start_run(run_name="trainer")
    tracklog.log_metric("loss", 1.0, step=0)
    tracklog.flush()
    print(run.info.run_id, flush=True)
    time.sleep(600)
""")


@pytest.fixture
def heartbeat_env(monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("TRACKLOG_HEARTBEAT_TIMEOUT", TIMEOUT)
    return {**os.environ, "TRACKLOG_HEARTBEAT_TIMEOUT": TIMEOUT}


@pytest.fixture
def trainer(tmp_path, heartbeat_env) -> Iterator[Callable[[str], tuple[subprocess.Popen[str], str]]]:
    """Start a process that starts a run, logs a point and then only lives; gives (process, run id)."""
    procs: list[subprocess.Popen[str]] = []

    def start(store: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen([sys.executable, "-c", _TRAINER, store], stdout=subprocess.PIPE, text=True,
                                env=heartbeat_env)
        procs.append(proc)
        assert proc.stdout is not None
        return proc, proc.stdout.readline().strip()

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _wait_for(read: Callable[[], object], expected: object, within: float = 30.0) -> object:
    deadline = time.monotonic() + within
    while (got := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return got


def test_a_sigkilled_run_reads_killed_on_every_surface(tmp_path, trainer, heartbeat_env) -> None:
    store = str(tmp_path / "store")
    proc, run_id = trainer(store)
    client = tracklog.Client(store)
    time.sleep(3 * float(TIMEOUT))  # alive past the timeout: its heartbeats keep it RUNNING
    assert client.get_run(run_id).info.status == "RUNNING"
    killed_at = time.time() * 1000
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert _wait_for(lambda: client.get_run(run_id).info.status, "KILLED") == "KILLED"
    run = client.get_run(run_id)
    assert killed_at - 1500 <= run.info.end_time <= killed_at  # its last heartbeat, before the kill
    assert [r.info.run_id for r in client.search_runs(["0"], "attributes.status = 'KILLED'")] == [run_id]
    assert client.search_runs(["0"], "attributes.status = 'RUNNING'") == []
    assert client.sql(f"SELECT status, end_time_ms FROM runs WHERE run_id = '{run_id}'").fetchall() == \
        [("KILLED", run.info.end_time)]
    listed = CliRunner().invoke(cli, ["runs", "list", "--store", store])
    assert listed.exit_code == 0 and "KILLED" in listed.output, listed.output

    server = ServerProcess(store, None, tmp_path / "server.log", env=heartbeat_env)
    try:
        # The server's writer republishes the killed process's WAL: a heartbeat it appended but had
        # not published yet (killed in between) can move the end a beat later, for every reader.
        rest = requests.get(f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=30).json()
        ended = rest["run"]["info"]["end_time"]
        assert rest["run"]["info"]["status"] == "KILLED" and killed_at - 1500 <= ended <= killed_at
        assert _wait_for(lambda: client.get_run(run_id).info.end_time, ended) == ended
        table = requests.post(f"{server.url}/api/2.0/tracklog/runs/table", json={"experiment_ids": ["0"]}, timeout=30)
        row = dict(zip(table.json()["columns"], table.json()["rows"][0], strict=False))
        assert (row["run_id"], row["status"], row["end_time"]) == (run_id, "KILLED", ended)  # the UI's table
    finally:
        server.stop()


def test_a_sigkilled_run_logged_through_a_tracking_server_reads_killed(tmp_path, trainer, heartbeat_env) -> None:
    """A process that logs through `tracklog server` sends its heartbeats there: alive, its run
    stays RUNNING past the timeout; SIGKILLed, it reads KILLED, declared dead by the server."""
    server = ServerProcess(str(tmp_path / "store"), None, tmp_path / "server.log", env=heartbeat_env)
    try:
        proc, run_id = trainer(server.url)
        client = tracklog.Client(server.url)
        time.sleep(3 * float(TIMEOUT))
        assert client.get_run(run_id).info.status == "RUNNING"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _wait_for(lambda: client.get_run(run_id).info.status, "KILLED") == "KILLED"
        assert client.get_run(run_id).info.end_time is not None
        ended = subprocess.run([sys.executable, "-c", "import sys, tracklog; tracklog.set_tracking_uri(sys.argv[1]);"
                                "r = tracklog.start_run(); tracklog.end_run(); print(r.info.run_id)", server.url],
                               capture_output=True, text=True, env=heartbeat_env, timeout=120)
        time.sleep(2 * float(TIMEOUT))  # a run ended through the server is never declared dead
        assert client.get_run(ended.stdout.split()[-1]).info.status == "FINISHED"
    finally:
        server.stop()
    declared = tracklog.Client(str(tmp_path / "store")).sql(
        f"SELECT declared_dead_by IS NOT NULL FROM runs WHERE run_id = '{run_id}'").fetchall()
    assert declared == [(True,)]


def test_the_log_records_who_declared_the_run_dead(tmp_path, trainer) -> None:
    """A reader that writes to the store appends RunHeartbeatLost once, with its user and time."""
    store = str(tmp_path / "store")
    proc, run_id = trainer(store)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    client = tracklog.Client(store)
    client.create_run("0")  # this process writes to the store: its reads declare crashed runs lost
    assert _wait_for(lambda: client.get_run(run_id).info.status, "KILLED") == "KILLED"
    client.get_run(run_id)  # a later read does not declare it again
    time.sleep(float(TIMEOUT))
    client.search_runs(["0"])
    tracklog.flush()
    rows = client.sql(f"SELECT actor FROM events WHERE kind = 'RunHeartbeatLost' AND run_id = '{run_id}'").fetchall()
    assert len(rows) == 1 and rows[0][0]
    assert client.sql(f"SELECT declared_dead_by FROM runs WHERE run_id = '{run_id}'").fetchall() == [rows[0]]


def test_a_paused_process_runs_again_on_its_next_heartbeat(tmp_path, trainer) -> None:
    store = str(tmp_path / "store")
    proc, run_id = trainer(store)
    client = tracklog.Client(store)
    client.create_run("0")  # a writer: it also declares the paused run lost
    proc.send_signal(signal.SIGSTOP)
    try:
        assert _wait_for(lambda: client.get_run(run_id).info.status, "KILLED") == "KILLED"
    finally:
        proc.send_signal(signal.SIGCONT)
    assert _wait_for(lambda: client.get_run(run_id).info.status, "RUNNING") == "RUNNING"
    assert client.get_run(run_id).info.end_time is None


def test_a_run_ended_normally_never_reads_killed(tmp_path, heartbeat_env) -> None:
    store = str(tmp_path / "store")
    done = subprocess.run([sys.executable, "-c", "import sys, tracklog; tracklog.set_tracking_uri(sys.argv[1]);"
                           "r = tracklog.start_run(); tracklog.end_run(); print(r.info.run_id)", store],
                          capture_output=True, text=True, env=heartbeat_env, timeout=120)
    run_id = done.stdout.split()[-1]
    time.sleep(2 * float(TIMEOUT))
    assert tracklog.Client(store).get_run(run_id).info.status == "FINISHED"


@pytest.mark.parametrize("raw", ["0", "-3", "soon", "nan"])
def test_a_bad_timeout_is_refused(monkeypatch, raw) -> None:
    monkeypatch.setenv("TRACKLOG_HEARTBEAT_TIMEOUT", raw)
    with pytest.raises(InvalidValueError, match=f"TRACKLOG_HEARTBEAT_TIMEOUT must be a number of seconds >= 1, got '{raw}'"):
        heartbeat_timeout()


def test_heartbeats_follow_the_timeout(monkeypatch) -> None:
    from tracklog.tracking.heartbeat import heartbeat_interval

    monkeypatch.setenv("TRACKLOG_HEARTBEAT_TIMEOUT", "8")
    assert heartbeat_interval() == 2.0
    monkeypatch.delenv("TRACKLOG_HEARTBEAT_TIMEOUT")
    assert heartbeat_interval() == 30.0


