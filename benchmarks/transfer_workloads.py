"""Speed of moving data: ``import mlflow`` from sqlite, ``sync`` between stores, ``export mlflow``.

    python -m benchmarks.transfer_workloads [--points 1000000] [--runs 10] [--keys 5] [--no-export] [--no-s3] [--keep]

Builds an MLflow sqlite database with `--points` metric points (runs and experiment through
MLflow's client; the points inserted into its ``metrics`` table in bulk, as MLflow stores them,
since logging 1M points through MLflow alone takes minutes), then times, each in a fresh folder:

- ``import``: `tracklog.transfer.import_mlflow` of the whole database (points/s);
- ``import again``: the same import once more (it adds nothing);
- ``sync``: `tracklog.transfer.sync` of the imported store into an empty folder, then again
  (nothing new), then into an ``s3://`` bucket of a moto server on loopback (unless --no-s3),
  then of the store once compacted into an empty folder;
- ``export`` (unless --no-export): `tracklog.transfer.export_mlflow` into a new sqlite database.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def moto_bucket(tmp: str) -> Iterator[str]:
    """An S3 bucket on a moto server in its own process on loopback (the AWS env points at it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                          AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", TRACKLOG_CACHE_DIR=os.path.join(tmp, "cache"))
        import boto3

        boto3.client("s3").create_bucket(Bucket="bench")
        yield "s3://bench/store"
    finally:
        proc.kill()
        proc.wait()


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
    parser.add_argument("--keep", action="store_true", help="keep the folders (printed) instead of removing them")
    parser.add_argument("--no-s3", action="store_true", help="skip the sync into a moto S3 server")
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
    if not args.no_s3:
        with moto_bucket(tmp) as bucket:
            synced_s3, took_s3 = timed(lambda: sync(store, bucket))
            print(f"sync local->S3 (moto)    {took_s3:7.2f}s  {n / took_s3:12,.0f} points/s  ({synced_s3.events:,} events)")
            _, took_s3b = timed(lambda: sync(store, bucket))
            print(f"sync local->S3 again     {took_s3b:7.2f}s")
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
    if args.keep:
        print(f"(folders under {tmp})")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
