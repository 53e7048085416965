"""The web UI's time to first render, in headless Chromium, against MLflow's UI on the same data.

    .venv/bin/python -m benchmarks.ui_workloads                 # 10k and 100k runs, 10 runs x 1M points
    .venv/bin/python -m benchmarks.ui_workloads --runs 10000 --points 100000 --no-mlflow   # quick

Figures (median of `--repeats` fresh browser contexts, ms from navigation start to the first
paint that shows the thing):

- ``table``: the runs table of experiment 0 with N runs shows its first rows; ``scroll``: after
  jumping to the middle of the table, the rows there are filled in;
- ``chart``: one chart of `--chart-runs` runs x `--points` points each (key ``k0``) is drawn.

tracklog's stores are the cached read-side stores of `benchmarks.query_workloads` (generated
on first use); each is served by ``tracklog ui`` on a private copy, measured after the server is
up (it folds the store at start). MLflow gets the same runs and points in its sqlite store: the
first run through its client, the rest inserted into its tables as copies (as the search
benchmark does), served by ``mlflow server``; its UI is timed until the runs table shows a run
name, and until its chart view has drawn a plot. A figure MLflow does not reach in
`--timeout` seconds is recorded as not finished.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.procs import free_port, wait_ready
from benchmarks.stores import (
    StoreCache,
    build_fold_store,
    build_runs_store,
    fold_run_id,
    fold_value,
    run_specs,
)

REPO = Path(__file__).resolve().parent.parent
UI = REPO / "ui"
TARGETS_MS = {"table": 1000.0, "chart": 1000.0}

# what "rendered" means, as a JS expression evaluated in the page
TRACKLOG_TABLE = "document.querySelectorAll('tr[data-run-id]').length >= 10"
TRACKLOG_SCROLLED = ("!document.querySelector('.grid-scroll tr.loading-row') && "
                     "document.querySelectorAll('.grid-scroll tr[data-run-id]').length >= 10")
TRACKLOG_CHART = ("!!document.querySelector('[data-testid=chart-k0] canvas') && "
                  "/points/.test(document.querySelector('[data-testid=chart-k0] [data-testid=chart-info]')?.textContent || '')")
MLFLOW_TABLE = "/run-0\\d{5}/.test(document.body ? document.body.textContent : '')"  # a run name in the table
MLFLOW_CHART = ("[...document.querySelectorAll('.js-plotly-plot')]"
                ".some((p) => p.querySelectorAll('.scatterlayer .trace').length >= 10)")  # one plot with every run






@contextmanager
def _serve(argv: list[str], health: str, log: Path, timeout: float = 600,
           env: dict[str, str] | None = None) -> Iterator[tuple[str, float]]:
    """Start a server (argv gets ``--port P``); yield its base URL and how long it took to start."""
    port = free_port()
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([*argv, "--port", str(port)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
        try:
            base = f"http://127.0.0.1:{port}/"
            wait_ready(proc, base + health, timeout)
            yield base, time.perf_counter() - started
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _measure(url: str, ready: str, repeats: int, timeout_s: float, scroll: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": url, "ready": ready, "repeats": repeats, "timeout_ms": timeout_s * 1000}
    if scroll:
        spec["scroll"] = {"fraction": 0.5, "ready": scroll}
    done = subprocess.run(["node", "tests/bench.mjs", json.dumps(spec)], cwd=UI, capture_output=True, text=True,
                          timeout=timeout_s * repeats * 3 + 120)
    if done.returncode:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    found = json.loads(done.stdout.strip().splitlines()[-1])
    out: dict[str, Any] = {"errors": found["errors"]}
    for key in ("first_render_ms", "scroll_render_ms"):
        values = [v for v in found[key] if v is not None]
        if values:
            out[key] = round(statistics.median(values), 1)
            out[key + "_all"] = [round(v, 1) for v in values]
    return out


# ---- tracklog --------------------------------------------------------------------------------


def _tracklog(store: Path, work: Path, route: str, ready: str, scroll: str | None, repeats: int,
              timeout: float) -> dict[str, Any]:
    """Serve `store` with ``tracklog ui`` and time `route` (a hash route of the UI)."""
    argv = [sys.executable, "-m", "tracklog.cli", "ui", "--store", str(store), "--no-browser", "--no-access-log",
            "--log-level", "warning"]
    with _serve(argv, "health", work / "tracklog-server.log", env={"TRACKLOG_CACHE_DIR": str(work / "cache")}) as (base, start_s):
        return {"server_start_s": round(start_s, 2), **_measure(base + "#" + route, ready, repeats, timeout, scroll)}


# ---- MLflow ----------------------------------------------------------------------------------


def _mlflow_runs_store(root: Path, n: int) -> Path:
    """MLflow's sqlite store with the same `n` runs as tracklog's (experiment 0)."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    from benchmarks.query_workloads import _bulk_populate_mlflow

    db = root / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = mlflow.MlflowClient()
    specs = run_specs(n)
    first = specs[0]
    run = client.create_run("0", start_time=first.start_ms, run_name=first.name)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, first.start_ms + 100, 0) for k, v in first.metrics],
                     params=[Param(k, v) for k, v in first.params], tags=[RunTag(k, v) for k, v in first.tags])
    client.set_terminated(run.info.run_id, "FINISHED")
    if n > 1:
        _bulk_populate_mlflow(db, run.info.run_id, specs[1:])
    return db


