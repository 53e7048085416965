"""The read path at scale (issue 13's targets): a generated store of N runs (5 params, 3 tags,
5 metrics each), read by a real ``tracklog server`` process and by fresh Python processes.

    python -m benchmarks.readpath [--runs 100000] [--runs 1000000] [--out bench-results/readpath.json]

For each N:

- *server start*: ``tracklog server`` on the store, its catalog warm (folded earlier by another
  process), from the process's start until the first REST search answers;
- *server peak memory*: the server's peak resident set (``VmHWM``) after the searches below;
- *REST search*: ``POST runs/search``, ``metrics.m0 > 0.5 and params.p1 = 'x'`` ordered by
  ``metrics.m3 DESC``, 100 rows (median of 30, one keep-alive connection);
- *REST get-run*: ``GET runs/get`` of those runs (median of 30);
- *UI runs table*: ``POST /api/2.0/tracklog/runs/table``, the first window of 100 rows with the
  total count — the server's part of the runs page's first render (median of 10; the browser
  figure is `benchmarks.ui_workloads`);
- *Python search_runs, fresh process*: a new interpreter imports tracklog and searches, with no
  catalog (cold: it folds the whole store) and with the catalog the cold run left (warm); then
  the same search repeated in that process (median of 20).

Stores come from `benchmarks.stores` (cached under ``bench-results/stores``). The targets are
absolute (the issue's table); the JSON holds every figure and the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.stores import StoreCache, build_runs_store, run_specs

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SEARCH = {"experiment_ids": ["0"], "filter": "metrics.m0 > 0.5 and params.p1 = 'x'", "order_by": ["metrics.m3 DESC"],
          "max_results": 100}
# (figure, target at 100k, target at 1M, unit); None: reported, no target
TARGETS = {
    "server_start_s": (2.0, 5.0, "s"),
    "server_peak_rss_mb": (500.0, 1500.0, "MB"),
    "rest_search_ms": (50.0, None, "ms"),
    "rest_get_run_ms": (5.0, None, "ms"),
    "python_cold_s": (10.0, None, "s"),
    "python_warm_ms": (50.0, None, "ms"),
    "ui_runs_table_ms": (1000.0, 2000.0, "ms"),
}

_CHILD = """
import sys, time, json, statistics
t0 = time.perf_counter()
import tracklog
client = tracklog.Client(sys.argv[1])
args = (["0"], "metrics.m0 > 0.5 and params.p1 = 'x'")
page = client.search_runs(*args, order_by=["metrics.m3 DESC"], max_results=100)
first = time.perf_counter() - t0
times = []
for _ in range(20):
    t = time.perf_counter()
    client.search_runs(*args, order_by=["metrics.m3 DESC"], max_results=100)
    times.append(time.perf_counter() - t)
print(json.dumps({"first_s": first, "repeat_ms": statistics.median(times) * 1000, "rows": len(page)}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _python_search(store: Path) -> dict[str, Any]:
    out = subprocess.run([PYTHON, "-c", _CHILD, str(store)], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, resp.read()


def _timed(fn: Any, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _server(store: Path) -> dict[str, Any]:
    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-m", "tracklog.cli", "server", "--store", str(store), "--port", str(port),
                             "--no-access-log", "--log-level", "warning"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=REPO_ROOT)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                status, data = _post(conn, "/api/2.0/mlflow/runs/search", SEARCH)
                if status == 200:
                    break
            except OSError:
                time.sleep(0.01)
        start_s = time.perf_counter() - started
        run_ids = [r["info"]["run_id"] for r in json.loads(data)["runs"]]

        def get_run(ids: list[str] = run_ids) -> None:
            conn.request("GET", f"/api/2.0/mlflow/runs/get?run_id={ids[int(time.perf_counter_ns()) % len(ids)]}")
            conn.getresponse().read()

        figures = {
            "server_start_s": start_s,
            "rest_search_ms": _timed(lambda: _post(conn, "/api/2.0/mlflow/runs/search", SEARCH), 30),
            "rest_get_run_ms": _timed(get_run, 30),
            "ui_runs_table_ms": _timed(lambda: _post(conn, "/api/2.0/tracklog/runs/table",
                                                     {"experiment_ids": ["0"], "limit": 100}), 10),
            "rows": len(run_ids),
        }
        status_lines = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        figures["server_peak_rss_mb"] = next(int(line.split()[1]) for line in status_lines if line.startswith("VmHWM")) / 1024
        return figures
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def measure(n: int, cache: StoreCache) -> dict[str, Any]:
    with cache.working_store(f"runs-{n}", lambda path: build_runs_store(path, run_specs(n), runs_per_flush=1000)) as (store, meta):
        shutil.rmtree(store / "_cache", ignore_errors=True)
        cold = _python_search(store)  # folds the whole store into its catalog
        warm = _python_search(store)  # a fresh process on that catalog
        figures = {"runs": n, "python_cold_s": cold["first_s"], "python_warm_first_s": warm["first_s"],
                   "python_warm_ms": warm["repeat_ms"], **_server(store), "store": meta}
    return figures


def _verdict(name: str, value: float, n: int) -> str:
    low, high, unit = TARGETS[name]
    target = low if n <= 100_000 else high
    if target is None:
        return f"{value:10.1f} {unit:2}  (reported)"
    return f"{value:10.1f} {unit:2}  target < {target:g} {unit}: {'PASS' if value < target else 'MISS'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readpath", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, action="append", default=[], help="store sizes (default: 100000)")
    parser.add_argument("--out", default="bench-results/readpath.json")
    args = parser.parse_args(argv)
    sizes = args.runs or [100_000]
    cache = StoreCache()
    load = os.getloadavg()
    results = []
    for n in sizes:
        print(f"[readpath] {n:,} runs …", file=sys.stderr, flush=True)
        results.append(measure(n, cache))
    for figures in results:
        print(f"\n{figures['runs']:,} runs (5 params, 3 tags, 5 metrics each)")
        for name in TARGETS:
            print(f"  {name:22} {_verdict(name, figures[name], figures['runs'])}")
        print(f"  {'python_warm_first_s':22} {figures['python_warm_first_s']:10.2f} s   (reported)")
    out = REPO_ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "loadavg_at_start": load,
                               "loadavg_at_end": os.getloadavg(), "results": results}, indent=2, default=str))
    print(f"\n(load average {load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end; JSON in {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
