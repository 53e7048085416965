"""tracklog's own endpoints: sandboxed read-only SQL, and the live event stream (server-sent events)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

API = "/api/2.0/mlflow"
SQL = "/api/2.0/tracklog/sql"


def _sql(server, query: str, **extra):
    return requests.post(server.url + SQL, json={"query": query, **extra}, timeout=60)


@pytest.fixture
def run_id(server) -> str:
    resp = requests.post(f"{server.url}{API}/runs/create", json={"experiment_id": "0", "run_name": "sql-run"}, timeout=10)
    run_id = resp.json()["run"]["info"]["run_id"]
    requests.post(f"{server.url}{API}/runs/log-batch", timeout=10, json={
        "run_id": run_id, "params": [{"key": "lr", "value": "0.1"}],
        "metrics": [{"key": "acc", "value": v, "timestamp": 1, "step": i} for i, v in enumerate([0.5, 0.7, 0.9])]})
    return str(run_id)


def test_sql_sees_writes_at_once(server, run_id) -> None:
    resp = _sql(server, "SELECT run_name, params['lr'] AS lr, metrics['acc'] AS acc FROM runs")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["columns"] == ["run_name", "lr", "acc"] and body["rows"] == [["sql-run", "0.1", 0.9]]
    assert body["types"] == ["string", "string", "double"] and body["truncated"] is False
    resp = _sql(server, "SELECT step, value FROM metrics ORDER BY step", limit=2)
    assert resp.json()["rows"] == [[0, 0.5], [1, 0.7]] and resp.json()["truncated"] is True


def test_sql_downloads_csv_and_parquet(server, run_id) -> None:
    resp = requests.get(server.url + SQL, params={"query": "SELECT step, value FROM metrics ORDER BY step",
                                                  "format": "csv"}, timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert resp.text.splitlines() == ['"step","value"', "0,0.5", "1,0.7", "2,0.9"]
    resp = requests.get(server.url + SQL, params={"query": "SELECT 1 AS one", "format": "parquet"}, timeout=30)
    assert resp.content[:4] == b"PAR1"


@pytest.mark.parametrize("query", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_parquet('events/*/*/*.parquet')",
    "SELECT getenv('HOME')",
    "SELECT * FROM glob('/*')",
    "INSERT INTO control (kind) VALUES ('x')",
    "CREATE TABLE t AS SELECT 1",
    "SELECT 1; SELECT 2",
    "ATTACH '/tmp/x.db'",
    "COPY runs TO '/tmp/out.csv'",
    "SET enable_external_access = true",
])
def test_sql_is_sandboxed(shared_server, query: str) -> None:
    resp = _sql(shared_server, query)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_sql_reaches_no_file_no_network_and_no_path(server, run_id, tmp_path) -> None:
    """Over HTTP too: the store's own files by path or glob, a URL (no connection is made) and
    settings are out of reach, and no answer — rows, settings, errors — names the store's folder."""
    from tests.conftest import Listener

    store = server.store
    listener = Listener()
    try:
        for query in [f"SELECT * FROM '{store}/events/**/*.parquet'", f"SELECT * FROM read_parquet('{store}/**/*.parquet')",
                      "SELECT * FROM 'events/**/*.parquet'", f"SELECT * FROM 'http://127.0.0.1:{listener.port}/x.csv'",
                      f"SELECT * FROM read_json_auto('http://127.0.0.1:{listener.port}/x.json')", "INSTALL httpfs",
                      "SELECT * FROM _files", "SELECT * FROM control"]:
            resp = _sql(server, query)
            assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", (query, resp.text)
    finally:
        listener.close()
    assert listener.accepted == 0
    answers = [_sql(server, q).text for q in [
        "SELECT * FROM runs", "SELECT * FROM experiments", "SELECT * FROM events", "SELECT * FROM duckdb_databases()",
        "SELECT * FROM duckdb_settings()", "SELECT * FROM no_such_view", "SELECT current_setting('temp_directory')"]]
    assert all(store not in a and str(tmp_path) not in a for a in answers), answers
    uri = _sql(server, "SELECT artifact_uri FROM runs").json()["rows"][0][0]
    assert uri == requests.get(f"{server.url}{API}/runs/get", params={"run_id": run_id}, timeout=10).json()["run"]["info"]["artifact_uri"]


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def test_sql_cost_is_bounded(server) -> None:
    """A hundred million rows asked for, in every format: the answer is cut at the row limit, the
    server's memory stays under 500 MB and /health answers within a second all along."""
    busy = threading.Event()
    slow: list[float] = []

    def watch() -> None:
        while not busy.is_set():
            started = time.monotonic()
            assert requests.get(server.url + "/health", timeout=5).text == "OK"
            slow.append(time.monotonic() - started)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        body = _sql(server, "SELECT * FROM range(100000000)").json()
        assert len(body["rows"]) == 10_000 and body["truncated"] is True
        for fmt in ("csv", "parquet"):
            resp = _sql(server, "SELECT range AS i, 'some text' AS s FROM range(100000000)", format=fmt)
            assert resp.status_code == 200 and resp.headers["X-Tracklog-Truncated"] == "true"
        assert len(_sql(server, "SELECT * FROM range(100000000)", format="csv").text.splitlines()) == 100_001
        resp = _sql(server, "SELECT max(hash(range)) FROM range(300000000)")  # seconds of work on a worker thread
        assert resp.status_code in (200, 504)
    finally:
        busy.set()
        watcher.join()
    assert slow and max(slow) < 1.0, max(slow)
    assert _peak_rss_mb(server.proc.pid) < 500


