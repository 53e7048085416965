"""The read-side workloads: ``search``, ``history``, ``fold``, ``compact``.

Each takes a `Target` and `Sizes` and returns a flat dict of figures, like the write-side
workloads. tracklog reads stores generated in bulk and cached (`benchmarks.stores`); MLflow
(its sqlite store) is populated through ``MlflowClient`` in the same process run, as far as
its speed allows, and every figure records the N it was measured at.

A workload made of independent parts (store sizes, stores) keeps the figures of the parts
that succeeded when one raises; the first error is reported as ``error``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import traceback
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.stats import clock, percentile, quiesce, rate
from benchmarks.stores import (
    T0_MS,
    RunSpec,
    StoreCache,
    build_fold_store,
    build_history_store,
    build_runs_store,
    fold_run_id,
    fold_value,
    metric_bytes,
    release_tracklog,
    run_specs,
)
from benchmarks.targets import Target
from benchmarks.workloads import BATCH_LIMIT, REPO_ROOT, Figures, Sizes, Workload, smooth

__all__ = ["QUERIES", "READ_WORKLOADS", "configure_store_cache", "pattern_values"]

# name -> (label, filter_string, order_by): the three queries of the issue
QUERIES: dict[str, tuple[str, str, list[str] | None]] = {
    "nofilter": ("no filter", "", None),
    "filter": ("metrics.m0 > 0.5 and params.p1 = 'x'", "metrics.m0 > 0.5 and params.p1 = 'x'", None),
    "order": ("order by metrics.m1 DESC", "", ["metrics.m1 DESC"]),
}
CLIENT_MAX_RESULTS = 1000
PANDAS_MAX_RESULTS = 100_000
HISTORY_RUN_ID = "5eed" * 8
HISTORY_KEY = "loss"
RUN_PARAMS = {f"p{i}" for i in range(5)}
RUN_METRICS = {f"m{i}" for i in range(5)}
RUN_TAGS = {"t0", "t1", "t2"}

_stores = StoreCache()


def configure_store_cache(root: Path | None) -> None:
    """Where generated tracklog stores are cached (None: generate into temporary folders)."""
    global _stores
    _stores.cleanup()
    _stores = StoreCache(root)


# ---- helpers ---------------------------------------------------------------------------------


SLOW_CALL_S = 10.0


def _timed(call: Callable[[], Any], repeats: int, warmups: int = 1) -> tuple[float, list[float], Any]:
    """Median ms of `repeats` calls after `warmups` untimed ones; every sample; the last result.

    A call whose warm-up took over `SLOW_CALL_S` is timed once (the median of five 3-minute
    MLflow queries says no more than one does).
    """
    result = None
    slow = False
    for _ in range(warmups):
        start = clock()
        result = call()
        slow = slow or (clock() - start) / 1e9 > SLOW_CALL_S
    quiesce()
    samples = []
    for _ in range(1 if slow else repeats):
        start = clock()
        result = call()
        samples.append((clock() - start) / 1e6)
    return percentile(sorted(samples), 50), samples, result


def _parts(figures: Figures, parts: Sequence[tuple[str, Callable[[], Figures]]]) -> Figures:
    """Run independent parts, keeping the figures of those that succeed."""
    for name, part in parts:
        try:
            figures.update(part())
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            figures.setdefault("error", f"{name}: {type(exc).__name__}: {exc}")
    return figures


def _digest(names: Sequence[str]) -> str:
    """A short fingerprint of an ordered list of run names (to compare result sets)."""
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(f"store check failed: {message}")


def _check_runs(runs: Sequence[Any], expected: int, params: set[str], metrics: set[str], tags: set[str]) -> None:
    """A search with max_results=5 found `expected` runs (at most 5), with the keys they were given."""
    _check(len(runs) == min(5, expected), f"search_runs(max_results=5) returned {len(runs)} runs, expected {min(5, expected)}")
    for run in runs:
        data = run.data
        missing = (params - set(data.params)) | (metrics - set(data.metrics)) | (tags - set(data.tags))
        _check(not missing, f"run {run.info.run_id} lacks {sorted(missing)} (has {data.params}, {data.metrics}, {data.tags})")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


_COLD_HISTORY_PROBE = """
import json, logging, sys, time
import {module}
logging.getLogger("mlflow").setLevel(logging.WARNING)
start = time.perf_counter()
client = {client}
history = client.get_metric_history(sys.argv[2], sys.argv[3])
elapsed = time.perf_counter() - start
print(json.dumps({{"s": elapsed, "n": len(history)}}))
"""
_COLD_CLIENTS = {"tracklog": "tracklog.Client(sys.argv[1])", "mlflow": "mlflow.MlflowClient(tracking_uri=sys.argv[1])"}


def _cold_history_ms(library: str, uri: str, run_id: str, key: str, expected: int) -> float:
    """get_metric_history in a fresh interpreter: Client construction + the first call (not the import)."""
    probe = _COLD_HISTORY_PROBE.format(module=library, client=_COLD_CLIENTS[library])
    done = subprocess.run([sys.executable, "-c", probe, uri, run_id, key], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"cold get_metric_history ({library}) failed: {done.stderr.strip()[-800:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    _check(answer["n"] == expected, f"cold get_metric_history returned {answer['n']} points, expected {expected}")
    return float(answer["s"]) * 1e3


def _cold_tracklog_history_ms(uri: str, n: int, *, cache: bool) -> float:
    """Cold get_metric_history on a tracklog store, with or without its catalog cache file.

    This process first closes its own backend on the store, so the fresh process finds the
    cache file unlocked (a locked cache makes tracklog replay the log in memory instead).
    """
    from eventlog import open_store

    release_tracklog(uri)
    if not cache:
        root = open_store(uri).local_root
        for name in ("catalog.duckdb", "catalog.duckdb.wal"):
            path = Path(str(root)) / "_cache" / name
            if path.exists():
                path.unlink()
    return _cold_history_ms("tracklog", uri, HISTORY_RUN_ID, HISTORY_KEY, n)


def _cold_fold_s(uri: str, expected_points: int) -> float:
    """`Catalog.refresh()` from nothing: a new cache file (outside the store), every segment folded."""
    from eventlog import EventLog
    from projections.catalog import Catalog

    scratch = Path(tempfile.mkdtemp(prefix="tracklog-bench-catalog-"))
    log = EventLog.open(uri, durability="none")
    try:
        catalog = Catalog(log, str(scratch / "catalog.duckdb"))
        try:
            quiesce()
            start = clock()
            catalog.refresh()
            elapsed = clock() - start
            (points,) = catalog.con.execute("SELECT count(*) FROM metric_points").fetchone()
            _check(points == expected_points, f"cold fold holds {points} metric points, expected {expected_points}")
        finally:
            catalog.close()
    finally:
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return elapsed / 1e9


def _compact_both(uri: str, prefix: str) -> Figures:
    """Compact the metric then the control stream, then delete what they consumed (retention 0)."""
    from eventlog import open_store
    from eventlog.compaction import compact, remove_expired

    store = open_store(uri)
    quiesce()
    start = clock()
    metric = compact(store, "metric")
    metric_ns = clock() - start
    start = clock()
    control = compact(store, "control")
    control_ns = clock() - start
    start = clock()
    removed = remove_expired(store, "metric", 0) + remove_expired(store, "control", 0)
    remove_ns = clock() - start
    left = [p for p in (Path(uri) / "events").rglob("*.parquet")]
    _check(not left, f"{len(left)} consumed segments still on disk after remove_expired(retention=0)")
    return {
        f"{prefix}compact_metric_s": metric_ns / 1e9,
        f"{prefix}compact_metric_rows_per_s": rate(metric.rows, metric_ns),
        f"{prefix}compact_control_s": control_ns / 1e9,
        f"{prefix}remove_expired_s": remove_ns / 1e9,
        f"{prefix}compact_metric_consumed": metric.consumed,
        f"{prefix}compact_metric_produced": metric.produced,
        f"{prefix}compact_control_consumed": control.consumed,
        f"{prefix}compact_control_produced": control.produced,
        f"{prefix}removed_files": removed,
    }


def _note_clock(target: Target, name: str, info: dict[str, Any]) -> None:
    """Say so when a generated store's ts came from the real clock (see `stores.simulated_clock`)."""
    note = (f"store {name}: the writer's clock could not be simulated during generation, so its ts "
            "column holds bulk-write times (compresses better than a real run's)")
    if info.get("ts_simulated") is False and note not in target.notes:
        target.notes.append(note)


