"""Logging through a tracking server that goes away: a real `tracklog server` process, SIGKILLed
and started again on the same store and port, under real processes that log with the fluent API.

While the server is away the logging calls of a running run go to the process's local WAL
(`tracklog.tracking.offline`) and are published as segments to the server's
``PUT /api/2.0/tracklog/segments/…`` once it is back; the endpoint's checks on hostile bodies
are pinned here too.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from eventlog.codec import control_table, metric_table, write_parquet
from eventlog.events import ExperimentRenamed, ParamLogged, RunHeartbeatSent, RunTagSet
from eventlog.writer import segment_path
from tests.server.conftest import free_port
from tests.tracklog.test_offline_store import PRELUDE, Child

SEGMENTS = "/api/2.0/tracklog/segments/"
API = "/api/2.0/mlflow/"


class Server:
    """`tracklog server` on a fixed port and store: killed (SIGKILL) and started again there."""

    def __init__(self, tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = str(tmp_path / "store")
        self.extra = extra
        self.env = {**os.environ, **(env or {})}
        self.log = open(tmp_path / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracklog.cli", "server", "--store", self.store, "--port", str(self.port),
             "--artifacts-destination", self.store + "-artifacts", "--log-level", "warning", *self.extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the server exited"
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server did not come up")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def files(self) -> list[str]:
        root = Path(self.store) / "events"
        return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet")) if root.exists() else []


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    s.start()
    yield s
    s.stop()


def _env(tmp_path: Path, server: Server, cache: str = "cache") -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKLOG_", "MLFLOW_"))}
    out.update(TRACKLOG_TRACKING_URI=server.url, TRACKLOG_CACHE_DIR=str(tmp_path / cache), TRACKLOG_PUBLISH_WAIT="30",
               TRACKLOG_HTTP_TIMEOUT="5", PYTHONUNBUFFERED="1", PYTHONPATH=os.getcwd())
    return out


def _client(server: Server):
    import tracklog

    return tracklog.Client(server.url)


def _steps(server: Server, run_id: str, key: str) -> list[int]:
    return sorted(p.step for p in _client(server).get_metric_history(run_id, key))


LOGGER = PRELUDE + """
tracklog.set_experiment("offline-server")
run = tracklog.start_run()
run_id = run.info.run_id
for i in range(100):
    tracklog.log_metric("m", float(i), step=i)
tracklog.log_param("a", "1")
tracklog.set_tag("t", "online")
say("started", run_id=run_id)
wait_for_go()                       # the server is SIGKILLed meanwhile
t0 = time.perf_counter()
for i in range(100, 1100):
    tracklog.log_metric("m", float(i), step=i)
took = time.perf_counter() - t0
tracklog.log_param("b", "2")
tracklog.set_tag("t2", "offline")
tracklog.log_metrics({"x": 1.0, "y": 2.0}, step=7)
say("offline", took=took)
wait_for_go()                       # the server is back
t0 = time.perf_counter()
tracklog.end_run()
say("ended", took=time.perf_counter() - t0)
"""


def test_logging_goes_on_while_the_server_is_away_and_lands_once(server: Server, tmp_path) -> None:
    child = Child(LOGGER, _env(tmp_path, server))
    run_id = child.expect("started")["run_id"]
    server.kill()
    child.go()
    took = child.expect("offline")["took"]
    assert took < 1.0, f"1,000 log_metric calls with the server away took {took:.3f} s"
    server.start()
    child.go()
    ended = child.expect("ended")["took"]
    err = child.finish()
    assert err.count("cannot publish to " + server.url) == 1, err  # one line when it went away
    assert "answers again" in err
    print(f"offline: 1000 log_metric in {took * 1000:.1f} ms; end_run drained in {ended:.2f} s")

    steps = _steps(server, run_id, "m")
    assert steps == list(range(1100))  # every point once
    history = _client(server).get_metric_history(run_id, "m")
    assert sorted((p.step, p.value) for p in history) == [(i, float(i)) for i in range(1100)]
    run = _client(server).get_run(run_id)
    assert run.data.params == {"a": "1", "b": "2"}
    assert run.data.tags["t"] == "online" and run.data.tags["t2"] == "offline"
    assert run.data.metrics["x"] == 1.0 and run.data.metrics["y"] == 2.0
    assert run.info.status == "FINISHED"


PAUSED = PRELUDE + """
tracklog.set_experiment("offline-paused")
run = tracklog.start_run()
tracklog.log_metric("m", 0.0, step=0)
say("started", run_id=run.info.run_id)
wait_for_go()                       # the server is paused (SIGSTOP): it takes connections, answers nothing
t0 = time.perf_counter()
tracklog.log_metric("m", 1.0, step=1)   # waits TRACKLOG_LOG_TIMEOUT, then logs offline
first = time.perf_counter() - t0
t0 = time.perf_counter()
for i in range(2, 1002):
    tracklog.log_metric("m", float(i), step=i)
