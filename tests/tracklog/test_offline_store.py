"""Logging to an S3 store that goes away: a real S3 server (moto) on loopback, killed and
restarted, or paused (SIGSTOP), while real processes log to it with the fluent API.

moto keeps its data in memory, so a restarted server starts empty (the bucket is created
again): what it holds afterwards is exactly what was published after the restart, which is
what the exactly-once checks count. The paused server keeps its data, and holds the requests
sent to it until it resumes (s3fs's publish then hangs rather than times out): what it holds
afterwards is the whole run. A retried publish of a segment that did land (its answer lost)
is pinned in tests/eventlog/test_offline_writer.py.
"""

from __future__ import annotations

import collections
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from eventlog import EventLog
from eventlog.events import MetricLogged, ParamLogged, RunEnded, RunStarted

pytest.importorskip("s3fs")
pytest.importorskip("moto")

BUCKET = "tracklog-offline"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """A moto S3 server process on a fixed loopback port that a test can kill, start again
    (empty) and pause."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto server did not start")
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=BUCKET)

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    yield server
    server.kill()


@pytest.fixture
def env(tmp_path, moto: MotoServer) -> dict[str, str]:
    """The environment of the logging processes: the S3 server, a store in it, a WAL of their own."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRACKLOG_", "MLFLOW_"))}
    out.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=moto.endpoint,
        AWS_DEFAULT_REGION="us-east-1", TRACKLOG_CACHE_DIR=str(tmp_path / "cache"),
        TRACKLOG_TRACKING_URI=f"s3://{BUCKET}/{uuid.uuid4().hex}", TRACKLOG_PUBLISH_WAIT="1",
        PYTHONUNBUFFERED="1",
    )
    return out


