"""Every read surface agrees: the Python API, the REST API, the UI's endpoints and SQL, on random
histories written by several writers at once.

One store; a real `tracklog server` process reads it with its own catalog, the test process with
another (each folds the same segments independently). Each example writes a random history of
one experiment's runs — events from three writers, interleaved, published in a few segments —
then reads every run through each surface and compares.
"""

from __future__ import annotations

import itertools
import math
import uuid
from typing import Any

import msgspec
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracklog
from eventlog.codec import control_table, metric_table, write_parquet
from eventlog.events import (
    ExperimentCreated,
    MetricLogged,
    ParamLogged,
    RunDeleted,
    RunDescriptionSet,
    RunEnded,
    RunRenamed,
    RunRestored,
    RunResumed,
    RunStarted,
    RunTagDeleted,
    RunTagSet,
)
from projections.entities import ViewType
from tests.server.conftest import ServerProcess

WRITERS = ["w0", "w1", "w2"]
RUNS, KEYS = ["r0", "r1", "r2"], ["a", "b"]
_chunk = itertools.count()

_run, _key, _val = st.sampled_from(RUNS), st.sampled_from(KEYS), st.sampled_from(["x", "y", "z"])
_metric = st.builds(lambda r, k, v, s: MetricLogged(run_id=r, key=k, value=v, step=s, timestamp=s * 10), _run, _key,
                    st.one_of(st.floats(-10, 10, allow_nan=False), st.just(math.nan)), st.integers(0, 3))
_event = st.one_of(
    _metric, _metric, _metric,
    st.builds(lambda r, t: RunStarted(run_id=r, experiment_id="E", run_name=f"n-{r}", start_time=t), _run,
              st.integers(1, 5)),
    st.builds(lambda r, s: RunEnded(run_id=r, status=s, end_time=9), _run, st.sampled_from(["FINISHED", "FAILED", "KILLED"])),
    st.builds(lambda r: RunResumed(run_id=r), _run),
    st.builds(lambda r, v: RunRenamed(run_id=r, run_name=v), _run, _val),
    st.builds(lambda r: RunDeleted(run_id=r), _run),
    st.builds(lambda r: RunRestored(run_id=r), _run),
    st.builds(lambda r, v: RunDescriptionSet(run_id=r, description=v), _run, _val),
    st.builds(lambda r, k, v: ParamLogged(run_id=r, key=k, value=v), _run, _key, _val),
    st.builds(lambda r, k, v: RunTagSet(run_id=r, key=k, value=v), _run, _key, _val),
    st.builds(lambda r, k: RunTagDeleted(run_id=r, key=k), _run, _key),
)
# every run is started (by some writer, at some moment); then a random multi-writer history
_starts = st.tuples(*(st.tuples(st.sampled_from(WRITERS), st.builds(
    lambda t, r=r: RunStarted(run_id=r, experiment_id="E", run_name=f"n-{r}", start_time=t), st.integers(1, 5)))
    for r in RUNS))
_history = st.builds(lambda starts, rest: [*starts, *rest], _starts,
                     st.lists(st.tuples(st.sampled_from(WRITERS), _event), min_size=5, max_size=40))


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory):
    root = tmp_path_factory.mktemp("surfaces")
    store = str(root / "store")
    tracklog.Client(store).flush()  # the store exists before the server opens it
    server = ServerProcess(store, None, root / "server.log")
    yield store, server
    server.stop()


