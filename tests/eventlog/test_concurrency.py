"""Many processes write one store at once, with no locks: every event is read back exactly once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter

import pytest

import tracklog

_WORKER = textwrap.dedent("""
    import sys
    import tracklog
    tracklog.set_tracking_uri(sys.argv[1])
    tracklog.set_experiment("shared")  # every worker races to create it
    n = int(sys.argv[2])
    with tracklog.start_run(run_name=f"worker-{sys.argv[3]}") as run:
        for i in range(20):
            tracklog.log_param(f"p{i}", i)
            tracklog.set_tag(f"t{i}", sys.argv[3])
        for i in range(n):
            tracklog.log_metric("loss", 1.0 / (i + 1), step=i)
    print(run.info.run_id)
""")


def _run_workers(uri: str, workers: int, points: int) -> list[str]:
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, uri, str(points), str(w)], stdout=subprocess.PIPE, text=True)
        for w in range(workers)
    ]
    run_ids = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0
        run_ids.append(out.strip())
    return run_ids


def _check(uri: str, run_ids: list[str], points: int) -> None:
    client = tracklog.Client(uri)
    experiments = [e for e in client.search_experiments() if e.name == "shared"]
    assert len(experiments) == 1, "two workers created the same experiment"
    for run_id in run_ids:
        run = client.get_run(run_id)
        assert run.info.experiment_id == experiments[0].experiment_id
        assert run.info.status == "FINISHED"
        assert len(run.data.params) == 20 and run.data.metrics["loss"] == 1.0 / points
        history = client.get_metric_history(run_id, "loss")
        assert [m.step for m in history] == list(range(points))
    events = list(client.store.log.scan(include_pending=False))
    ids = Counter((e.writer_id, e.writer_seq) for e in events)
    assert max(ids.values()) == 1, "an event was read twice"
    kinds = Counter(type(e).__name__ for e in events)
    assert kinds["MetricLogged"] == len(run_ids) * points
    assert kinds["ParamLogged"] == len(run_ids) * 20
    assert sum(1 for e in events if type(e).__name__ == "RunTagSet" and e.key[0] == "t") == len(run_ids) * 20
    assert kinds["RunStarted"] == kinds["RunEnded"] == len(run_ids)
    assert kinds["ExperimentCreated"] == 1


def test_eight_processes_fifty_thousand_points_each(tmp_path) -> None:
    uri = str(tmp_path / "store")
    run_ids = _run_workers(uri, workers=8, points=50_000)
    _check(uri, run_ids, 50_000)


def test_four_processes_on_s3(store_uri: str) -> None:
    if not store_uri.startswith("s3://"):
        pytest.skip("the S3 case")
    run_ids = _run_workers(store_uri, workers=4, points=5_000)
    _check(store_uri, run_ids, 5_000)
