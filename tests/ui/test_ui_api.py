"""The UI's endpoints (`tracklog.server.ui_api`): downsampling, runs-table windows, groups, keys,
run detail, registry reads and time travel — over real HTTP (uvicorn in a thread)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest
import requests
import uvicorn
from click.testing import CliRunner

import tracklog
from tests.conftest import _free_port
from tracklog.cli import cli
from tracklog.entities import Metric, Param
from tracklog.server.app import create_app

API = "/api/2.0/tracklog"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three experiments' worth of runs: 30 with params and metrics, one with a 20,000-point
    history holding a single spike, one child run."""
    client = tracklog.Client(str(tmp_path_factory.mktemp("ui-api") / "store"))
    exp = client.create_experiment("exp")
    other = client.create_experiment("other")
    runs = []
    for i in range(30):
        run = client.create_run(exp, run_name=f"r{i:02d}", tags={"team": "a" if i % 3 else "b"})
        client.log_batch(run.info.run_id,
                         params=[Param(key="lr", value=str([0.1, 0.01][i % 2])), Param(key="i", value=str(i))],
                         metrics=[Metric(key="acc", value=i / 30, timestamp=1000 + i, step=0)])
        client.set_terminated(run.info.run_id)
        runs.append(run.info.run_id)
    long = client.create_run(other, run_name="long")
    t0 = 1_700_000_000_000
    points = [Metric(key="loss", value=(9.0 if s == 12_345 else 1.0 / (1 + s)), timestamp=t0 + s, step=s) for s in range(20_000)]
    for k in range(0, len(points), 1000):
        client.log_batch(long.info.run_id, metrics=points[k:k + 1000])
    client.log_batch(long.info.run_id, metrics=[Metric(key="loss", value=math.nan, timestamp=t0, step=5)])
    child = client.create_run(other, run_name="child", tags={"mlflow.parentRunId": long.info.run_id})
    client.flush()
    between = int(time.time() * 1000)
    time.sleep(0.01)
    late = client.create_run(exp, run_name="late")
    client.flush()
    return {"client": client, "exp": exp, "other": other, "runs": runs, "long": long.info.run_id,
            "child": child.info.run_id, "late": late.info.run_id, "between": between}


class _Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.base + path, timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return requests.post(self.base + path, timeout=30, **kw)


@pytest.fixture(scope="module")
def http(store):
    port = _free_port()
    app = create_app(store["client"].tracking_uri)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield _Http(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)


def test_downsample_keeps_the_spike_and_is_exact_on_zoom(store, http):
    """Min/max per bucket never hides a spike; a small range comes back point for point."""
    body = {"run_ids": [store["long"]], "keys": ["loss"], "buckets": 100}
    whole = http.post(f"{API}/metrics/downsample", json=body).json()
    series = whole["series"][0]
    assert series["count"] == 20_000 and not series["exact"]
    assert len(series["x"]) <= 200 and max(series["y"]) == 9.0
    assert series["x"] == sorted(series["x"])
    zoom = http.post(f"{API}/metrics/downsample", json={**body, "x_min": 12_300, "x_max": 12_400}).json()["series"][0]
    assert zoom["exact"] and zoom["x"] == list(range(12_300, 12_401))
    assert zoom["y"][45] == 9.0


def test_downsample_mixes_exact_and_bucketed_series(store, http):
    """One request, a long series (bucketed) and a one-point series (exact), in the order asked."""
    body = {"run_ids": [store["long"], store["runs"][0]], "keys": ["loss", "acc"], "buckets": 50}
    series = http.post(f"{API}/metrics/downsample", json=body).json()["series"]
    assert [(s["key"], s["exact"], s["count"]) for s in series] == [("loss", False, 20_000), ("acc", True, 1)]
    assert series[1]["x"] == [0] and series[1]["y"] == [0.0]