def _bytes_figures(uri: str, points: int, prefix: str, when: str) -> Figures:
    size, files = metric_bytes(uri)
    return {f"{prefix}metric_bytes_{when}": size, f"{prefix}metric_files_{when}": files,
            f"{prefix}bytes_per_point_{when}": size / points}


# ---- stores ------------------------------------------------------------------------------------


def _runs_store(specs: list[RunSpec], n: int, sizes: Sizes) -> tuple[str, Callable[[Path], dict[str, Any]]]:
    return f"runs-{n}-f{sizes.search_runs_per_flush}", functools.partial(
        build_runs_store, specs=specs[:n], runs_per_flush=sizes.search_runs_per_flush)


def pattern_values(pattern: str, n: int, seed: int = 42) -> list[float]:
    """smooth: 1/(1+0.01 i); smooth32: that rounded to float32; noisy: the smooth curve plus
    N(0, 0.01); float32: the noisy curve rounded to float32 (what ``tensor.item()`` of a float32
    loss gives)."""
    if pattern == "smooth":
        return [smooth(i) for i in range(n)]
    if pattern == "smooth32":
        import numpy as np

        return np.asarray([smooth(i) for i in range(n)], dtype=np.float32).astype(np.float64).tolist()  # type: ignore[no-any-return]
    rng = random.Random(seed)
    noisy = [smooth(i) + rng.gauss(0.0, 0.01) for i in range(n)]
    if pattern == "noisy":
        return noisy
    if pattern == "float32":
        import numpy as np

        return np.asarray(noisy, dtype=np.float32).astype(np.float64).tolist()  # type: ignore[no-any-return]
    raise ValueError(f"unknown value pattern {pattern!r}")


