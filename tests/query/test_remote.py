"""The read side on every backend: a real S3 server on loopback, memory://, a local folder."""

from __future__ import annotations

import pytest

import tracklog
from eventlog import EventLog
from eventlog.compaction import compact, remove_expired


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("TRACKLOG_CACHE_DIR", str(tmp_path / "cache"))
    return str(tmp_path / "cache")


def test_search_sql_history_and_compaction(store_uri: str, cache_dir: str) -> None:
    client = tracklog.Client(store_uri)
    exp = client.create_experiment("remote")
    ids = []
    for i in range(4):
        run_id = client.create_run(exp, run_name=f"r{i}").info.run_id
        client.log_param(run_id, "p1", "x" if i % 2 else "y")
        for step in range(50):
            client.log_metric(run_id, "m0", i + step / 100, step=step)
        client.set_terminated(run_id)
        client.flush()
        ids.append(run_id)

    def answers() -> tuple:
        found = [r.info.run_id for r in client.search_runs([exp], "metrics.m0 > 1.2 and params.p1 = 'x'", order_by=["metrics.m0 DESC"])]
        rows = tracklog.sql("SELECT count(*), round(sum(value), 3) FROM metrics", uri=store_uri).fetchall()
        history = [m.step for m in client.get_metric_history(ids[1], "m0")]
        return found, rows, history

    before = answers()
    assert before == ([ids[3], ids[1]], [(200, round(sum(i + s / 100 for i in range(4) for s in range(50)), 3))], list(range(50)))
    store = EventLog.open(store_uri).store
    for stream in ("metric", "control"):
        assert compact(store, stream).commit == 0
        remove_expired(store, stream, retention=0)
    assert answers() == before
    fresh = tracklog.Client(store_uri)  # a new Client answers from the same folded cache
    assert [r.info.run_name for r in fresh.search_runs([exp], order_by=["attributes.run_name DESC"])] == ["r3", "r2", "r1", "r0"]
