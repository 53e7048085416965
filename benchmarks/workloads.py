"""The write-side workloads and `Sizes`. Each takes a `Target` and `Sizes` and returns a flat
dict of figures; the read-side workloads are in `benchmarks.query_workloads`.

Every workload runs the same code for tracklog and MLflow; only N differs where MLflow's
per-call cost makes tracklog's N impractical, and every result records the N it used.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.stats import clock, percentile, quiesce, rate, summarize_ns
from benchmarks.targets import Target

__all__ = ["REPO_ROOT", "WORKLOADS", "Sizes", "Workload", "warmup"]

REPO_ROOT = Path(__file__).resolve().parent.parent
BATCH_LIMIT = 1000  # MLflow's (and tracklog's) limit of metrics per log_batch call
MAX_FAILED_RUNS = 20  # the runs workload gives up after this many failed runs

Figures = dict[str, Any]
Workload = Callable[[Target, "Sizes"], Figures]


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does; ``*_slow`` counts apply to MLflow."""

    log_metric_calls: int = 100_000
    log_metric_calls_slow: int = 2_000
    log_metric_repeats: int = 3  # tracklog only; MLflow's loop is long enough to run once
    log_metrics_keys: int = 10
    log_metrics_steps: int = 10_000
    log_metrics_steps_slow: int = 500
    runs: int = 1_000
    runs_budget_s_slow: float = 60.0  # MLflow logs runs until this much time has passed
    run_params: int = 10
    run_tags: int = 5
    run_metric_keys: int = 10
    run_steps: int = 20
    storage_points: int = 100_000  # the same for every target: bytes per point depend on N
    import_repeats: int = 10
    # read side (benchmarks/query_workloads.py)
    search_runs: tuple[int, ...] = (1_000, 10_000, 100_000)  # store sizes, in runs
    search_runs_per_flush: int = 10_000  # one segment per stream per this many runs
    search_budget_s_slow: float = 240.0  # MLflow grows its store to the next size only if one round
    #                                      of its queries, scaled to that size, fits
    search_runs_slow_max: int = 10_000  # and never past this size: at 100k runs populating and querying
    #                                     MLflow's sqlite takes over 20 minutes (larger sizes compare
    #                                     tracklog with MLflow's largest size, which flatters MLflow)
    search_repeats: int = 5  # timed repetitions of each query, after one warm-up call
    history_points: int = 1_000_000
    history_points_slow: int = 100_000  # MLflow: measured at this N, also shown scaled to history_points
    history_points_per_flush: int = 100_000
    history_points_small: int = 20_000  # a second history, measured at this N for every target (no scaling)
    fold_runs: int = 1_000  # fold store: runs x keys x steps metric points
    fold_keys: int = 10
    fold_steps: int = 1_000
    fold_points_per_flush: int = 200_000
    fold_repeats: int = 3  # cold folds (cache file deleted before each); the median is reported
    pattern_points: int = 1_000_000  # compacted bytes/point per value pattern
    compact_repeats: int = 3  # timed repetitions of the history query before/after compaction
    serve_seconds: float = 6.0  # model serving: timed seconds of back-to-back requests per batch size
    registry_versions: int = 1_000  # model versions registered one by one
    registry_budget_s: float = 30.0  # each registry loop stops after this many seconds (each target records its N)
    registry_resolves: int = 10_000  # alias lookups and models:/name@alias resolutions (MLflow: a fifth)

    @classmethod
    def full(cls) -> Sizes:
        return cls()

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            log_metric_calls=20_000, log_metric_calls_slow=300, log_metric_repeats=2,
            log_metrics_steps=2_000, log_metrics_steps_slow=100,
            runs=100, runs_budget_s_slow=8.0,
            storage_points=10_000, import_repeats=3,
            search_runs=(500, 5_000), search_runs_per_flush=1_000, search_budget_s_slow=30.0,
            history_points=100_000, history_points_slow=10_000, history_points_per_flush=20_000,
            fold_runs=100, fold_keys=10, fold_steps=100, fold_points_per_flush=10_000,
            pattern_points=100_000, serve_seconds=2.0,
            registry_versions=200, registry_resolves=1_000, registry_budget_s=10.0,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- value patterns ----------------------------------------------------------------------