@pytest.mark.parametrize("limit", [10**19, 10**30, 0, -1, 100_001, "many"])
def test_absurd_sql_limits_are_bad_requests(shared_server, limit) -> None:
    resp = _sql(shared_server, "SELECT 1", limit=limit)
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", resp.text
    resp = requests.get(shared_server.url + SQL, params={"query": "SELECT 1", "limit": str(limit)}, timeout=30)
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", resp.text


def test_sql_has_a_time_limit(start_server) -> None:
    server = start_server(None, "", "--sql-timeout", "0.5")
    started = time.monotonic()
    resp = _sql(server, "SELECT count(*) FROM range(100000000000) a")
    assert resp.status_code == 504 and resp.json()["error_code"] == "DEADLINE_EXCEEDED", resp.text
    assert time.monotonic() - started < 20
    assert _sql(server, "SELECT 42 AS x").json()["rows"] == [[42]]


def test_sql_as_of(server, run_id) -> None:
    before = int(time.time() * 1000)
    time.sleep(0.05)
    requests.post(f"{server.url}{API}/runs/set-tag", json={"run_id": run_id, "key": "late", "value": "1"}, timeout=10)
    now = _sql(server, "SELECT tags['late'] FROM runs").json()["rows"]
    then = _sql(server, "SELECT tags['late'] FROM runs", as_of=before).json()["rows"]
    assert now == [["1"]] and then == [[None]]


def test_events_stream_live_changes(server) -> None:
    """A subscriber sees runs created, tags set and metrics logged, within about a refresh interval."""
    got: list[dict] = []
    ready = threading.Event()

    def listen() -> None:
        with requests.get(server.url + "/api/2.0/tracklog/events", stream=True, timeout=30) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            for line in resp.iter_lines(decode_unicode=True):
                ready.set()
                if line.startswith("data: "):
                    got.extend(json.loads(line[6:]))
                    kinds = {e["kind"] for e in got}
                    if {"RunStarted", "RunTagSet", "MetricLogged"} <= kinds:
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)
    resp = requests.post(f"{server.url}{API}/runs/create", json={"experiment_id": "0"}, timeout=10)
    run_id = resp.json()["run"]["info"]["run_id"]
    requests.post(f"{server.url}{API}/runs/set-tag", json={"run_id": run_id, "key": "k", "value": "v"}, timeout=10)
    requests.post(f"{server.url}{API}/runs/log-metric",
                  json={"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 7}, timeout=10)
    thread.join(20)
    assert not thread.is_alive(), got
    metric = next(e for e in got if e["kind"] == "MetricLogged")
    assert (metric["run_id"], metric["key"], metric["step"], metric["count"]) == (run_id, "loss", 7, 1)
    assert any(e["kind"] == "RunStarted" and e["experiment_id"] == "0" and e["run_id"] == run_id for e in got)


def test_the_ui_reads_are_served(shared_server) -> None:
    """The web UI's endpoints (tracklog/server/ui_api.py) answer through the server."""
    resp = requests.get(shared_server.url + "/api/2.0/tracklog/experiments/list", timeout=30)
    assert resp.status_code == 200, resp.text
    assert "Default" in {e["name"] for e in resp.json()["experiments"]}
