"""The tracking server under load: ``tracklog server`` against ``mlflow server`` on sqlite.

Each server runs alone on the machine, on loopback, with its defaults (``mlflow server``: four
uvicorn workers; ``tracklog server``: one process, the store's one writer), artifacts proxied.
The same client load drives both: 16 concurrent clients (4 processes x 4 threads, so the load
generator is not held by one GIL), each with its own keep-alive connection and its own run,
sending a fixed mix for a fixed time after a warm-up:

    35%  POST runs/log-metric         one point of ``loss`` at the next step
    35%  POST runs/log-batch          10 metrics at the next step
    15%  POST runs/search             ``metrics.loss < 0.5`` ordered by it, 20 runs of ~100
    15%  GET  metrics/get-history     the client's own run's ``loss`` (it grows as the run goes)

Reported: requests per second (answered 200), median and p99 latency overall and per call,
and errors (anything but 200, or a failed connection). The issue's target: at least 5x MLflow's
requests per second with zero errors.

    python -m benchmarks.run --only tracking_server
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.procs import free_port, wait_ready
from benchmarks.stats import percentile
from benchmarks.targets import Target
from benchmarks.workloads import Figures, Sizes

__all__ = ["SERVER_WORKLOADS"]

API = "/api/2.0/mlflow/"
PROCESSES, THREADS = 4, 4
MIX = (("log_metric", 0.35), ("log_batch", 0.35), ("search", 0.15), ("history", 0.15))
IDLE_RUNS = 84  # besides one run per client: what searches sort through
PRELOAD_STEPS = 200




def _call(conn: http.client.HTTPConnection, method: str, endpoint: str, body: dict[str, Any] | None = None,
          query: str = "") -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, API + endpoint + (f"?{query}" if query else ""),
                 body=json.dumps(body).encode() if body is not None else None, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def _json(conn: http.client.HTTPConnection, method: str, endpoint: str, body: dict[str, Any] | None = None) -> Any:
    status, data = _call(conn, method, endpoint, body)
    if status != 200:
        raise RuntimeError(f"{endpoint}: HTTP {status}: {data[:300]!r}")
    return json.loads(data)




def _setup(port: int, clients: int) -> tuple[str, list[str]]:
    """An experiment with one run per client (each with a loss history) and idle runs to search."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    experiment_id = _json(conn, "POST", "experiments/create", {"name": "load"})["experiment_id"]
    rng = random.Random(0)
    runs = []
    for i in range(clients + IDLE_RUNS):
        run_id = _json(conn, "POST", "runs/create", {"experiment_id": experiment_id, "run_name": f"r{i}",
                                                     "start_time": int(time.time() * 1000)})["run"]["info"]["run_id"]
        metrics = [{"key": "loss", "value": rng.random(), "timestamp": 1_700_000_000_000 + s, "step": s}
                   for s in range(PRELOAD_STEPS if i < clients else 1)]
        for start in range(0, len(metrics), 1000):
            _json(conn, "POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics[start:start + 1000],
                                                   "params": [{"key": "lr", "value": str(rng.random())}] if not start else []})
        runs.append(run_id)
    conn.close()
    return experiment_id, runs[:clients]


def _client(port: int, experiment_id: str, run_id: str, seed: int, start_at: float, warmup: float, seconds: float,
            out: dict[str, list[float]], errors: list[str]) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    ops = [name for name, _ in MIX]
    weights = [w for _, w in MIX]
    step = PRELOAD_STEPS
    search = {"experiment_ids": [experiment_id], "filter": "metrics.loss < 0.5", "order_by": ["metrics.loss ASC"],
              "max_results": 20}
    history = f"run_id={run_id}&metric_key=loss&max_results=25000"
    time.sleep(max(0.0, start_at - time.time()))
    measure_from = time.perf_counter() + warmup
    end = measure_from + seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        op = rng.choices(ops, weights)[0]
        ts = int(time.time() * 1000)
        try:
            if op == "log_metric":
                status, data = _call(conn, "POST", "runs/log-metric", {"run_id": run_id, "key": "loss",
                                                                        "value": rng.random(), "timestamp": ts, "step": step})
                step += 1
            elif op == "log_batch":
                status, data = _call(conn, "POST", "runs/log-batch", {"run_id": run_id, "metrics": [
                    {"key": f"m{k}", "value": rng.random(), "timestamp": ts, "step": step} for k in range(10)]})
            elif op == "search":
                status, data = _call(conn, "POST", "runs/search", search)
            else:
                status, data = _call(conn, "GET", "metrics/get-history", query=history)
        except (OSError, http.client.HTTPException) as exc:
            status, data = 0, repr(exc).encode()
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        took = time.perf_counter() - now
        if now < measure_from:
            continue
        if status == 200:
            out[op].append(took * 1000)
        else:
            errors.append(f"{op}: HTTP {status}: {data[:200]!r}")
    conn.close()