def smooth(step: int) -> float:
    """A loss-like curve: decreasing, smooth, never repeating exactly."""
    return 1.0 / (1.0 + 0.01 * step)


def smooth_values(n: int) -> list[float]:
    return [smooth(i) for i in range(n)]


def noisy_values(n: int, seed: int = 42) -> list[float]:
    """The smooth curve plus Gaussian noise (sigma 0.01), as a real training loss looks."""
    rng = random.Random(seed)
    return [smooth(i) + rng.gauss(0.0, 0.01) for i in range(n)]


def training_timestamps(n: int, seed: int = 7) -> list[int]:
    """Millisecond timestamps of a loop taking ~100 ms per step, with 0-9 ms of jitter."""
    rng = random.Random(seed)
    start = time.time_ns() // 1_000_000
    return [start + 100 * i + rng.randrange(10) for i in range(n)]


# ---- helpers -------------------------------------------------------------------------------


def _stored(target: Target, root: Path, before: int, points: int) -> Figures:
    files = target.metric_files(root)
    stored = sum(p.stat().st_size for p in files) - before
    return {"metric_files": len(files), "metric_bytes": stored, "bytes_per_point": stored / points}


# ---- warm-up --------------------------------------------------------------------------------


def warmup(target: Target, sizes: Sizes) -> Figures:
    """One tiny run (start, one point, end, and tracklog's `flush`) before the workloads, timed
    and reported on its own.

    Both libraries import parts of themselves lazily (tracklog: pyarrow at the first flush), so
    the first run of a process pays a one-off cost that would otherwise land in whichever
    workload happens to come first.
    """
    api = target.api
    with target.fresh_store():
        start = clock()
        api.start_run()
        api.log_metric("warmup", 1.0, step=0)
        api.end_run()
        flush = getattr(api, "flush", None)  # tracklog publishes in the background; MLflow has written already
        if flush is not None:
            flush()
        return {"first_run_s": (clock() - start) / 1e9}


# ---- (1) log_metric: per-call latency and throughput ---------------------------------------


def _log_metric_once(target: Target, n: int) -> Figures:
    values = smooth_values(n)
    latencies = [0] * n
    api = target.api
    with target.fresh_store() as root:
        api.start_run()
        before = target.metric_bytes(root)
        call = api.log_metric
        quiesce()
        loop_start = clock()
        for i, value in enumerate(values):
            start = clock()
            call("loss", value, step=i)
            latencies[i] = clock() - start
        loop_ns = clock() - loop_start
        api.end_run()
        target.publish()
        end_ns = clock() - loop_start - loop_ns
        stored = _stored(target, root, before, n)
    return {
        "calls": n,
        **summarize_ns(latencies),
        "loop_s": loop_ns / 1e9,
        "end_run_s": end_ns / 1e9,
        "calls_per_s": rate(n, loop_ns),
        "calls_per_s_incl_end_run": rate(n, loop_ns + end_ns),
        **stored,
    }


