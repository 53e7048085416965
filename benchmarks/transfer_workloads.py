"""Speed of moving data: ``import mlflow`` from sqlite, ``sync`` between stores, ``export mlflow``.

    python -m benchmarks.transfer_workloads [--points 1000000] [--runs 10] [--keys 5] [--no-export]

Builds an MLflow sqlite database with `--points` metric points (runs and experiment through
MLflow's client; the points inserted into its ``metrics`` table in bulk, as MLflow stores them,
since logging 1M points through MLflow alone takes minutes), then times, each in a fresh folder:

- ``import``: `tracklog.transfer.import_mlflow` of the whole database (points/s);
- ``import again``: the same import once more (it adds nothing);
- ``sync``: `tracklog.transfer.sync` of the imported store into an empty folder, then again
  (nothing new), then of a compacted copy;
- ``export`` (unless --no-export): `tracklog.transfer.export_mlflow` into a new sqlite database.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from typing import Any


def build_source(path: str, points: int, runs: int, keys: int) -> list[str]:
    """An MLflow sqlite database with `runs` finished runs of `keys` metrics, `points` in all."""
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{path}"
    client = MlflowClient(uri)
    exp = client.create_experiment("bench")
    run_ids = []
    for i in range(runs):
        run = client.create_run(exp, run_name=f"run-{i}")
        client.log_param(run.info.run_id, "i", i)
        client.set_terminated(run.info.run_id)
        run_ids.append(run.info.run_id)
    del mlflow
    steps = points // (runs * keys)
    con = sqlite3.connect(path)
    base = 1_700_000_000_000
    for run_id in run_ids:
        rows = [(f"m{k}", float(s) * 0.001 + k, base + s, run_id, s, 0) for k in range(keys) for s in range(steps)]
        con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", rows)
        con.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, 0, ?)",
                        [(f"m{k}", float(steps - 1) * 0.001 + k, base + steps - 1, steps - 1, run_id) for k in range(keys)])
    con.commit()
    con.close()
    return run_ids


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--no-export", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from eventlog import EventLog
    from eventlog.compaction import compact
    from tracklog.transfer import import_mlflow, sync

    tmp = tempfile.mkdtemp(prefix="tracklog-transfer-bench-")
    db = os.path.join(tmp, "mlflow.db")
    _, built = timed(lambda: build_source(db, args.points, args.runs, args.keys))
    n = args.points // (args.runs * args.keys) * args.runs * args.keys
    print(f"source: {n:,} metric points in {args.runs} runs ({built:.1f}s to build) at {db}")
    store = os.path.join(tmp, "store")
    report, took = timed(lambda: import_mlflow(f"sqlite:///{db}", store, progress=False))
    assert report.metric_points == n, report
    print(f"import mlflow (sqlite)   {took:7.2f}s  {n / took:12,.0f} points/s")
    again, took2 = timed(lambda: import_mlflow(f"sqlite:///{db}", store, progress=False))
    assert again.metric_points == 0 and again.segments == 0, again
    print(f"import again (no-op)     {took2:7.2f}s  ({again.runs_skipped} runs skipped)")
    copy = os.path.join(tmp, "copy")
    synced, took3 = timed(lambda: sync(store, copy))
    print(f"sync local->local        {took3:7.2f}s  {n / took3:12,.0f} points/s  ({synced.events:,} events)")
    _, took4 = timed(lambda: sync(store, copy))
    print(f"sync again (no-op)       {took4:7.2f}s")
    log = EventLog.open(store)
    for stream in ("control", "metric"):
        compact(log.store, stream)
    log.close()
    compacted_copy = os.path.join(tmp, "copy-of-compacted")
    synced2, took5 = timed(lambda: sync(store, compacted_copy))
    print(f"sync compacted->empty    {took5:7.2f}s  {n / took5:12,.0f} points/s  ({synced2.events:,} events)")
    if not args.no_export:
        from tracklog.transfer import export_mlflow

        out_db = os.path.join(tmp, "exported.db")
        exported, took6 = timed(lambda: export_mlflow(store, f"sqlite:///{out_db}", progress=False))
        print(f"export mlflow (sqlite)   {took6:7.2f}s  {exported.metric_points / took6:12,.0f} points/s")
    print(f"(folders under {tmp})")


if __name__ == "__main__":
    main()