def drive(port: int, experiment_id: str, run_ids: list[str], seed: int, start_at: float, warmup: float,
          seconds: float) -> dict[str, Any]:
    """One load process: a thread per run id; latencies (ms) per call, and errors."""
    out: dict[str, list[float]] = {name: [] for name, _ in MIX}
    errors: list[str] = []
    threads = [threading.Thread(target=_client, args=(port, experiment_id, run_id, seed * 100 + i, start_at, warmup,
                                                       seconds, out, errors)) for i, run_id in enumerate(run_ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies": out, "errors": errors}


def _load(port: int, experiment_id: str, run_ids: list[str], warmup: float, seconds: float) -> Figures:
    start_at = time.time() + 3.0  # every process starts together
    procs = []
    for p in range(PROCESSES):
        args = json.dumps([port, experiment_id, run_ids[p * THREADS:(p + 1) * THREADS], p, start_at, warmup, seconds])
        procs.append(subprocess.Popen([sys.executable, "-m", "benchmarks.server_workloads", args],
                                      stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent))
    parts = []
    for proc in procs:
        data, _ = proc.communicate(timeout=warmup + seconds + 300)
        if proc.returncode != 0:
            raise RuntimeError(f"a load process failed with status {proc.returncode}")
        parts.append(json.loads(data))
    per_op = {name: sorted(x for part in parts for x in part["latencies"][name]) for name, _ in MIX}
    every = sorted(x for xs in per_op.values() for x in xs)
    errors = [e for part in parts for e in part["errors"]]
    figures: Figures = {
        "clients": PROCESSES * THREADS, "seconds": seconds, "requests": len(every), "rps": len(every) / seconds,
        "p50_ms": percentile(every, 50), "p99_ms": percentile(every, 99), "errors": len(errors),
    }
    for name, xs in per_op.items():
        figures[f"{name}_rps"] = len(xs) / seconds
        figures[f"{name}_p50_ms"] = percentile(xs, 50) if xs else None
        figures[f"{name}_p99_ms"] = percentile(xs, 99) if xs else None
    if errors:
        figures["first_errors"] = errors[:5]
    return figures


def tracking_server(target: Target, sizes: Sizes) -> Figures:
    folder = Path(tempfile.mkdtemp(prefix=f"tracklog-bench-server-{target.name}-"))
    port = free_port()
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    if target.library == "mlflow":
        command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
                   "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "tracklog.cli", "server", "--store", str(folder / "store"),
                   "--artifacts-destination", str(folder / "artifacts"), "--port", str(port)]
    log_file = (folder / "server.log").open("wb")
    proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=folder)
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}/health", 180.0)
        experiment_id, run_ids = _setup(port, PROCESSES * THREADS)
        seconds = sizes.serve_seconds * 2
        return _load(port, experiment_id, run_ids, warmup=min(3.0, seconds / 3), seconds=seconds)
    except Exception as exc:
        log_file.flush()
        tail = (folder / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{exc}; server log tail:\n{tail}") from exc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()
        shutil.rmtree(folder, ignore_errors=True)


SERVER_WORKLOADS: dict[str, Any] = {"tracking_server": tracking_server}


if __name__ == "__main__":  # one load process (see _load)
    print(json.dumps(drive(*json.loads(sys.argv[1]))))