def history_timestamps(n: int, seed: int = 7) -> list[int]:
    """A training loop's clock: ~100 ms a step with 0-9 ms of seeded jitter, from a fixed start."""
    rng = random.Random(seed)
    return [T0_MS + 100 * i + rng.randrange(10) for i in range(n)]


def _build_history(pattern: str, n: int, per_flush: int, path: Path) -> dict[str, Any]:
    return build_history_store(path, HISTORY_RUN_ID, HISTORY_KEY, pattern_values(pattern, n), history_timestamps(n), per_flush)


def _history_store(pattern: str, n: int, sizes: Sizes) -> tuple[str, Callable[[Path], dict[str, Any]]]:
    per_flush = sizes.history_points_per_flush
    return f"history-{pattern}-{n}-f{per_flush}", functools.partial(_build_history, pattern, n, per_flush)


def _fold_store(sizes: Sizes) -> tuple[str, Callable[[Path], dict[str, Any]]]:
    runs, keys, steps, per_flush = sizes.fold_runs, sizes.fold_keys, sizes.fold_steps, sizes.fold_points_per_flush
    return f"fold-{runs}x{keys}x{steps}-f{per_flush}", functools.partial(
        build_fold_store, runs=runs, keys=keys, steps=steps, points_per_flush=per_flush)


# ---- (6) search ----------------------------------------------------------------------------------


def _time_queries(client: Any, fluent: Any, n: int, repeats: int, prefix: str, *, pandas: bool = True) -> Figures:
    """The three queries through ``Client.search_runs`` (max 1000) and fluent ``search_runs`` (pandas, all)."""
    out: Figures = {}
    for q, (_label, filter_string, order_by) in QUERIES.items():
        call = functools.partial(client.search_runs, ["0"], filter_string=filter_string,
                                 max_results=CLIENT_MAX_RESULTS, order_by=order_by)
        median, samples, runs = _timed(call, repeats)
        out[f"{prefix}{q}_client_ms"] = median
        out[f"{prefix}{q}_client_ms_each"] = samples
        out[f"{prefix}{q}_results"] = len(runs)
        out[f"{prefix}{q}_digest"] = _digest([r.info.run_name for r in runs])
        if not pandas:
            continue
        call = functools.partial(fluent.search_runs, experiment_ids=["0"], filter_string=filter_string,
                                 max_results=PANDAS_MAX_RESULTS, order_by=order_by)
        median, samples, frame = _timed(call, repeats)
        out[f"{prefix}{q}_pandas_ms"] = median
        out[f"{prefix}{q}_pandas_ms_each"] = samples
        out[f"{prefix}{q}_pandas_rows"] = len(frame)
        if q == "nofilter":
            _check(len(frame) == min(n, PANDAS_MAX_RESULTS), f"search_runs (pandas) found {len(frame)} runs of {n}")
    return out