def log_metric(target: Target, sizes: Sizes) -> Figures:
    """One metric, one run, ``log_metric(key, value, step=i)`` per step, each call timed.

    tracklog repeats this (each time in a fresh store) and reports the repeat with the median
    median latency, plus every repeat's median: a single 0.3 s loop on a shared 2-core
    machine is at the mercy of whatever else runs. MLflow's loop is long enough on its own.
    """
    n = sizes.log_metric_calls_slow if target.slow else sizes.log_metric_calls
    repeats = 1 if target.slow else sizes.log_metric_repeats
    runs = sorted((_log_metric_once(target, n) for _ in range(repeats)), key=lambda f: f["median_us"])
    chosen = runs[(len(runs) - 1) // 2]
    return {
        **chosen,
        "repeats": repeats,
        "median_us_each": [f["median_us"] for f in runs],
        "median_us_min": runs[0]["median_us"],
        "median_us_max": runs[-1]["median_us"],
        "calls_per_s_incl_end_run_each": [f["calls_per_s_incl_end_run"] for f in runs],
    }


# ---- (2) log_metrics: 10 keys per call ------------------------------------------------------


def log_metrics(target: Target, sizes: Sizes) -> Figures:
    """``log_metrics({10 keys}, step=i)`` per step in one run, each call timed."""
    steps = sizes.log_metrics_steps_slow if target.slow else sizes.log_metrics_steps
    keys = [f"metric_{k}" for k in range(sizes.log_metrics_keys)]
    batches = [{key: smooth(i) * (1 + 0.1 * k) for k, key in enumerate(keys)} for i in range(steps)]
    latencies = [0] * steps
    api = target.api
    with target.fresh_store() as root:
        api.start_run()
        before = target.metric_bytes(root)
        call = api.log_metrics
        quiesce()
        loop_start = clock()
        for i, batch in enumerate(batches):
            start = clock()
            call(batch, step=i)
            latencies[i] = clock() - start
        loop_ns = clock() - loop_start
        api.end_run()
        target.publish()
        end_ns = clock() - loop_start - loop_ns
        points = steps * len(keys)
        stored = _stored(target, root, before, points)
    return {
        "calls": steps,
        "keys": len(keys),
        "points": points,
        **summarize_ns(latencies),
        "loop_s": loop_ns / 1e9,
        "end_run_s": end_ns / 1e9,
        "calls_per_s": rate(steps, loop_ns),
        "points_per_s": rate(points, loop_ns),
        "points_per_s_incl_end_run": rate(points, loop_ns + end_ns),
        **stored,
    }


# ---- (3) many small runs ----------------------------------------------------------------------


def _one_run(api: Any, sizes: Sizes, run: int, steps: list[dict[str, float]]) -> int:
    """Start a run, log its params, tags and metric steps, end it; returns the elapsed ns."""
    params = {f"param_{j}": f"{run}-{j}" for j in range(sizes.run_params)}
    tags = {f"tag_{j}": f"value-{run}-{j}" for j in range(sizes.run_tags)}
    start = clock()
    api.start_run()
    api.log_params(params)
    api.set_tags(tags)
    for step, metrics in enumerate(steps):
        api.log_metrics(metrics, step=step)
    api.end_run()
    return clock() - start


def many_runs(target: Target, sizes: Sizes) -> Figures:
    """Runs of (10 params, 5 tags, 10 metrics x 20 steps); MLflow stops at its time budget.

    A run that raises is counted, reported (as ``error``, with the first message) and skipped,
    so a rare failure does not hide the figures of the other runs.
    """
    steps = [
        {f"metric_{k}": smooth(s) * (1 + 0.1 * k) for k in range(sizes.run_metric_keys)}
        for s in range(sizes.run_steps)
    ]
    budget_ns = int(sizes.runs_budget_s_slow * 1e9) if target.slow else None
    per_run: list[int] = []
    failures: list[str] = []
    with target.fresh_store():
        quiesce()
        started = clock()
        for run in range(sizes.runs):
            try:
                per_run.append(_one_run(target.api, sizes, run, steps))
            except Exception as exc:
                failures.append(f"run {run}: {type(exc).__name__}: {exc}")
                target.end_active_runs()
                if len(failures) >= MAX_FAILED_RUNS:
                    break
            if budget_ns is not None and clock() - started > budget_ns:
                break
        total_ns = clock() - started
        target.publish()
        publish_ns = clock() - started - total_ns
    figures: Figures = {"runs": len(per_run), "runs_requested": sizes.runs, "failed_runs": len(failures)}
    if failures:
        figures["error"] = f"{len(failures)} of {len(per_run) + len(failures)} runs failed; first: {failures[0]}"
    if per_run:
        figures.update(_run_figures(per_run, total_ns, sizes))
        figures["publish_s"] = publish_ns / 1e9
        figures["runs_per_s_incl_publish"] = rate(len(per_run), total_ns + publish_ns)
    return figures


def _run_figures(per_run: list[int], total_ns: int, sizes: Sizes) -> Figures:
    done = len(per_run)
    ordered = sorted(per_run)
    decile = max(1, done // 10)
    mean_ms = sum(per_run) / done / 1e6
    return {
        "points_per_run": sizes.run_metric_keys * sizes.run_steps,
        "total_s": total_ns / 1e9,
        "per_run_median_ms": percentile(ordered, 50) / 1e6,
        "per_run_mean_ms": mean_ms,
        "per_run_p99_ms": percentile(ordered, 99) / 1e6,
        "first_decile_mean_ms": sum(per_run[:decile]) / decile / 1e6,
        "last_decile_mean_ms": sum(per_run[-decile:]) / decile / 1e6,
        "runs_per_s": rate(done, total_ns),
        "est_total_s_for_requested_runs": mean_ms * sizes.runs / 1e3,
    }


# ---- (4) bytes on disk per metric point ----------------------------------------------------------


def _store_points(target: Target, values: list[float], timestamps: list[int]) -> Figures:
    """Log one metric's points with ``log_batch`` (1000 per call), end the run, publish, size the
    files; ``points_per_s`` is the log_batch throughput including the end and the publishing."""
    metrics = [target.metric("loss", v, ts, i) for i, (v, ts) in enumerate(zip(values, timestamps, strict=True))]
    api = target.api
    with target.fresh_store() as root:
        api.start_run()
        run_id = target.active_run_id()
        client = target.client()
        before = target.metric_bytes(root)
        quiesce()
        start = clock()
        for first in range(0, len(metrics), BATCH_LIMIT):
            client.log_batch(run_id, metrics=metrics[first : first + BATCH_LIMIT])
        loop = clock() - start
        api.end_run()
        target.publish()
        elapsed = clock() - start
        return {"points": len(metrics), "points_per_s_loop": rate(len(metrics), loop),
                "points_per_s": rate(len(metrics), elapsed), **_stored(target, root, before, len(metrics))}


def storage(target: Target, sizes: Sizes) -> Figures:
    """Bytes per stored point for a smooth and a noisy curve, same N for every target."""
    n = sizes.storage_points
    timestamps = training_timestamps(n)
    figures: Figures = {}
    for pattern, values in (("smooth", smooth_values(n)), ("noisy", noisy_values(n))):
        for name, value in _store_points(target, values, timestamps).items():
            figures[f"{pattern}_{name}"] = value
    return figures


# ---- (5) import time ---------------------------------------------------------------------------


_IMPORT_PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def _time_import(module: str, pycache: str) -> float:
    # Bytecode goes to a private cache (PYTHONPYCACHEPREFIX), written by the warm-up import:
    # users have .pyc files, and nothing is written into the source tree or site-packages.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE.format(module=module)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import {module} failed: {done.stderr.strip()[-500:]}")
    return float(done.stdout.strip().splitlines()[-1])


def import_time(target: Target, sizes: Sizes) -> Figures:
    """Median wall time of ``import <library>`` in fresh interpreters, after one warm-up import."""
    with tempfile.TemporaryDirectory(prefix="tracklog-bench-pycache-") as pycache:
        warmup_s = _time_import(target.library, pycache)
        samples = sorted(_time_import(target.library, pycache) for _ in range(sizes.import_repeats))
    return {
        "module": target.library,
        "repeats": len(samples),
        "median_ms": percentile(samples, 50) * 1e3,
        "min_ms": samples[0] * 1e3,
        "max_ms": samples[-1] * 1e3,
        "warmup_ms": warmup_s * 1e3,
    }


WORKLOADS: dict[str, Workload] = {
    "log_metric": log_metric,
    "log_metrics": log_metrics,
    "runs": many_runs,
    "storage": storage,
    "import": import_time,
}