def _mlflow_chart_store(root: Path, runs: int, steps: int) -> tuple[Path, list[str]]:
    """MLflow's sqlite store with `runs` runs x `steps` points of ``k0`` (tracklog's fold curve)."""
    import mlflow
    from mlflow.entities import Metric

    db = root / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = mlflow.MlflowClient()
    ids = []
    for r in range(runs):
        run = client.create_run("0", run_name=f"fold-{r}")
        client.log_batch(run.info.run_id, metrics=[Metric("k0", fold_value(r, 0, 0), 1_700_000_000_000, 0)])
        client.set_terminated(run.info.run_id, "FINISHED")
        ids.append(run.info.run_id)
    con = sqlite3.connect(db)
    try:
        cols = [d[0] for d in con.execute("SELECT * FROM metrics LIMIT 1").description]
        template = dict(zip(cols, con.execute("SELECT * FROM metrics LIMIT 1").fetchone(), strict=True))
        marks = ", ".join("?" * len(cols))
        for r, rid in enumerate(ids):
            batch = []
            for step in range(1, steps):
                row = {**template, "run_uuid": rid, "key": "k0", "value": fold_value(r, 0, step),
                       "timestamp": 1_700_000_000_000 + 100 * step, "step": step, "is_nan": False}
                batch.append(tuple(row[c] for c in cols))
                if len(batch) == 200_000:
                    con.executemany(f"INSERT INTO metrics ({', '.join(cols)}) VALUES ({marks})", batch)  # noqa: S608
                    batch = []
            if batch:
                con.executemany(f"INSERT INTO metrics ({', '.join(cols)}) VALUES ({marks})", batch)  # noqa: S608
            con.execute("UPDATE latest_metrics SET value = ?, step = ?, timestamp = ? WHERE run_uuid = ? AND key = 'k0'",
                        (fold_value(r, 0, steps - 1), steps - 1, 1_700_000_000_000 + 100 * (steps - 1), rid))
        con.commit()
    finally:
        con.close()
    return db, ids


def _mlflow(db: Path, work: Path, route: str, ready: str, repeats: int, timeout: float) -> dict[str, Any]:
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
            "--default-artifact-root", str(work / "mlartifacts"), "--host", "127.0.0.1", "--workers", "1"]
    with _serve(argv, "health", work / "mlflow-server.log") as (base, start_s):
        return {"server_start_s": round(start_s, 2), **_measure(base + "#" + route, ready, repeats, timeout)}


# ---- the workloads ---------------------------------------------------------------------------


def table(n: int, args: argparse.Namespace, cache: StoreCache) -> dict[str, Any]:
    name = f"runs-{n}-f10000"
    out: dict[str, Any] = {"runs": n}
    with cache.working_store(name, lambda p: build_runs_store(p, run_specs(n), 10000)) as (store, info):
        out["store_reused"] = info.get("reused")
        out["tracklog"] = _tracklog(store, store.parent, "/experiments/0", TRACKLOG_TABLE, TRACKLOG_SCROLLED,
                                    args.repeats, args.timeout)
    if args.mlflow:
        with tempfile.TemporaryDirectory(prefix="tracklog-ui-bench-mlflow-") as tmp:
            db = _mlflow_runs_store(Path(tmp), n)
            out["mlflow"] = _mlflow(db, Path(tmp), "/experiments/0/runs", MLFLOW_TABLE, args.repeats, args.timeout)
    return out