def _search_tracklog_size(target: Target, specs: list[RunSpec], n: int, sizes: Sizes) -> Figures:
    api = target.api
    name, build = _runs_store(specs, n, sizes)
    with _stores.working_store(name, build) as (work, info):
        _note_clock(target, name, info)
        uri = str(work)
        client = api.Client(uri)
        quiesce()
        start = clock()
        first = client.search_runs(["0"], max_results=5)  # no catalog cache yet: folds the store
        first_ns = clock() - start
        _check_runs(first, n, RUN_PARAMS, RUN_METRICS, RUN_TAGS)
        (count,) = api.sql("SELECT count(*) FROM runs", uri=uri).fetchall()[0]
        _check(count == n, f"the runs view has {count} runs, expected {n}")
        api.set_tracking_uri(uri)
        figures = {
            f"n{n}_populate_s": info["populate_s"],
            f"n{n}_store_reused": info["reused"],
            f"n{n}_first_search_s": first_ns / 1e9,
            **_time_queries(client, api, n, sizes.search_repeats, f"n{n}_"),
        }
    figures["sizes"] = [n]
    return figures


def _populate_mlflow(target: Target, client: Any, specs: Sequence[RunSpec]) -> None:
    """One ``create_run`` and one ``log_batch`` (metrics, params, tags) per run; runs stay RUNNING."""
    entities = target.api.entities
    for spec in specs:
        run = client.create_run("0", start_time=spec.start_ms, run_name=spec.name)
        client.log_batch(
            run.info.run_id,
            metrics=[entities.Metric(k, v, spec.start_ms + 100, 0) for k, v in spec.metrics],
            params=[entities.Param(k, v) for k, v in spec.params],
            tags=[entities.RunTag(k, v) for k, v in spec.tags],
        )


def _bulk_populate_mlflow(db: Path, template_run_id: str, specs: Sequence[RunSpec]) -> None:
    """Insert runs straight into MLflow's sqlite tables, cloned from a run MLflow's client made.

    Logging through the client costs ~40 ms a run, so 100,000 runs would take over an hour; the
    queries under test only read the tables. Every column of a new row is copied from the
    template run (created by ``create_run`` + ``log_batch``, so MLflow chose every value),
    with the run's own id, name, start time, artifact URI and values substituted. The result is
    the same store the client would have written, at SQL-insert speed.
    """
    import sqlite3

    con = sqlite3.connect(db)
    try:
        def rows(table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            cur = con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (template_run_id,))  # noqa: S608
            return [d[0] for d in cur.description], cur.fetchall()

        run_cols, (run_row,) = rows("runs")
        tag_cols, tag_rows = rows("tags")
        user_tags = {k for k, _ in specs[0].tags}
        fixed_tags = [dict(zip(tag_cols, r, strict=True)) for r in tag_rows if r[tag_cols.index("key")] not in user_tags]
        metric_cols, (metric_row, *_) = rows("metrics")
        latest_cols, (latest_row, *_) = rows("latest_metrics")
        param_cols, _ = rows("params")
        template = dict(zip(run_cols, run_row, strict=True))
        old_uri = template["artifact_uri"]

        def insert(table: str, cols: list[str], values: list[tuple[Any, ...]]) -> None:
            marks = ", ".join("?" * len(cols))
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", values)  # noqa: S608

        runs, tags, params, metrics, latest = [], [], [], [], []
        for spec in specs:
            rid = uuid.uuid4().hex
            run = {**template, "run_uuid": rid, "name": spec.name, "start_time": spec.start_ms,
                   "artifact_uri": old_uri.replace(template_run_id, rid)}
            runs.append(tuple(run[c] for c in run_cols))
            for t in fixed_tags:
                value = spec.name if t["key"] == "mlflow.runName" else t["value"]
                tags.append(tuple({**t, "run_uuid": rid, "value": value}[c] for c in tag_cols))
            tags += [tuple({"key": k, "value": v, "run_uuid": rid}[c] for c in tag_cols) for k, v in spec.tags]
            params += [tuple({"key": k, "value": v, "run_uuid": rid}[c] for c in param_cols) for k, v in spec.params]
            for k, v in spec.metrics:
                point = {"key": k, "value": v, "run_uuid": rid, "timestamp": spec.start_ms + 100, "step": 0, "is_nan": False}
                metrics.append(tuple({**dict(zip(metric_cols, metric_row, strict=True)), **point}[c] for c in metric_cols))
                latest.append(tuple({**dict(zip(latest_cols, latest_row, strict=True)), **point}[c] for c in latest_cols))
        with con:
            insert("runs", run_cols, runs)
            insert("tags", tag_cols, tags)
            insert("params", param_cols, params)
            insert("metrics", metric_cols, metrics)
            insert("latest_metrics", latest_cols, latest)
    finally:
        con.close()