def test_downsample_steps_far_from_zero(store, http):
    """Steps that start far above 0 still fill every bucket (the one-scan guess of the range gives way)."""
    client = store["client"]
    run = client.create_run(client.create_experiment("steps"), run_name="late-steps")
    client.log_batch(run.info.run_id, metrics=[Metric(key="m", value=float(s % 7), timestamp=1, step=1_000_000 + s)
                                               for s in range(1000)])
    client.flush()
    answer = http.post(f"{API}/metrics/downsample", json={"run_ids": [run.info.run_id], "keys": ["m"], "buckets": 100,
                                                          "fresh": True}).json()
    assert (answer["x_min"], answer["x_max"]) == (1_000_000, 1_000_999)
    assert len(answer["series"][0]["x"]) == 200 and set(answer["series"][0]["y"]) == {0.0, 6.0}


def test_downsample_time_axes(store, http):
    body = {"run_ids": [store["long"]], "keys": ["loss"], "buckets": 5000, "x_min": 0, "x_max": 9}
    relative = http.post(f"{API}/metrics/downsample", json={**body, "x_axis": "relative"}).json()["series"][0]
    assert relative["x"] == list(range(10))  # milliseconds since the run's first point
    wall = http.post(f"{API}/metrics/downsample", json={"run_ids": [store["long"]], "keys": ["loss"], "x_axis": "time",
                                                        "x_min": 1_700_000_000_000, "x_max": 1_700_000_000_002}).json()
    assert wall["series"][0]["x"] == [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002]


def test_runs_table_window_sort_columns_and_total(store, http):
    body = {"experiment_ids": [store["exp"]], "order_by": ["metrics.acc DESC"], "columns": ["metrics.acc", "params.lr", "tags.team"],
            "offset": 5, "limit": 10}
    page = http.post(f"{API}/runs/table", json=body).json()
    assert page["total"] == 31
    assert page["columns"][-3:] == ["metrics.acc", "params.lr", "tags.team"]
    names = [row[1] for row in page["rows"]]
    assert names == [f"r{i:02d}" for i in range(24, 14, -1)]
    assert page["rows"][0][-3:] == [24 / 30, "0.1", "b"]


def test_runs_table_filter_and_its_error(store, http):
    page = http.post(f"{API}/runs/table", json={"experiment_ids": [store["exp"]], "filter": "params.lr = '0.01' and tags.team = 'b'"}).json()
    assert page["total"] == 5
    bad = http.post(f"{API}/runs/table", json={"experiment_ids": [store["exp"]], "filter": "metrics.acc > 'x'"})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert bad.json()["message"].startswith("col 15: metrics compare with numbers")


def test_runs_groups_and_keys(store, http):
    groups = http.post(f"{API}/runs/groups", json={"experiment_ids": [store["exp"]], "group_by": "params.lr",
                                                   "columns": ["metrics.acc"]}).json()["groups"]
    by_value = {g["value"]: g for g in groups}
    assert by_value["0.1"]["count"] == 15 and by_value[None]["count"] == 1  # the run without params
    assert by_value["0.1"]["means"]["metrics.acc"] == pytest.approx(sum(range(0, 30, 2)) / 15 / 30)
    keys = http.post(f"{API}/runs/keys", json={"experiment_ids": [store["exp"]]}).json()
    assert keys["params"] == ["i", "lr"] and keys["metrics"] == ["acc"] and "team" in keys["tags"]
    by_run = http.post(f"{API}/runs/keys", json={"run_ids": [store["long"]]}).json()
    assert by_run["metrics"] == ["loss"]


def test_run_detail_has_children_and_nan(store, http):
    run = http.get(f"{API}/runs/get", params={"run_id": store["long"]}).json()
    assert run["info"]["run_name"] == "long"
    assert [c["run_name"] for c in run["children"]] == ["child"]
    assert run["metrics"][0]["key"] == "loss" and run["metrics"][0]["step"] == 19_999
    missing = http.get(f"{API}/runs/get", params={"run_id": "nope"})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_experiments_list_counts_and_as_of(store, http):
    now = {e["name"]: e for e in http.get(f"{API}/experiments/list").json()["experiments"]}
    assert now["exp"]["run_count"] == 31 and now["other"]["run_count"] == 2
    then = {e["name"]: e for e in http.get(f"{API}/experiments/list", params={"as_of": store["between"]}).json()["experiments"]}
    assert then["exp"]["run_count"] == 30
    page = http.post(f"{API}/runs/table", json={"experiment_ids": [store["exp"]], "as_of": store["between"]}).json()
    assert page["total"] == 30 and store["late"] not in {r[0] for r in page["rows"]}