def chart(runs: int, steps: int, args: argparse.Namespace, cache: StoreCache) -> dict[str, Any]:
    name = f"fold-{runs}x1x{steps}-f1000000"
    out: dict[str, Any] = {"runs": runs, "points_per_run": steps}
    ids = [fold_run_id(r) for r in range(runs)]
    build = lambda p: build_fold_store(p, runs=runs, keys=1, steps=steps, points_per_flush=1_000_000)  # noqa: E731
    with cache.working_store(name, build) as (store, info):
        out["store_reused"] = info.get("reused")
        route = f"/charts?runs={','.join(ids)}&keys=k0"
        out["tracklog"] = _tracklog(store, store.parent, route, TRACKLOG_CHART, None, args.repeats, args.timeout)
    if args.mlflow:
        with tempfile.TemporaryDirectory(prefix="tracklog-ui-bench-mlflow-") as tmp:
            db, ml_ids = _mlflow_chart_store(Path(tmp), runs, steps)
            # MLflow's experiment page in chart mode draws the runs' metric charts
            route = "/experiments/0/runs?compareRunsMode=CHART"
            out["mlflow"] = _mlflow(db, Path(tmp), route, MLFLOW_CHART, args.repeats, args.timeout)
            out["mlflow"]["run_ids"] = len(ml_ids)
    return out


def _report(results: dict[str, Any]) -> str:
    lines = ["what                                   tracklog        MLflow          target"]

    def fig(d: dict[str, Any] | None, key: str = "first_render_ms") -> str:
        if d is None:
            return "not run"
        if key in d:
            return f"{d[key]:,.0f} ms"
        return "did not finish" if d.get("errors") or d.get("error") else "—"

    for t in results.get("table", []):
        lines.append(f"runs table, {t['runs']:>7,} runs, first rows  {fig(t['tracklog']):<15} {fig(t.get('mlflow')):<15} "
                     f"< {TARGETS_MS['table']:,.0f} ms {'PASS' if t['tracklog'].get('first_render_ms', 1e9) < TARGETS_MS['table'] else 'MISS'}")
        lines.append(f"  jump to the middle, rows filled      {fig(t['tracklog'], 'scroll_render_ms'):<15}")
    c = results.get("chart")
    if c:
        lines.append(f"chart, {c['runs']} runs x {c['points_per_run']:,} points       {fig(c['tracklog']):<15} {fig(c.get('mlflow')):<15} "
                     f"< {TARGETS_MS['chart']:,.0f} ms {'PASS' if c['tracklog'].get('first_render_ms', 1e9) < TARGETS_MS['chart'] else 'MISS'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="10000,100000", help="runs-table sizes, comma-separated")
    parser.add_argument("--chart-runs", type=int, default=10)
    parser.add_argument("--points", type=int, default=1_000_000, help="points per run in the chart (0: no chart)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a page may take before it counts as not finished")
    parser.add_argument("--mlflow", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--no-store-cache", action="store_true", help="generate stores afresh and keep nothing")
    parser.add_argument("--out", default=str(REPO / "bench-results" / "ui.json"))
    args = parser.parse_args(argv)
    if shutil.which("node") is None or not (UI / "node_modules").is_dir():
        parser.error("needs node and ui/node_modules (make setup)")
    cache = StoreCache(None if args.no_store_cache else StoreCache().root)
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg_at_start": os.getloadavg(),
                               "repeats": args.repeats, "table": []}
    try:
        for n in [int(x) for x in args.runs.split(",") if x]:
            print(f"ui bench: runs table, {n:,} runs", file=sys.stderr)
            results["table"].append(table(n, args, cache))
        if args.points:
            print(f"ui bench: chart, {args.chart_runs} runs x {args.points:,} points", file=sys.stderr)
            results["chart"] = chart(args.chart_runs, args.points, args, cache)
    finally:
        cache.cleanup()
    results["loadavg_at_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(_report(results))
    print(f"(figures in {args.out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