def _search_mlflow(target: Target, sizes: Sizes) -> Figures:
    """One MLflow store grown through the sizes (same runs as tracklog's).

    The first size is logged through MLflow's client (its per-run cost is a figure of its own);
    larger sizes are inserted straight into its sqlite tables (``_bulk_populate_mlflow``). A
    size is skipped when one round of its Client queries at the previous size, scaled linearly,
    exceeds the budget; its pandas (all rows) queries are skipped on the same test alone.
    """
    specs = run_specs(max(sizes.search_runs))
    figures: Figures = {"sizes": [], "skipped_sizes": []}
    with target.fresh_store() as root:
        client = target.client()
        done, client_round_s, pandas_round_s = 0, 0.0, 0.0
        for n in sizes.search_runs:
            scale = n / max(done, 1)
            if n > sizes.search_runs_slow_max:
                figures["skipped_sizes"].append(n)
                target.notes.append(
                    f"search · {target.name}: n={n:,} not run — the benchmark's budget stops MLflow at "
                    f"{sizes.search_runs_slow_max:,} runs (populating and querying its sqlite at 100k runs takes "
                    f"over 20 minutes); tracklog at n={n:,} is compared with MLflow at n={done:,}")
                continue
            if client_round_s * scale > sizes.search_budget_s_slow:
                figures["skipped_sizes"].append(n)
                target.notes.append(
                    f"search · {target.name}: n={n:,} not run — its Client queries at n={done:,} took "
                    f"{client_round_s:,.0f} s a round, ~{client_round_s * scale:,.0f} s expected > budget "
                    f"{sizes.search_budget_s_slow:.0f} s")
                continue
            with_pandas = pandas_round_s * scale <= sizes.search_budget_s_slow
            if not with_pandas:
                target.notes.append(
                    f"search · {target.name}: n={n:,}: pandas (all rows) queries not run — ~{pandas_round_s * scale:,.0f} s "
                    f"a round expected (from n={done:,}) > budget {sizes.search_budget_s_slow:.0f} s; Client queries only")
            start = clock()
            if not done:
                _populate_mlflow(target, client, specs[:n])
                figures[f"n{n}_populate_s"] = (clock() - start) / 1e9
                figures[f"n{n}_populate_ms_per_run"] = (clock() - start) / 1e6 / n
                figures["client_populated_runs"] = n
            else:
                template = client.search_runs(["0"], max_results=1)[0].info.run_id
                _bulk_populate_mlflow(root / "mlflow.db", template, specs[done:n])
                figures[f"n{n}_bulk_insert_s"] = (clock() - start) / 1e9
            done = n
            _check_runs(client.search_runs(["0"], max_results=5), n, RUN_PARAMS, RUN_METRICS, RUN_TAGS)
            found = _time_queries(client, target.api, n, sizes.search_repeats, f"n{n}_", pandas=with_pandas)
            figures.update(found)
            client_round_s = sum(found[f"n{n}_{q}_client_ms"] for q in QUERIES) / 1e3
            if with_pandas:
                pandas_round_s = sum(found[f"n{n}_{q}_pandas_ms"] for q in QUERIES) / 1e3
            figures["sizes"].append(n)
            figures["largest_size"] = n
    if len(figures["sizes"]) > 1:
        target.notes.append(
            f"search · {target.name}: the first {figures['client_populated_runs']:,} runs were logged through "
            "MLflow's client; the rest were inserted into its sqlite tables as copies of a client-made run")
    return figures


def search(target: Target, sizes: Sizes) -> Figures:
    """The three queries over stores of each size: Client (max 1000) and fluent pandas (all rows)."""
    if target.slow:
        return _search_mlflow(target, sizes)
    specs = run_specs(max(sizes.search_runs))
    figures: Figures = {"sizes": []}

    def one(n: int) -> Figures:
        found = _search_tracklog_size(target, specs, n, sizes)
        found["sizes"] = [*figures["sizes"], n]
        return found

    return _parts(figures, [(f"n={n}", functools.partial(one, n)) for n in sizes.search_runs])


# ---- (7) history -----------------------------------------------------------------------------------


