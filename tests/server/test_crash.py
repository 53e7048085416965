"""A server killed with SIGKILL mid-logging: nothing acknowledged is lost, nothing is doubled.

Where did the doubled point of the issue's kill -9 runs come from? Not from recovery: a dead
writer's write-ahead file is republished under the segment name its batch would have had
(put-if-absent), so a batch that had landed is not landed twice. It came from a retry: the
server appended a point, died before its answer reached the client, and the client (MLflow's
retries POSTs) sent the same point to the restarted server, a new writer. The catalog folds an
exact repeat of a point once; this test replays exactly that.
"""

from __future__ import annotations

import signal

import requests

API = "/api/2.0/mlflow"


def _post(url: str, endpoint: str, body: dict) -> dict:
    resp = requests.post(f"{url}{API}/{endpoint}", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_retried_batch_after_a_sigkill_is_stored_once(start_server, tmp_path) -> None:
    store = str(tmp_path / "store")
    first = start_server(store)
    run_id = _post(first.url, "runs/create", {"experiment_id": "0", "start_time": 1})["run"]["info"]["run_id"]
    batch = {"run_id": run_id, "metrics": [{"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1000 + s, "step": s}
                                           for s in range(50)]}
    _post(first.url, "runs/log-batch", batch)  # acknowledged: in the write-ahead file, not yet published
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()

    second = start_server(store)  # recovers the dead writer's WAL: the batch is published once
    _post(second.url, "runs/log-batch", batch)  # the client's retry of a request whose answer it never saw
    _post(second.url, "runs/log-batch", {"run_id": run_id, "metrics": [
        {"key": "loss", "value": 9.0, "timestamp": 1000, "step": 0}]})  # same step and time, another value: kept
    history = requests.get(f"{second.url}{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"},
                           timeout=30).json()["metrics"]
    assert sorted((m["step"], m["value"]) for m in history) == sorted(
        [(s, 1.0 / (s + 1)) for s in range(50)] + [(0, 9.0)])
    rows = requests.post(f"{second.url}/api/2.0/tracklog/sql", timeout=30, json={
        "query": "SELECT count(*) AS n, count(DISTINCT writer_id) AS writers FROM metrics WHERE value != 9.0"}).json()["rows"]
    assert rows == [[50, 1]], "each retried point once, from the writer that landed it first"