def test_registry_reads_and_history(store, http):
    client = store["client"]
    client.create_registered_model("m", description="first")
    client.create_model_version("m", "runs:/x/model", run_id=store["runs"][0])
    client.create_model_version("m", "runs:/y/model")
    client.set_registered_model_alias("m", "prod", 1)
    client.set_registered_model_alias("m", "prod", 2)
    models = http.get(f"{API}/registry/models", params={"fresh": "1"}).json()["registered_models"]
    assert models[0]["name"] == "m" and models[0]["aliases"] == [{"alias": "prod", "version": 2}]
    detail = http.get(f"{API}/registry/model", params={"name": "m"}).json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    kinds = [e["kind"] for e in detail["history"]]
    assert kinds[:2] == ["ModelAliasSet", "ModelAliasSet"] and kinds[-1] == "RegisteredModelCreated"
    assert http.get(f"{API}/registry/model", params={"name": "zzz"}).status_code == 404


def test_bad_bodies_are_mlflow_errors(http):
    r = http.post(f"{API}/runs/table", json={"experiment_ids": ["0"], "limit": 0})
    assert r.status_code == 400 and "limit must be" in r.json()["message"]
    r = http.post(f"{API}/metrics/downsample", json={"run_ids": "x"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = http.post(f"{API}/runs/table", data=b"{not json")
    assert r.status_code == 400 and r.json()["error_code"] == "MALFORMED_REQUEST"


def test_runs_table_picks_columns_when_none_are_given(store, http):
    """Without columns, a few metric and param keys of the latest runs come with the first window."""
    page = http.post(f"{API}/runs/table", json={"experiment_ids": [store["exp"]], "limit": 5}).json()
    assert page["columns"][-3:] == ["metrics.acc", "params.i", "params.lr"]
    assert len(page["rows"][0]) == len(page["columns"])


def test_prompts_stay_out_of_every_model_list(store, http):
    """A prompt (a registered model tagged ``mlflow.prompt.is_prompt = 'true'``) is not listed by
    the UI's model list, MLflow's REST search or `tracklog models list` (local and over REST);
    a filter that asks for prompts still finds it."""
    client = store["client"]
    client.create_registered_model("listed-model")
    client.create_registered_model("a-prompt", tags={"mlflow.prompt.is_prompt": "true"})
    client.create_registered_model("not-a-prompt", tags={"mlflow.prompt.is_prompt": "false"})
    client.flush()
    ui = {m["name"] for m in http.get(f"{API}/registry/models", params={"fresh": "1"}).json()["registered_models"]}
    assert {"listed-model", "not-a-prompt"} <= ui and "a-prompt" not in ui
    found = http.get("/api/2.0/mlflow/registered-models/search", params={"max_results": 1000}).json()
    rest = {m["name"] for m in found["registered_models"]}
    assert {"listed-model", "not-a-prompt"} <= rest and "a-prompt" not in rest
    asked = http.get("/api/2.0/mlflow/registered-models/search",
                     params={"filter": "tags.`mlflow.prompt.is_prompt` = 'true'"}).json()
    assert [m["name"] for m in asked["registered_models"]] == ["a-prompt"]
    for where in (client.tracking_uri, http.base):
        out = CliRunner().invoke(cli, ["models", "list", "--store", where])
        assert out.exit_code == 0, out.output
        names = {line.split()[0] for line in out.output.splitlines()[2:] if line.strip()}
        assert {"listed-model", "not-a-prompt"} <= names and "a-prompt" not in names, out.output