def _history_tracklog(target: Target, sizes: Sizes) -> Figures:
    api = target.api
    n = sizes.history_points
    name, build = _history_store("smooth", n, sizes)
    with _stores.working_store(name, build) as (work, info):
        _note_clock(target, name, info)
        uri = str(work)
        size, files = metric_bytes(uri)
        figures: Figures = {"points": n, "populate_s": info["populate_s"], "store_reused": info["reused"],
                            "metric_files": files, "bytes_per_point": size / n}
        client = api.Client(uri)
        runs = client.search_runs(["0"], max_results=5)
        _check(len(runs) == 1 and runs[0].data.metrics.get(HISTORY_KEY) == smooth(n - 1),
               f"expected one run with {HISTORY_KEY}={smooth(n - 1)}, found {[r.data.metrics for r in runs]}")
        figures["cold_nocache_ms"] = _cold_tracklog_history_ms(uri, n, cache=False)  # builds the cache
        figures["cold_ms"] = _cold_tracklog_history_ms(uri, n, cache=True)
        client = api.Client(uri)
        call = functools.partial(client.get_metric_history, HISTORY_RUN_ID, HISTORY_KEY)
        median, samples, history = _timed(call, sizes.search_repeats)
        _check(len(history) == n and history[0].step == 0 and history[-1].step == n - 1,
               f"get_metric_history returned {len(history)} points, expected steps 0..{n - 1}")
        figures.update(warm_ms=median, warm_ms_each=samples, peak_rss_mb=_peak_rss_mb())
        median, samples, _ = _timed(lambda: list(call()), sizes.search_repeats)
        figures.update(warm_materialised_ms=median, warm_materialised_ms_each=samples)
        query = (f"SELECT step, value, timestamp FROM metrics WHERE run_id = '{HISTORY_RUN_ID}' "
                 f"AND key = '{HISTORY_KEY}' ORDER BY step")
        median, samples, table = _timed(lambda: api.sql(query, uri=uri).arrow(), sizes.search_repeats)
        _check(table.num_rows == n, f"the metrics view returned {table.num_rows} points, expected {n}")
        figures.update(sql_warm_ms=median, sql_warm_ms_each=samples)
    return {**figures, **_history_small_tracklog(target, sizes)}


def _history_small_tracklog(target: Target, sizes: Sizes) -> Figures:
    """The history of a metric with ``history_points_small`` steps, warm (MLflow measures the same N)."""
    n = sizes.history_points_small
    name, build = _history_store("smooth", n, sizes)
    with _stores.working_store(name, build) as (work, _info):
        client = target.api.Client(str(work))
        median, samples, history = _timed(functools.partial(client.get_metric_history, HISTORY_RUN_ID, HISTORY_KEY),
                                          sizes.search_repeats)
        _check(len(history) == n, f"get_metric_history returned {len(history)} points, expected {n}")
    return {"small_points": n, "small_warm_ms": median, "small_warm_ms_each": samples}


def _history_mlflow(target: Target, sizes: Sizes) -> Figures:
    m, n = sizes.history_points_slow, sizes.history_points
    values, stamps = pattern_values("smooth", m), history_timestamps(m)
    metric = target.api.entities.Metric
    with target.fresh_store() as root:
        client = target.client()
        run_id = client.create_run("0", start_time=stamps[0], run_name="history").info.run_id
        empty = target.metric_bytes(root)
        start = clock()
        for first in range(0, m, BATCH_LIMIT):
            client.log_batch(run_id, metrics=[metric(HISTORY_KEY, values[i], stamps[i], i) for i in range(first, min(m, first + BATCH_LIMIT))])
        populate_ns = clock() - start
        figures: Figures = {"points": m, "scaled_to_points": n, "populate_s": populate_ns / 1e9,
                            "populate_points_per_s": rate(m, populate_ns),
                            "bytes_per_point": (target.metric_bytes(root) - empty) / m}
        cold = _cold_history_ms("mlflow", target.uri(root), run_id, HISTORY_KEY, m)
        median, samples, history = _timed(functools.partial(client.get_metric_history, run_id, HISTORY_KEY), sizes.search_repeats)
        _check(len(history) == m, f"MLflow's get_metric_history returned {len(history)} points, expected {m}")
        small = sizes.history_points_small
        small_values, small_stamps = pattern_values("smooth", small), history_timestamps(small)
        small_id = client.create_run("0", start_time=stamps[0], run_name="history-small").info.run_id
        for first in range(0, small, BATCH_LIMIT):
            client.log_batch(small_id, metrics=[metric(HISTORY_KEY, small_values[i], small_stamps[i], i)
                                                for i in range(first, min(small, first + BATCH_LIMIT))])
        small_ms, small_samples, found = _timed(functools.partial(client.get_metric_history, small_id, HISTORY_KEY),
                                                sizes.search_repeats)
        _check(len(found) == small, f"MLflow's get_metric_history returned {len(found)} points, expected {small}")
        figures.update(small_points=small, small_warm_ms=small_ms, small_warm_ms_each=small_samples)
    scale = n / m
    # MLflow returns a list of Metric entities: materialised already
    return {**figures, "cold_ms_measured": cold, "warm_ms_measured": median, "warm_ms_measured_each": samples,
            "cold_ms": cold * scale, "warm_ms": median * scale, "warm_materialised_ms": median * scale}