say("offline", first=first, rest=time.perf_counter() - t0)
wait_for_go()
tracklog.end_run()
say("ended")
"""


def test_a_server_that_hangs_costs_one_bounded_wait(server: Server, tmp_path) -> None:
    child = Child(PAUSED, {**_env(tmp_path, server), "TRACKLOG_LOG_TIMEOUT": "1"})
    run_id = child.expect("started")["run_id"]
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    try:
        child.go()
        took = child.expect("offline")
    finally:
        server.proc.send_signal(signal.SIGCONT)
    assert 0.9 < took["first"] < 5, took
    assert took["rest"] < 1.0, took
    child.go()
    child.expect("ended")
    child.finish()
    # the call that timed out reached the server too (it answered once resumed): the repeat of
    # that exact point, published from the WAL, is folded once
    assert _steps(server, run_id, "m") == list(range(1002))
    assert _client(server).get_run(run_id).info.status == "FINISHED"


KILLED = PRELUDE + """
tracklog.set_experiment("offline-killed")
run = tracklog.start_run()
tracklog.log_metric("m", -1.0, step=-1)
say("started", run_id=run.info.run_id)
wait_for_go()
for i in range(500):
    tracklog.log_metric("m", float(i), step=i)
tracklog.log_param("p", "v")
time.sleep(0.5)  # the WAL has every event once the call returned; a publish attempt fails meanwhile
say("logged")
time.sleep(600)  # SIGKILLed here
"""

NEXT = PRELUDE + """
tracklog.set_experiment("offline-next")
with tracklog.start_run():   # the server answers: this process publishes the dead one's WAL
    tracklog.log_metric("n", 1.0)
say("done")
"""


def test_the_next_process_publishes_what_a_killed_process_left(server: Server, tmp_path) -> None:
    env = _env(tmp_path, server)
    child = Child(KILLED, env)
    run_id = child.expect("started")["run_id"]
    server.kill()
    child.go()
    child.expect("logged")
    child.proc.send_signal(signal.SIGKILL)
    child.proc.wait()
    server.start()
    assert _steps(server, run_id, "m") == [-1]  # nothing of the offline part yet
    nxt = Child(NEXT, env)
    nxt.expect("done")
    nxt.finish()
    assert _steps(server, run_id, "m") == [-1, *range(500)]
    assert _client(server).get_run(run_id).data.params == {"p": "v"}
    # and again: nothing is left to publish, nothing lands twice
    out = subprocess.run([sys.executable, "-m", "tracklog.cli", "sync", server.url], env=env, capture_output=True,
                         text=True, check=True)
    assert "published 0 event(s)" in out.stdout, out
    assert _steps(server, run_id, "m") == [-1, *range(500)]


SYNCED = PRELUDE + """
tracklog.set_experiment("offline-sync")
run = tracklog.start_run()
say("started", run_id=run.info.run_id)
wait_for_go()
for i in range(50):
    tracklog.log_metric("m", float(i), step=i)
tracklog.end_run()   # waits TRACKLOG_PUBLISH_WAIT, then says what waits where
say("ended")
"""


def test_end_run_waits_a_bounded_time_and_tracklog_sync_publishes_the_rest(server: Server, tmp_path) -> None:
    env = {**_env(tmp_path, server), "TRACKLOG_PUBLISH_WAIT": "1"}
    child = Child(SYNCED, env)
    run_id = child.expect("started")["run_id"]
    server.kill()
    t0 = time.monotonic()
    child.go()
    child.expect("ended")
    err = child.finish()
    assert time.monotonic() - t0 < 15
    assert f"tracklog sync {server.url}" in err and "did not take" in err, err
    server.start()
    out = subprocess.run([sys.executable, "-m", "tracklog.cli", "sync", server.url], env=env, capture_output=True,
                         text=True, check=True)
    published = int(out.stdout.split("published ")[1].split(" ")[0].replace(",", ""))
    assert published >= 51, out  # 50 points and the end (and heartbeats, if one fell due)
    assert _steps(server, run_id, "m") == list(range(50))
    assert _client(server).get_run(run_id).info.status == "FINISHED"


REFUSED = PRELUDE + """
tracklog.set_experiment("offline-refused")
run = tracklog.start_run()
say("started", run_id=run.info.run_id)
wait_for_go()
for i in range(20):
    tracklog.log_metric("m", float(i), step=i)
