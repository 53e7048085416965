"""Deployment 4: two server processes on one bucket (events and artifacts on a real S3 server on
loopback), clients logging through both at once; both converge, a restart loses nothing."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

API = "/api/2.0/mlflow"
RUNS_PER_CLIENT = 3
STEPS = 40


def _post(url: str, path: str, body: dict) -> dict:
    resp = requests.post(url + API + path, json=body, timeout=60)
    assert resp.status_code == 200, (path, resp.text)
    return resp.json()


def _get(url: str, path: str, **params) -> dict:
    resp = requests.get(url + API + path, params=params, timeout=60)
    assert resp.status_code == 200, (path, resp.text)
    return resp.json()


def _client_work(url: str, experiment_id: str, who: str) -> list[str]:
    """One client: runs with params, metric batches, tags and an artifact, through one server."""
    ids = []
    for i in range(RUNS_PER_CLIENT):
        run = _post(url, "/runs/create", {"experiment_id": experiment_id, "run_name": f"{who}-{i}"})["run"]["info"]
        run_id = run["run_id"]
        _post(url, "/runs/log-parameter", {"run_id": run_id, "key": "who", "value": who})
        for start in range(0, STEPS, 10):
            _post(url, "/runs/log-batch", {"run_id": run_id, "metrics": [
                {"key": "loss", "value": 1 / (s + 1), "timestamp": 1_700_000_000_000 + s, "step": s}
                for s in range(start, start + 10)]})
        _post(url, "/runs/set-tag", {"run_id": run_id, "key": "server", "value": who})
        root = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
        resp = requests.put(f"{url}/api/2.0/mlflow-artifacts/artifacts/{root}/out/{who}.txt", data=f"from {who}".encode(),
                            timeout=60)
        assert resp.status_code == 200, resp.text
        _post(url, "/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)})
        ids.append(run_id)
    return ids


def _converged(url: str, experiment_id: str, expected: dict[str, str]) -> bool:
    runs = _post(url, "/runs/search", {"experiment_ids": [experiment_id], "max_results": 1000})["runs"]
    seen = {r["info"]["run_id"]: r for r in runs}
    if set(seen) != set(expected):
        return False
    for run_id, who in expected.items():
        run = seen[run_id]
        tags = {t["key"]: t["value"] for t in run["data"].get("tags", ())}
        if run["info"]["status"] != "FINISHED" or tags.get("server") != who:
            return False
        if len(_get(url, "/metrics/get-history", run_id=run_id, metric_key="loss").get("metrics", ())) != STEPS:
            return False
    return True


def _wait(url: str, experiment_id: str, expected: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not _converged(url, experiment_id, expected):
        assert time.monotonic() < deadline, f"{url} did not converge"
        time.sleep(0.5)


def test_two_servers_on_one_bucket(s3_endpoint, start_server) -> None:
    root = f"s3://tracklog-tests/{uuid.uuid4().hex}"
    a = start_server(f"{root}/store", f"{root}/artifacts")
    b = start_server(f"{root}/store", f"{root}/artifacts")

    # one experiment name, created through both at once: exactly one wins
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda u: requests.post(u + API + "/experiments/create", json={"name": "shared"},
                                                        timeout=60), [a.url, b.url]))
    assert sorted(r.status_code for r in answers) == [200, 400]
    experiment_id = next(r.json()["experiment_id"] for r in answers if r.status_code == 200)
    assert next(r for r in answers if r.status_code == 400).json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    deadline = time.monotonic() + 30
    while requests.get(f"{b.url}{API}/experiments/get", params={"experiment_id": experiment_id}, timeout=30).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)

    # four clients, two on each server, all at once
    work = [(a.url, "a1"), (b.url, "b1"), (a.url, "a2"), (b.url, "b2")]
    with ThreadPoolExecutor(len(work)) as pool:
        done = list(pool.map(lambda w: (w[1], _client_work(w[0], experiment_id, w[1])), work))
    expected = {run_id: who for who, ids in done for run_id in ids}
    assert len(expected) == len(work) * RUNS_PER_CLIENT
    _wait(a.url, experiment_id, expected)
    _wait(b.url, experiment_id, expected)

    # registry versions from both servers at once: unique and consecutive
    _post(a.url, "/registered-models/create", {"name": "shared-model"})
    deadline = time.monotonic() + 30
    while requests.get(f"{b.url}{API}/registered-models/get", params={"name": "shared-model"}, timeout=30).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    run_ids = list(expected)
    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda i: _post([a.url, b.url][i % 2], "/model-versions/create", {
            "name": "shared-model", "source": f"runs:/{run_ids[i]}/model", "run_id": run_ids[i]})["model_version"]["version"],
            range(8)))
    assert sorted(int(v) for v in versions) == list(range(1, 9))

    # artifacts written through either server are read through the other
    for run_id, who in expected.items():
        run = _get(a.url, "/runs/get", run_id=run_id)["run"]["info"]
        root_path = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
        reader = b.url if who.startswith("a") else a.url
        got = requests.get(f"{reader}/api/2.0/mlflow-artifacts/artifacts/{root_path}/out/{who}.txt", timeout=60)
        assert got.status_code == 200 and got.text == f"from {who}"

    # both stop; a new server on the bucket finds everything
    assert a.stop() in (0, -15) and b.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
    c = start_server(f"{root}/store", f"{root}/artifacts")
    assert _converged(c.url, experiment_id, expected)
    assert len(_get(c.url, "/model-versions/search", filter="name = 'shared-model'")["model_versions"]) == 8
    frame = requests.post(c.url + "/api/2.0/tracklog/sql", json={
        "query": "SELECT count(*) AS points FROM metrics m JOIN runs r USING (run_id) WHERE r.experiment_id = "
                 f"'{experiment_id}'"}, timeout=60).json()
    assert frame["rows"] == [[len(expected) * STEPS]]


@pytest.fixture(autouse=True)
def _s3_only(request):
    request.getfixturevalue("s3_endpoint")