def history(target: Target, sizes: Sizes) -> Figures:
    """``get_metric_history`` of one metric with N steps, cold (fresh process) and warm."""
    return _history_mlflow(target, sizes) if target.slow else _history_tracklog(target, sizes)


# ---- (8) fold --------------------------------------------------------------------------------------


def _fold_once(uri: str, runs: int, keys: int, steps: int, warm_repeats: int) -> Figures:
    """Open the log and a catalog with no cache file, fold everything (timed), check the result."""
    from eventlog import EventLog
    from projections.catalog import Catalog, catalog_path

    start = clock()
    log = EventLog.open(uri, durability="none")
    open_ns = clock() - start
    try:
        path = catalog_path(log)
        for stale in (path, path + ".wal"):  # a cold fold: no cache file
            if os.path.exists(stale):
                os.unlink(stale)
        start = clock()
        catalog = Catalog(log)
        catalog_ns = clock() - start
        try:
            quiesce()
            start = clock()
            folded = catalog.refresh()
            refresh_ns = clock() - start
            con = catalog.con
            (stored,) = con.execute("SELECT count(*) FROM metric_points").fetchone()
            (latest,) = con.execute("SELECT count(*) FROM latest").fetchone()
            points = runs * keys * steps
            _check(stored == points and latest == runs * keys,
                   f"after the fold: {stored} points and {latest} latest values, expected {points} and {runs * keys}")
            (value,) = con.execute("SELECT value FROM latest WHERE run_id = ? AND key = 'k1'",
                                   [fold_run_id(runs - 1)]).fetchone()
            expected = fold_value(runs - 1, 1, steps - 1)
            _check(value == expected, f"latest k1 of the last run is {value}, expected {expected}")
            warm, _, _ = _timed(catalog.refresh, warm_repeats)
        finally:
            catalog.close()
    finally:
        log.close()
    return {"open_ms": open_ns / 1e6, "catalog_open_ms": catalog_ns / 1e6, "files_folded": folded,
            "refresh_ns": refresh_ns, "warm_refresh_ms": warm, "cache_bytes": os.path.getsize(path)}