def _publish(store: str, history: list[tuple[str, Any]], chunks: int) -> str:
    """Stamp the events (a fresh experiment, fresh run ids, per-writer seqs) and publish them in
    `chunks` segments per stream; returns the experiment id."""
    tag = uuid.uuid4().hex[:8]
    experiment = str(next(_chunk) + 10_000)
    ids = {r: f"{tag}{r}" + "0" * (32 - len(tag) - len(r)) for r in RUNS}
    seqs = {w: 0 for w in WRITERS}
    base = 1_700_000_000_000_000_000 + next(_chunk) * 10**12
    events = [msgspec.structs.replace(ExperimentCreated(experiment_id=experiment, name=f"exp-{tag}", artifact_location=""),
                                      writer_id=f"{tag}-w0", writer_seq=10**6, ts=base, actor="u")]
    for i, (writer, event) in enumerate(history):
        fields = {"run_id": ids[event.run_id]}
        if isinstance(event, RunStarted):
            fields["experiment_id"] = experiment
        events.append(msgspec.structs.replace(event, **fields, writer_id=f"{tag}-{writer}", writer_seq=seqs[writer],
                                              ts=base + (i + 1) * 1000, actor="u"))
        seqs[writer] += 1
    log = tracklog.Client(store).store.log
    size = max(1, len(events) // chunks)
    for n, start in enumerate(range(0, len(events), size)):
        part = events[start:start + size]
        control = [e for e in part if not isinstance(e, MetricLogged)]
        metrics = [e for e in part if isinstance(e, MetricLogged)]
        name = f"{tag}-{n:03d}"
        if control:
            log.store.publish(f"events/stream=control/date=2026-01-01/{name}.parquet", write_parquet(control_table(control)))
        if metrics:
            cols = {c: [getattr(e, c) for e in metrics] for c in
                    ("run_id", "key", "value", "step", "timestamp", "ts", "writer_id", "writer_seq", "actor")}
            log.store.publish(f"events/stream=metric/date=2026-01-01/{name}.parquet", write_parquet(metric_table(cols)))
    return experiment


def _same(value: Any) -> Any:
    """NaN compares equal to itself here (it is a value a surface must carry, not lose)."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: _same(v) for k, v in sorted(value.items())}
    return value


def _from_run(run: Any) -> tuple:
    i = run.info
    return (i.run_id, str(i.status), str(i.lifecycle_stage), i.run_name, i.start_time, i.end_time,
            _same(run.data.params), _same(run.data.tags), _same(run.data.metrics))


def _from_ui(reply: dict) -> tuple:
    i = reply["info"]
    value = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    return (i["run_id"], i["status"], i["lifecycle_stage"], i["run_name"], i["start_time"], i["end_time"],
            _same({p["key"]: p["value"] for p in reply["params"]}), _same({t["key"]: t["value"] for t in reply["tags"]}),
            _same({m["key"]: value.get(m["value"], m["value"]) for m in reply["metrics"]}))


def _from_sql(row: list, columns: list[str]) -> tuple:
    r = dict(zip(columns, row, strict=True))
    value = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

    def number(v: Any) -> Any:
        return value.get(v, v) if isinstance(v, str) else v

    def mapping(v: Any) -> dict:
        return dict(v) if isinstance(v, dict) else {e["key"]: e["value"] for e in v}

    return (r["run_id"], r["status"], r["lifecycle_stage"], r["run_name"], r["start_time_ms"], r["end_time_ms"],
            _same(mapping(r["params"])), _same(mapping(r["tags"])),
            _same({k: number(v) for k, v in mapping(r["metrics"]).items()}))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(_history, st.integers(1, 3))
def test_python_rest_ui_and_sql_read_the_same_runs(surfaces, history, chunks) -> None:
    store, server = surfaces
    experiment = _publish(store, history, chunks)
    ui = f"{server.url}/api/2.0/tracklog"
    table = requests.post(f"{ui}/runs/table", json={"experiment_ids": [experiment], "view_type": "ALL", "fresh": True,
                                                     "limit": 100}, timeout=30).json()  # the server folds first
    local, remote = tracklog.Client(store), tracklog.Client(server.url)
    python = sorted(_from_run(r) for r in local.search_runs([experiment], run_view_type=ViewType.ALL))
    rest = sorted(_from_run(r) for r in remote.search_runs([experiment], run_view_type=ViewType.ALL))
    assert rest == python
    assert sorted(_from_run(local.get_run(r[0])) for r in python) == python
    assert sorted(_from_run(remote.get_run(r[0])) for r in python) == python
    assert sorted(row[0] for row in table["rows"]) == [r[0] for r in python]
    ui_runs = sorted(_from_ui(requests.get(f"{ui}/runs/get", params={"run_id": r[0]}, timeout=30).json()) for r in python)
    assert ui_runs == python
    query = ("SELECT run_id, status, lifecycle_stage, run_name, start_time_ms, end_time_ms, map_entries(params) AS params, "
             f"map_entries(tags) AS tags, map_entries(metrics) AS metrics FROM runs WHERE experiment_id = '{experiment}'")
    answer = requests.post(f"{ui}/sql", json={"query": query}, timeout=30).json()
    assert sorted(_from_sql(row, answer["columns"]) for row in answer["rows"]) == python
    mine = local.sql(query)
    assert sorted(_from_sql(list(row), mine.columns) for row in mine.fetchall()) == python
    for order in (["metrics.a DESC"], ["params.b ASC", "attributes.run_name DESC"], []):
        want = [r.info.run_id for r in local.search_runs([experiment], "", ViewType.ALL, order_by=order)]
        assert [r.info.run_id for r in remote.search_runs([experiment], "", ViewType.ALL, order_by=order)] == want
        rows = requests.post(f"{ui}/runs/table", json={"experiment_ids": [experiment], "view_type": "ALL",
                                                        "order_by": order, "limit": 100}, timeout=30).json()["rows"]
        assert [row[0] for row in rows] == want, order