class Child:
    """A logging process driven line by line: it says what it did, and waits to be told to go on."""

    def __init__(self, script: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []

    def expect(self, word: str, timeout: float = 120) -> dict:
        """Wait for the line ``word {json}`` and return its json."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if not ready:
                if self.proc.poll() is not None:
                    break
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if line.startswith(word + " "):
                return json.loads(line[len(word) + 1:])
        self.proc.kill()
        raise AssertionError(f"the child never said {word!r}; it said {self.lines}, stderr: {self.stderr()}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 120) -> str:
        """Wait for the exit (code 0); returns stderr."""
        out, err = self.proc.communicate(timeout=timeout)
        self.lines += out.splitlines(keepends=True)
        assert self.proc.returncode == 0, err
        return err

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


PRELUDE = """
import json, sys, time
import tracklog
from tracklog.tracking.local import LocalStore

def say(word, **data):
    print(word, json.dumps(data), flush=True)

def wait_for_go():
    assert sys.stdin.readline().strip() == "go"

def writer():
    return LocalStore.open(tracklog.get_tracking_uri()).log.writer
"""


def store_events(uri: str, endpoint: str, tmp_path) -> list:
    """Every event published in the store (read by a process of its own: the test's)."""
    os.environ["TRACKLOG_CACHE_DIR"] = str(tmp_path / "reader-cache")  # not the children's WAL
    log = EventLog.open(uri, durability="none", storage_options={
        "endpoint_url": endpoint, "key": "testing", "secret": "testing"})
    try:
        return list(log.scan(include_pending=False))
    finally:
        log.close()


@pytest.fixture(autouse=True)
def _restore_cache_dir() -> Iterator[None]:
    saved = os.environ.get("TRACKLOG_CACHE_DIR")
    yield
    if saved is None:
        os.environ.pop("TRACKLOG_CACHE_DIR", None)
    else:
        os.environ["TRACKLOG_CACHE_DIR"] = saved


def assert_once(events: list) -> None:
    ids = collections.Counter((e.writer_id, e.writer_seq) for e in events)
    assert [k for k, n in ids.items() if n > 1] == []


def points(events: list, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((e.step, e.value) for e in events
                  if isinstance(e, MetricLogged) and e.run_id == run_id and e.key == key)


LOG_THROUGH_AN_OUTAGE = PRELUDE + """
run = tracklog.start_run()
run_id = run.info.run_id
tracklog.log_param("before", "1")
for i in range(100):
    tracklog.log_metric("loss", i, step=i)
tracklog.flush()
say("published", run_id=run_id)
wait_for_go()  # the server is killed meanwhile
found = tracklog.get_experiment_by_name("Default")  # a read with nothing pending: lists the store, which fails
for i in range(100, 3100):
    tracklog.log_metric("loss", i, step=i)
tracklog.log_param("during", "2")
tracklog.set_tag("phase", "offline")
deadline = time.monotonic() + 120
while not writer().offline and time.monotonic() < deadline:  # the background publish fails
    time.sleep(0.05)
with tracklog.start_run(nested=True) as child:  # a run started with the store known down: reads fold ahead
    tracklog.log_metric("inner", 1.0, step=0)
say("logged", child_id=child.info.run_id, pending=writer().pending_count(), offline=writer().offline,
    found=found.experiment_id)
wait_for_go()  # the server is back
writer().publish_wait = 120  # this end_run waits for it
tracklog.end_run()
say("ended", pending=writer().pending_count())
"""


def test_events_logged_while_the_store_is_down_are_published_once_when_it_returns(moto, env, tmp_path) -> None:
    """Logging goes on with the S3 server killed; once a new server answers, the events logged
    meanwhile land there exactly once, and nothing published before the outage is sent again."""
    moto.start()
    child = Child(LOG_THROUGH_AN_OUTAGE, env)
    run_id = child.expect("published")["run_id"]
    moto.kill()
    child.go()
    logged = child.expect("logged")
    assert logged["offline"] and logged["pending"] >= 3000  # the calls returned, with the events in the WAL
    assert logged["found"] == "0"  # read from what this machine folded before
    wal_files = [f for f in os.listdir(_wal_dir(tmp_path)) if f.endswith(".wal")]
    assert wal_files
    moto.start()  # an empty server: the bucket again, nothing in it
    child.go()
    assert child.expect("ended")["pending"] == 0  # end_run waited for the store that came back
    stderr = child.finish()
    assert "cannot publish to s3://" in stderr and "answers again" in stderr

    events = store_events(env["TRACKLOG_TRACKING_URI"], moto.endpoint, tmp_path)
    assert_once(events)
    assert points(events, run_id, "loss") == [(i, float(i)) for i in range(100, 3100)]  # only what waited
    assert points(events, logged["child_id"], "inner") == [(0, 1.0)]
    params = {(e.key, e.value) for e in events if isinstance(e, ParamLogged) and e.run_id == run_id}
    assert params == {("during", "2")}
    assert {e.run_id for e in events if isinstance(e, RunEnded)} == {run_id, logged["child_id"]}
    assert os.listdir(_wal_dir(tmp_path)) == []


def _wal_dir(tmp_path) -> str:
    (sub,) = os.listdir(tmp_path / "cache" / "wal")
    return str(tmp_path / "cache" / "wal" / sub)


LOG_WITH_THE_STORE_DOWN = PRELUDE + """
with tracklog.start_run() as run:  # the store is down from the start
    tracklog.log_params({"lr": "0.1", "layers": "3"})
    for i in range(2000):
        tracklog.log_metric("acc", i / 2000, step=i)
    say("logged", run_id=run.info.run_id, offline=writer().offline)
say("ended", pending=writer().pending_count())
"""


def test_a_run_logged_with_the_store_down_is_published_once_by_the_next_process(moto, env, tmp_path) -> None:
    """With the store down from the start, a run starts, logs and ends; end_run waits at most
    TRACKLOG_PUBLISH_WAIT and says in one line what waits where and how to publish it; the next
    process that opens the store publishes it exactly once, and `tracklog sync URI` finds nothing
    left."""
    uri = env["TRACKLOG_TRACKING_URI"]
    child = Child(LOG_WITH_THE_STORE_DOWN, env)  # no server on the port: connections are refused
    run_id = child.expect("logged")["run_id"]
    assert child.expect("ended")["pending"] > 2000
    stderr = child.finish()
    warning = [line for line in stderr.splitlines() if "did not take" in line]
    assert len(warning) == 1, stderr  # end_run's; exit, with nothing new, says no more
    assert f"wait in the local WAL at {_wal_dir(tmp_path)}" in warning[0]
    assert f"tracklog sync {uri}" in warning[0] and "TRACKLOG_PUBLISH_WAIT" in warning[0]

    moto.start()
    script = PRELUDE + "with tracklog.start_run():\n    tracklog.log_metric('x', 1.0)\nsay('done')\n"
    nxt = Child(script, {**env, "TRACKLOG_PUBLISH_WAIT": "120"})
    nxt.expect("done")
    nxt.finish()
    events = store_events(uri, moto.endpoint, tmp_path)
    assert_once(events)
    assert points(events, run_id, "acc") == [(i, i / 2000) for i in range(2000)]
    assert {(e.key, e.value) for e in events if isinstance(e, ParamLogged)} == {("lr", "0.1"), ("layers", "3")}
    assert sum(isinstance(e, RunStarted) for e in events) == 2

    sync = subprocess.run([sys.executable, "-m", "tracklog.cli", "sync", uri], env=env, capture_output=True, text=True,
                          timeout=120)
    assert sync.returncode == 0, sync.stderr
    assert sync.stdout.startswith("published 0 event(s) from 0 WAL segment(s)")
    assert len(store_events(uri, moto.endpoint, tmp_path)) == len(events)


def test_tracklog_sync_publishes_what_waits(moto, env, tmp_path) -> None:
    """`tracklog sync URI` publishes the WAL a process left behind, once; a second run finds nothing."""
    uri = env["TRACKLOG_TRACKING_URI"]
    child = Child(LOG_WITH_THE_STORE_DOWN, env)
    run_id = child.expect("logged")["run_id"]
    pending = child.expect("ended")["pending"]
    child.finish()
    moto.start()
    outputs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "tracklog.cli", "sync", uri], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0].startswith(f"published {pending:,} event(s)")
    assert outputs[1].startswith("published 0 event(s) from 0 WAL segment(s)")
    events = store_events(uri, moto.endpoint, tmp_path)
    assert_once(events)
    assert len(points(events, run_id, "acc")) == 2000


LOG_THROUGH_A_PAUSE = PRELUDE + """
run = tracklog.start_run()
run_id = run.info.run_id
for i in range(50):
    tracklog.log_metric("loss", i, step=i)
tracklog.flush()
say("published", run_id=run_id)
wait_for_go()  # the server is paused meanwhile
for i in range(50, 1050):
    tracklog.log_metric("loss", i, step=i)
w = writer()
w.publish_soon(0)  # a publish goes out, and hangs on the paused server
latest = tracklog.get_run(run_id).data.metrics["loss"]  # a read: waits TRACKLOG_PUBLISH_WAIT at most
with tracklog.start_run(nested=True) as inner:
    tracklog.log_metric("inner", 1.0, step=0)
say("logged", latest=latest, offline=w.offline, pending=w.pending_count(), inner=inner.info.run_id)
wait_for_go()  # the server resumes: the request it held is served now
w.publish_wait = 120  # this end_run waits for it
tracklog.end_run()
say("ended", pending=w.pending_count())
"""


def test_a_store_that_hangs_holds_up_neither_logging_nor_reads(moto, env, tmp_path) -> None:
    """The server pauses (SIGSTOP) with a publish in flight, which hangs: logging goes on, a read
    waits at most TRACKLOG_PUBLISH_WAIT and still sees this process's own points (folded ahead of
    the store), a run starts and ends; when the server resumes, every event is there once."""
    moto.start()
    child = Child(LOG_THROUGH_A_PAUSE, env)
    run_id = child.expect("published")["run_id"]
    moto.pause()
    child.go()
    logged = child.expect("logged")
    assert logged["latest"] == 1049.0 and logged["offline"] and logged["pending"] >= 1000
    moto.resume()
    child.go()
    assert child.expect("ended")["pending"] == 0
    child.finish()
    events = store_events(env["TRACKLOG_TRACKING_URI"], moto.endpoint, tmp_path)
    assert_once(events)
    assert points(events, run_id, "loss") == [(i, float(i)) for i in range(1050)]
    assert points(events, logged["inner"], "inner") == [(0, 1.0)]


def test_a_tracking_server_whose_store_goes_down_keeps_taking_logging_requests(moto, env, tmp_path) -> None:
    """A tracklog server over an S3 store: with the S3 server killed, clients still create runs,
    log and end them through it (its writer keeps the events in its WAL); once a new S3 server
    answers, the server's flusher publishes them there exactly once."""
    import tracklog
    from tests.server.conftest import ServerProcess

    uri = env["TRACKLOG_TRACKING_URI"]
    moto.start()
    server = ServerProcess(uri, str(tmp_path / "artifacts"), tmp_path / "server.log", env=env)
    try:
        client = tracklog.Client(server.url)
        first = client.create_run("0").info.run_id
        client.log_metric(first, "loss", 0.0, step=0)
        _wait_for(lambda: points(store_events(uri, moto.endpoint, tmp_path), first, "loss"), server)
        moto.kill()
        for step in range(1, 301):
            client.log_metric(first, "loss", float(step), step=step)
        second = client.create_run("0").info.run_id  # reads the store on the server: not waited for
        client.log_metric(second, "acc", 0.5, step=0)
        client.set_terminated(second)
        client.set_terminated(first)
        moto.start()  # empty: only what waited can land
        _wait_for(lambda: len(points(store_events(uri, moto.endpoint, tmp_path), first, "loss")) == 300, server)
        events = store_events(uri, moto.endpoint, tmp_path)
        assert_once(events)
        assert points(events, first, "loss") == [(s, float(s)) for s in range(1, 301)]
        assert points(events, second, "acc") == [(0, 0.5)]
        assert {e.run_id for e in events if isinstance(e, RunEnded)} == {first, second}
    finally:
        server.stop()


def _wait_for(check, server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not published within {timeout} s; the server said:\n{server.log()}")