say("logged")
wait_for_go()
tracklog.end_run()
say("ended")
"""


def test_a_segment_the_server_refuses_is_kept_aside_and_holds_nothing_up(server: Server, tmp_path) -> None:
    child = Child(REFUSED, _env(tmp_path, server))
    run_id = child.expect("started")["run_id"]
    server.kill()
    child.go()
    child.expect("logged")
    server.start()
    _client(server).delete_run(run_id)  # while the client waited: its events now name a deleted run
    child.go()
    child.expect("ended")
    err = child.finish()
    assert "refused the segment" in err and "rejected" in err, err
    kept = list((tmp_path / "cache").rglob("rejected/*.parquet"))
    assert kept, err
    assert not list((tmp_path / "cache").rglob("*.wal"))  # nothing waits: the WAL is not stuck on it


# ---- the endpoint, given hostile bodies ------------------------------------------------------------


def _run(server: Server) -> str:
    client = _client(server)
    exp = client.create_experiment(f"seg-{uuid.uuid4().hex[:8]}")
    return str(client.create_run(exp).info.run_id)


def _control(writer_id: str, events: list, seq: int = 0, ts: int | None = None) -> tuple[str, bytes]:
    ts = time.time_ns() if ts is None else ts
    import msgspec

    stamped = [msgspec.structs.replace(e, writer_id=writer_id, writer_seq=seq + i, ts=ts + i, actor="me")
               for i, e in enumerate(events)]
    return segment_path("control", writer_id, seq, ts), write_parquet(control_table(stamped))


def _metrics(writer_id: str, run_id: str, n: int, seq: int = 0, timestamp: int = 1_700_000_000_000,
             key: str = "m") -> tuple[str, bytes]:
    ts = time.time_ns()
    table = metric_table({"run_id": [run_id] * n, "key": [key] * n, "value": [float(i) for i in range(n)],
                          "step": list(range(n)), "timestamp": [timestamp] * n,
                          "ts": [ts + i for i in range(n)], "writer_id": [writer_id] * n,
                          "writer_seq": [seq + i for i in range(n)], "actor": ["me"] * n})
    return segment_path("metric", writer_id, seq, ts), write_parquet(table)


def _put(server: Server, path: str, data: bytes, **kw) -> requests.Response:
    return requests.put(server.url + SEGMENTS + path, data=data, timeout=30, **kw)


def test_a_replayed_segment_adds_nothing(server: Server) -> None:
    run_id = _run(server)
    writer = f"rest.{uuid.uuid4()}"
    path, data = _metrics(writer, run_id, 10)
    first = _put(server, path, data)
    assert first.status_code == 200 and first.json() == {"created": True}
    assert _steps(server, run_id, "m") == list(range(10))  # read right after the publish
    files = server.files()
    again = _put(server, path, data)
    assert again.status_code == 200 and again.json() == {"created": False}
    assert server.files() == files
    assert _steps(server, run_id, "m") == list(range(10))
    cpath, cdata = _control(writer, [ParamLogged(run_id=run_id, key="k", value="v")], seq=10)
    assert _put(server, cpath, cdata).json() == {"created": True}
    assert _put(server, cpath, cdata).json() == {"created": False}
    assert _client(server).get_run(run_id).data.params == {"k": "v"}
    # a segment without an actor column, with a column no stream knows: stored as the server's writer would
    import pyarrow as pa
    import pyarrow.parquet as pq

    tpath, tdata = _control(writer, [RunTagSet(run_id=run_id, key="t", value="x")], seq=11)
    table = pq.read_table(pa.BufferReader(tdata))
    table = table.drop_columns(["actor"]).append_column("junk", pa.array(["j"]))
    assert _put(server, tpath, write_parquet(table)).json() == {"created": True}
    stored = pq.read_table(Path(server.store) / tpath)
    assert "junk" not in stored.column_names and stored["actor"].to_pylist()[0]
    assert _client(server).get_run(run_id).data.tags["t"] == "x"


@pytest.fixture
def small_server(tmp_path):
    s = Server(tmp_path, "--max-body-size", "100KB")
    s.start()
    yield s
    s.stop()


def test_hostile_segments_are_refused_and_store_nothing(small_server: Server) -> None:
    server = small_server
    run_id = _run(server)
    writer = f"rest.{uuid.uuid4()}"
    before = server.files()

    def refused(path: str, data: bytes) -> tuple[int, str]:
        resp = _put(server, path, data)
        return resp.status_code, resp.json().get("error_code")

    good_path, _ = _metrics(writer, run_id, 3)
    assert refused(good_path, b"PAR1 not parquet at all") == (400, "MALFORMED_REQUEST")
    assert refused(*_metrics(writer, "0" * 32, 3)) == (404, "RESOURCE_DOES_NOT_EXIST")  # no such run
    assert refused(*_control(writer, [ExperimentRenamed(experiment_id="0", name="taken")])) \
        == (403, "PERMISSION_DENIED")
    assert refused(*_control(writer, [RunTagSet(run_id=run_id, key="ok", value="v"),
                                       ExperimentRenamed(experiment_id="0", name="x")])) == (403, "PERMISSION_DENIED")
    outsider = str(uuid.uuid4())  # a plain writer id: the server's own, or a local process's
    assert refused(*_metrics(outsider, run_id, 3)) == (403, "PERMISSION_DENIED")
    assert refused(good_path, os.urandom(200_000)) == (413, "RESOURCE_LIMIT_EXCEEDED")
    path, data = _metrics(writer, run_id, 3)
    assert refused(path.replace("-000000000000", "-000000000007"), data) == (400, "INVALID_PARAMETER_VALUE")
    assert refused("events/stream=metric/../../x.parquet", data)[0] in (400, 404)
    assert refused(*_control(writer, [ParamLogged(run_id=run_id, key="../x", value="v")])) \
        == (400, "INVALID_PARAMETER_VALUE")
    assert refused(*_metrics(writer, run_id, 3, timestamp=-5)) == (400, "INVALID_PARAMETER_VALUE")
    assert refused(*_metrics(writer, run_id, 3, key="a/../b")) == (400, "INVALID_PARAMETER_VALUE")
    assert refused(*_control(writer, [ParamLogged(run_id=run_id, key="p", value="v" * 6001)])) \
        == (400, "INVALID_PARAMETER_VALUE")
    in_2100 = 4_102_444_800 * 10**9  # a heartbeat from a clock far ahead would keep the run alive for good
    assert refused(*_control(writer, [RunHeartbeatSent(run_id=run_id)], ts=in_2100)) == (400, "INVALID_PARAMETER_VALUE")
    assert [f for f in server.files() if writer in f or outsider in f] == []
    assert [f for f in before if "rest." in f] == []
    assert _steps(server, run_id, "m") == []


def test_with_auth_a_writer_id_must_be_in_the_callers_namespace(tmp_path) -> None:
    server = Server(tmp_path, "--auth", "basic", "--default-permission", "NO_PERMISSIONS", "--auth-db",
                    str(tmp_path / "auth.db"), env={"TRACKLOG_ADMIN_PASSWORD": "s3cret"})
    server.start()
    try:
        from tracklog.tracking.offline import namespace_for

        admin = ("admin", "s3cret")
        for name in ("alice", "bob"):
            requests.post(server.url + API + "users/create", json={"username": name, "password": f"{name}-pw"},
                          auth=admin, timeout=30).raise_for_status()
        alice, bob = ("alice", "alice-pw"), ("bob", "bob-pw")
        exp = requests.post(server.url + API + "experiments/create", json={"name": "a"}, auth=alice,
                            timeout=30).json()["experiment_id"]
        run_id = requests.post(server.url + API + "runs/create", json={"experiment_id": exp}, auth=alice,
                               timeout=30).json()["run"]["info"]["run_id"]
        ns = requests.get(server.url + "/api/2.0/tracklog/segments-namespace", auth=alice, timeout=30).json()
        assert ns == {"namespace": namespace_for("alice")}
        mine = namespace_for("alice") + str(uuid.uuid4())
        theirs = namespace_for("bob") + str(uuid.uuid4())
        assert _put(server, *_metrics(theirs, run_id, 2), auth=alice).status_code == 403  # bob's names
        assert _put(server, *_metrics(mine, run_id, 2), auth=bob).status_code == 403
        bobs = _metrics(theirs, run_id, 2)  # bob's own namespace, alice's run: no EDIT on it
        assert _put(server, *bobs, auth=bob).json()["error_code"] == "PERMISSION_DENIED"
        path, data = _metrics(mine, run_id, 2)
        assert _put(server, path, data, auth=alice).json() == {"created": True}
        import pyarrow.parquet as pq

        stored = pq.read_table(Path(server.store) / path)
        assert set(stored["actor"].to_pylist()) == {"alice"}  # recorded as the caller, not as the body says
        got = requests.get(server.url + API + "metrics/get-history", params={"run_id": run_id, "metric_key": "m"},
                           auth=alice, timeout=30).json()["metrics"]
        assert sorted(p["step"] for p in got) == [0, 1]
        assert collections.Counter(p["step"] for p in got) == {0: 1, 1: 1}
    finally:
        server.stop()


TOKEN_LOGGER = PRELUDE + """
tracklog.set_experiment("offline-token")
run = tracklog.start_run()   # learns this token's writer-id namespace from the server
tracklog.log_metric("m", 0.0, step=0)
say("started", run_id=run.info.run_id)
wait_for_go()
for i in range(1, 301):
    tracklog.log_metric("m", float(i), step=i)