def fold(target: Target, sizes: Sizes) -> Figures:
    """``Catalog(...).refresh()`` from no cache over runs x keys x steps points: the latest-value fold.

    Repeated `fold_repeats` times (the cache file deleted each time); the median is reported.
    """
    target.notes.append("fold: no MLflow counterpart — MLflow updates its latest_metrics table inside every "
                        "log_metric/log_batch call, so it has no separate fold")
    runs, keys, steps = sizes.fold_runs, sizes.fold_keys, sizes.fold_steps
    points = runs * keys * steps
    name, build = _fold_store(sizes)
    with _stores.working_store(name, build) as (work, info):
        _note_clock(target, name, info)
        uri = str(work)
        size, files = metric_bytes(uri)
        figures: Figures = {"points": points, "runs": runs, "keys": keys, "steps": steps,
                            "populate_s": info["populate_s"], "store_reused": info["reused"],
                            "metric_files": files, "bytes_per_point": size / points,
                            "peak_rss_mb_before": _peak_rss_mb()}
        folds = [_fold_once(uri, runs, keys, steps, sizes.search_repeats) for _ in range(sizes.fold_repeats)]
        each = sorted(f["refresh_ns"] for f in folds)
        median_ns = each[(len(each) - 1) // 2]
        last = folds[-1]
        figures.update(
            open_ms=last["open_ms"], catalog_open_ms=last["catalog_open_ms"], files_folded=last["files_folded"],
            refresh_s=median_ns / 1e9, refresh_s_each=[f["refresh_ns"] / 1e9 for f in folds],
            points_per_s=rate(points, median_ns), peak_rss_mb_after=_peak_rss_mb(),
            warm_refresh_ms=last["warm_refresh_ms"], cache_bytes_per_point=last["cache_bytes"] / points,
        )
        runs_found = target.api.Client(uri).search_runs(["0"], max_results=5)
        _check_runs(runs_found, runs, set(), {f"k{k}" for k in range(keys)}, set())
    return figures


# ---- (9) compact -------------------------------------------------------------------------------------


def _compact_runs(target: Target, sizes: Sizes) -> Figures:
    api = target.api
    n = max(sizes.search_runs)
    name, build = _runs_store(run_specs(n), n, sizes)
    with _stores.working_store(name, build) as (work, info):
        _note_clock(target, name, info)
        uri = str(work)
        client = api.Client(uri)
        _check_runs(client.search_runs(["0"], max_results=5), n, RUN_PARAMS, RUN_METRICS, RUN_TAGS)
        figures: Figures = {"runs_store_runs": n, "runs_points": 5 * n}
        figures["runs_cold_fold_before_s"] = _cold_fold_s(uri, 5 * n)
        before = _time_queries(client, api, n, sizes.search_repeats, "runs_", pandas=False)
        figures.update({k.replace("_client_ms", "_before_ms"): v for k, v in before.items()})
        figures.update(_bytes_figures(uri, 5 * n, "runs_", "before"))
        figures.update(_compact_both(uri, "runs_"))
        figures.update(_bytes_figures(uri, 5 * n, "runs_", "after"))
        start = clock()
        client.search_runs(["0"], max_results=5)  # the catalog notices the compacted files
        figures["runs_first_search_after_ms"] = (clock() - start) / 1e6
        after = _time_queries(client, api, n, sizes.search_repeats, "runs_", pandas=False)
        figures.update({k.replace("_client_ms", "_after_ms"): v for k, v in after.items()})
        figures["runs_same_results"] = all(before[f"runs_{q}_digest"] == after[f"runs_{q}_digest"] for q in QUERIES)
        _check(figures["runs_same_results"], "the search results changed with compaction")
        figures["runs_cold_fold_after_s"] = _cold_fold_s(uri, 5 * n)
    return figures


def _compact_history(target: Target, sizes: Sizes) -> Figures:
    n = sizes.history_points
    name, build = _history_store("smooth", n, sizes)
    with _stores.working_store(name, build) as (work, info):
        _note_clock(target, name, info)
        uri = str(work)
        client = target.api.Client(uri)
        call = functools.partial(client.get_metric_history, HISTORY_RUN_ID, HISTORY_KEY)
        figures: Figures = {"history_points": n}
        figures["history_warm_before_ms"], _, before = _timed(call, sizes.compact_repeats)
        figures["history_cold_before_ms"] = _cold_tracklog_history_ms(uri, n, cache=True)
        figures.update(_compact_both(uri, "history_"))
        figures["history_cold_after_ms"] = _cold_tracklog_history_ms(uri, n, cache=True)
        client = target.api.Client(uri)
        call = functools.partial(client.get_metric_history, HISTORY_RUN_ID, HISTORY_KEY)
        figures["history_warm_after_ms"], _, after = _timed(call, sizes.compact_repeats)
        same = [(m.step, m.value, m.timestamp) for m in before] == [(m.step, m.value, m.timestamp) for m in after]
        figures["history_same_results"] = same
        _check(same, "get_metric_history changed with compaction")
    return figures


def _compact_fold(target: Target, sizes: Sizes) -> Figures:
    points = sizes.fold_runs * sizes.fold_keys * sizes.fold_steps
    name, build = _fold_store(sizes)
    with _stores.working_store(name, build) as (work, info):
        _note_clock(target, name, info)
        uri = str(work)
        figures: Figures = {"fold_points": points, **_bytes_figures(uri, points, "fold_", "before")}
        figures["fold_cold_fold_before_s"] = _cold_fold_s(uri, points)
        figures.update(_compact_both(uri, "fold_"))
        figures.update(_bytes_figures(uri, points, "fold_", "after"))
        figures["fold_cold_fold_after_s"] = _cold_fold_s(uri, points)
        figures["fold_cold_fold_after_points_per_s"] = points / figures["fold_cold_fold_after_s"]
    return figures


def compact(target: Target, sizes: Sizes) -> Figures:
    """Compaction (both streams, retention 0) of the stores above: time, bytes/point, queries
    before/after. Bytes per point by value pattern: `benchmarks.storage_workloads`."""
    return _parts({}, [
        ("runs store", functools.partial(_compact_runs, target, sizes)),
        ("history store", functools.partial(_compact_history, target, sizes)),
        ("fold store", functools.partial(_compact_fold, target, sizes)),
    ])


READ_WORKLOADS: dict[str, Workload] = {
    "search": search,
    "history": history,
    "fold": fold,
    "compact": compact,
}