tracklog.set_tag("where", "offline")
say("offline")
wait_for_go()
tracklog.end_run()
say("ended")
"""


def test_a_token_user_logs_offline_into_its_own_namespace(tmp_path) -> None:
    server = Server(tmp_path, "--auth", "basic", "--default-permission", "NO_PERMISSIONS", "--auth-db",
                    str(tmp_path / "auth.db"), env={"TRACKLOG_ADMIN_PASSWORD": "s3cret"})
    server.start()
    try:
        requests.post(server.url + API + "users/create", json={"username": "alice", "password": "alice-pw"},
                      auth=("admin", "s3cret"), timeout=30).raise_for_status()
        token = requests.post(server.url + "/api/2.0/tracklog/tokens/create", json={"name": "job"},
                              auth=("alice", "alice-pw"), timeout=30).json()["token"]
        child = Child(TOKEN_LOGGER, {**_env(tmp_path, server), "TRACKLOG_TRACKING_TOKEN": token})
        run_id = child.expect("started")["run_id"]
        server.kill()
        child.go()
        child.expect("offline")
        server.start()
        child.go()
        child.expect("ended")
        child.finish()
        got = requests.get(server.url + API + "metrics/get-history", params={"run_id": run_id, "metric_key": "m"},
                           auth=("alice", "alice-pw"), timeout=30).json()["metrics"]
        assert sorted(p["step"] for p in got) == list(range(301))
        from tracklog.tracking.offline import namespace_for

        published = [p for p in server.files() if "/rest." in p]
        assert published and all(f"/{namespace_for('alice')}" in p for p in published), published
    finally:
        server.stop()


def test_a_process_publishes_only_the_waiting_events_of_its_own_user(tmp_path) -> None:
    """Two users of one machine and cache: bob's process leaves alice's waiting WAL alone (the
    server would refuse it as bob's), and alice's `tracklog sync` publishes it."""
    server = Server(tmp_path, "--auth", "basic", "--auth-db", str(tmp_path / "auth.db"),
                    env={"TRACKLOG_ADMIN_PASSWORD": "s3cret"})
    server.start()
    try:
        for name in ("alice", "bob"):
            requests.post(server.url + API + "users/create", json={"username": name, "password": f"{name}-pw"},
                          auth=("admin", "s3cret"), timeout=30).raise_for_status()
        env = _env(tmp_path, server)
        alice = {**env, "TRACKLOG_TRACKING_USERNAME": "alice", "TRACKLOG_TRACKING_PASSWORD": "alice-pw"}
        bob = {**env, "TRACKLOG_TRACKING_USERNAME": "bob", "TRACKLOG_TRACKING_PASSWORD": "bob-pw"}
        child = Child(KILLED, alice)
        run_id = child.expect("started")["run_id"]
        server.kill()
        child.go()
        child.expect("logged")
        child.proc.send_signal(signal.SIGKILL)
        child.proc.wait()
        server.start()
        Child(NEXT, bob).finish()
        assert list((tmp_path / "cache").rglob("*.wal")) and not list((tmp_path / "cache").rglob("rejected/*"))
        out = subprocess.run([sys.executable, "-m", "tracklog.cli", "sync", server.url], env=alice,
                             capture_output=True, text=True, check=True)
        assert "published 501 event(s)" in out.stdout, out
        got = requests.get(server.url + API + "metrics/get-history", params={"run_id": run_id, "metric_key": "m"},
                           auth=("alice", "alice-pw"), timeout=30).json()["metrics"]
        assert sorted(p["step"] for p in got) == [-1, *range(500)]
    finally:
        server.stop()
