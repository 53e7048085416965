"""Turning results into ratios, PASS/MISS verdicts and a printed table.

A ratio is always "how many times better tracklog is" than one MLflow store on one figure:
``mlflow / tracklog`` for figures where lower is better (latency, bytes, seconds) and
``tracklog / mlflow`` where higher is better (throughput). Above 1 means tracklog wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from benchmarks.query_workloads import QUERIES
from benchmarks.storage_workloads import STORAGE_PATTERNS

__all__ = ["ARTIFACT_ROWS", "BASELINES", "IssueRow", "ROWS", "SERVER_ROWS", "STORAGE_ROWS", "Row", "Verdict", "all_rows", "compute_ratios",
           "consistency_notes", "evaluate_targets", "format_issue_table", "format_table", "format_verdicts", "issue_rows",
           "search_ratio"]

Results = dict[str, dict[str, dict[str, Any]]]  # workload -> target -> figures
Better = Literal["lower", "higher", "info"]

TRACKLOG = "tracklog"
BASELINES = ("mlflow-sqlite", "mlflow-file")


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure of one workload, for tracklog and each MLflow store."""

    workload: str
    key: str
    label: str
    unit: str
    better: Better
    tracklog: str = TRACKLOG  # which tracklog target fills the tracklog column

    @property
    def id(self) -> str:
        suffix = "" if self.tracklog == TRACKLOG else f"@{self.tracklog}"
        return f"{self.workload}.{self.key}{suffix}"


ROWS: tuple[Row, ...] = (
    Row("warmup", "first_run_s", "first run in process (start, 1 point, end; tracklog: flush)", "s", "info"),
    Row("log_metric", "calls", "calls timed (N)", "calls", "info"),
    Row("log_metric", "median_us", "median latency", "µs", "lower"),
    Row("log_metric", "median_us_min", "median latency, best repeat", "µs", "info"),
    Row("log_metric", "median_us_max", "median latency, worst repeat", "µs", "info"),
    Row("log_metric", "p99_us", "p99 latency", "µs", "lower"),
    Row("log_metric", "calls_per_s", "throughput, loop only", "calls/s", "higher"),
    Row("log_metric", "end_run_s", "final end_run + publish (tracklog: flush)", "s", "info"),
    Row("log_metric", "calls_per_s_incl_end_run", "throughput incl. end_run + publish", "calls/s", "higher"),
    Row("log_metric", "bytes_per_point", "bytes on disk per point", "B", "lower"),
    Row("log_metric", "median_us", "median latency, durability=none", "µs", "lower", "tracklog[durability=none]"),
    Row("log_metric", "median_us_max", "median latency, durability=none, worst repeat", "µs", "info",
        "tracklog[durability=none]"),
    Row("log_metric", "p99_us", "p99 latency, durability=none", "µs", "lower", "tracklog[durability=none]"),
    Row("log_metric", "calls_per_s_incl_end_run", "throughput incl. end_run + publish, durability=none", "calls/s",
        "higher", "tracklog[durability=none]"),
    Row("log_metrics", "calls", "calls timed (N steps x 10 keys)", "calls", "info"),
    Row("log_metrics", "median_us", "median latency per call", "µs", "lower"),
    Row("log_metrics", "p99_us", "p99 latency per call", "µs", "lower"),
    Row("log_metrics", "points_per_s", "points/s, loop only", "points/s", "higher"),
    Row("log_metrics", "end_run_s", "final end_run + publish (tracklog: flush)", "s", "info"),
    Row("log_metrics", "points_per_s_incl_end_run", "points/s incl. end_run + publish", "points/s", "higher"),
    Row("runs", "runs", "runs timed (N)", "runs", "info"),
    Row("runs", "failed_runs", "runs that raised (skipped)", "runs", "info"),
    Row("runs", "per_run_median_ms", "per-run time, median", "ms", "lower"),
    Row("runs", "per_run_mean_ms", "per-run time, mean", "ms", "lower"),
    Row("runs", "per_run_p99_ms", "per-run time, p99", "ms", "lower"),
    Row("runs", "first_decile_mean_ms", "per-run mean, first 10% of runs", "ms", "info"),
    Row("runs", "last_decile_mean_ms", "per-run mean, last 10% of runs", "ms", "info"),
    Row("runs", "est_total_s_for_requested_runs", "total for all requested runs (scaled)", "s", "lower"),
    Row("runs", "publish_s", "final publish after the last run (tracklog: flush)", "s", "info"),
    Row("runs", "runs_per_s_incl_publish", "runs/s incl. the final publish", "runs/s", "higher"),
    Row("storage", "smooth_points", "points stored (N)", "points", "info"),
    Row("storage", "smooth_points_per_s_loop", "log_batch 1,000 a call: points/s, loop only", "points/s", "higher"),
    Row("storage", "smooth_points_per_s", "log_batch 1,000 a call: points/s incl. end_run + publish", "points/s",
        "higher"),
    Row("storage", "smooth_bytes_per_point", "bytes per point, smooth curve (not compacted)", "B", "lower"),
    Row("storage", "noisy_bytes_per_point", "bytes per point, noisy curve (not compacted)", "B", "lower"),
    Row("storage", "smooth_metric_files", "metric files (smooth)", "files", "info"),
    Row("import", "median_ms", "import time, median", "ms", "lower"),
)

_PATTERN_LABELS = {"smooth": "smooth float64", "smooth32": "smooth float32", "float32": "noisy float32",
                   "noisy": "noisy float64"}
STORAGE_ROWS: tuple[Row, ...] = tuple(
    r for p in STORAGE_PATTERNS for label in (_PATTERN_LABELS[p],) for r in (
        Row("compacted_storage", f"{p}_bytes_per_point_before", f"{label}: bytes/point before compaction", "B", "info"),
        Row("compacted_storage", f"{p}_bytes_per_point_after", f"{label}: bytes/point after compaction", "B", "info"),
        Row("compacted_storage", f"{p}_value_bytes_per_point_after", f"{label}: of which the value column", "B", "info"),
        Row("compacted_storage", f"{p}_timestamp_bytes_per_point_after", f"{label}: of which timestamp", "B", "info"),
        Row("compacted_storage", f"{p}_ts_bytes_per_point_after", f"{label}: of which ts", "B", "info"),
        Row("compacted_storage", f"{p}_value_entropy_bytes_per_point", f"{label}: entropy of the values", "B", "info"),
        Row("compacted_storage", f"{p}_entropy_bytes_per_point", f"{label}: entropy of the rows (values + timestamps)",
            "B", "info"),
        Row("compacted_storage", f"{p}_value_over_entropy", f"{label}: value column / its entropy", "x", "info"),
        Row("compacted_storage", f"{p}_over_entropy", f"{label}: bytes/point / row entropy", "x", "info"),
        Row("compacted_storage", f"{p}_compact_metric_s", f"{label}: compaction time", "s", "info"),
    )
)

# The read side; the `search` rows depend on the store sizes that ran (see `all_rows`).
ARTIFACT_ROWS: tuple[Row, ...] = (
    Row("artifacts", "file_mib", "file size", "MiB", "info"),
    Row("artifacts", "upload_mib_s", "upload via client log_artifact, median", "MiB/s", "higher"),
    Row("artifacts", "download_mib_s", "download via client download_artifacts, median", "MiB/s", "higher"),
    Row("artifacts", "direct_upload_mib_s", "upload, artifact layer alone (MLflow: LocalArtifactRepository)", "MiB/s", "higher"),
    Row("artifacts", "direct_download_mib_s", "download, artifact layer alone (MLflow: LocalArtifactRepository)", "MiB/s", "higher"),
    Row("artifacts", "upload_s", "upload via client, median", "s", "info"),
    Row("artifacts", "download_s", "download via client, median", "s", "info"),
)

SERVER_ROWS: tuple[Row, ...] = (
    Row("tracking_server", "clients", "server: concurrent clients (4 processes x 4 threads)", "clients", "info"),
    Row("tracking_server", "rps", "server: requests/s, log-metric/log-batch/search/history mix", "req/s", "higher"),
    Row("tracking_server", "p50_ms", "server: median latency", "ms", "lower"),
    Row("tracking_server", "p99_ms", "server: p99 latency", "ms", "lower"),
    Row("tracking_server", "errors", "server: errors (non-200 answers, failed connections)", "errors", "info"),
    *(Row("tracking_server", f"{op}_{k}", f"server: {op.replace('_', '-')} {label}", unit, better)
      for op in ("log_metric", "log_batch", "search", "history")
      for k, label, unit, better in (("rps", "requests/s", "req/s", "higher"), ("p50_ms", "median", "ms", "lower"),
                                     ("p99_ms", "p99", "ms", "lower"))),
)

READ_ROWS: tuple[Row, ...] = (
    Row("history", "points", "points in the metric (N; MLflow: the N it measured)", "points", "info"),
    Row("history", "cold_ms", "get_metric_history cold, fresh process (MLflow: scaled to tracklog's N)", "ms", "lower"),
    Row("history", "cold_nocache_ms", "cold, fresh process, no catalog cache file (folds the store)", "ms", "info"),
    Row("history", "warm_ms", "get_metric_history warm, median (MLflow: scaled to tracklog's N)", "ms", "lower"),
    Row("history", "warm_materialised_ms", "warm, incl. list(...) of every Metric (MLflow: the same)", "ms", "lower"),
    Row("history", "cold_ms_measured", "cold, as measured at MLflow's N", "ms", "info"),
    Row("history", "warm_ms_measured", "warm, as measured at MLflow's N", "ms", "info"),
    Row("history", "small_points", "second history: points (N, every target)", "points", "info"),
    Row("history", "small_warm_ms", "second history: get_metric_history warm, median", "ms", "lower"),
    Row("history", "sql_warm_ms", "same points via tracklog.sql over the metrics view, warm", "ms", "info"),
    Row("history", "bytes_per_point", "bytes on disk per point, uncompacted", "B", "lower"),
    Row("history", "populate_s", "populate (tracklog: bulk EventLog, cached; MLflow: log_batch of 1000)", "s", "info"),
    Row("fold", "points", "metric points folded (runs x keys x steps)", "points", "info"),
    Row("fold", "metric_files", "metric segments", "files", "info"),
    Row("fold", "refresh_s", "Catalog.refresh() with no cache (cold fold), median", "s", "info"),
    Row("fold", "points_per_s", "cold fold throughput (no MLflow counterpart)", "points/s", "info"),
    Row("fold", "warm_refresh_ms", "refresh() with nothing new, median", "ms", "info"),
    Row("fold", "peak_rss_mb_after", "process peak RSS after the fold", "MB", "info"),
    Row("fold", "cache_bytes_per_point", "catalog cache file per point", "B", "info"),
    Row("fold", "populate_s", "populate (bulk EventLog; cached stores: when built)", "s", "info"),
    Row("compact", "runs_store_runs", "runs store: runs", "runs", "info"),
    Row("compact", "runs_compact_metric_s", "runs store: compact metric stream", "s", "info"),
    Row("compact", "runs_compact_control_s", "runs store: compact control stream", "s", "info"),
    Row("compact", "runs_remove_expired_s", "runs store: remove_expired (retention 0), both", "s", "info"),
    Row("compact", "runs_metric_files_before", "runs store: live metric files before", "files", "info"),
    Row("compact", "runs_metric_files_after", "runs store: live metric files after", "files", "info"),
    Row("compact", "runs_bytes_per_point_before", "runs store: metric bytes/point before", "B", "info"),
    Row("compact", "runs_bytes_per_point_after", "runs store: metric bytes/point after", "B", "info"),
    *(r for q, (label, _, _) in QUERIES.items() for r in (
        Row("compact", f"runs_{q}_before_ms", f"runs store: {label}, Client, before", "ms", "info"),
        Row("compact", f"runs_{q}_after_ms", f"runs store: {label}, Client, after", "ms", "info"),
    )),
    Row("compact", "runs_first_search_after_ms", "runs store: first search after compaction", "ms", "info"),
    Row("compact", "runs_cold_fold_before_s", "runs store: cold fold (no cache) before", "s", "info"),
    Row("compact", "runs_cold_fold_after_s", "runs store: cold fold (no cache) after", "s", "info"),
    Row("compact", "history_points", "history store: points", "points", "info"),
    Row("compact", "history_compact_metric_s", "history store: compact metric stream", "s", "info"),
    Row("compact", "history_cold_before_ms", "history store: get_metric_history cold, before", "ms", "info"),
    Row("compact", "history_cold_after_ms", "history store: get_metric_history cold, after", "ms", "info"),
    Row("compact", "history_warm_before_ms", "history store: get_metric_history warm, before", "ms", "info"),
    Row("compact", "history_warm_after_ms", "history store: get_metric_history warm, after", "ms", "info"),
    Row("compact", "fold_points", "fold store: points", "points", "info"),
    Row("compact", "fold_compact_metric_s", "fold store: compact metric stream", "s", "info"),
    Row("compact", "fold_compact_metric_rows_per_s", "fold store: compaction throughput", "points/s", "info"),
    Row("compact", "fold_compact_control_s", "fold store: compact control stream", "s", "info"),
    Row("compact", "fold_metric_files_before", "fold store: live metric files before", "files", "info"),
    Row("compact", "fold_bytes_per_point_before", "fold store: metric bytes/point before", "B", "info"),
    Row("compact", "fold_bytes_per_point_after", "fold store: metric bytes/point after", "B", "info"),
    Row("compact", "fold_cold_fold_before_s", "fold store: cold fold before", "s", "info"),
    Row("compact", "fold_cold_fold_after_s", "fold store: cold fold after", "s", "info"),
    Row("serving", "startup_s", "serving: server start until /ping answers", "s", "lower"),
    Row("serving", "b1_rps", "serving: requests/s, 1 row per request", "req/s", "higher"),
    Row("serving", "b1_median_ms", "serving: median latency, 1 row", "ms", "lower"),
    Row("serving", "b1_p99_ms", "serving: p99 latency, 1 row", "ms", "lower"),
    Row("serving", "b1000_rps", "serving: requests/s, 1,000 rows per request", "req/s", "higher"),
    Row("serving", "b1000_median_ms", "serving: median latency, 1,000 rows", "ms", "lower"),
    Row("serving", "b1000_p99_ms", "serving: p99 latency, 1,000 rows", "ms", "lower"),
    Row("registry", "create_version_calls", "registry: versions created (N)", "calls", "info"),
    Row("registry", "create_version_median_us", "registry: create_model_version, median", "µs", "lower"),
    Row("registry", "create_version_p99_us", "registry: create_model_version, p99", "µs", "lower"),
    Row("registry", "create_version_total_s", "registry: all versions (the N above: each loop has a time budget)", "s", "info"),
    Row("registry", "alias_lookup_calls", "registry: alias lookups (N)", "calls", "info"),
    Row("registry", "alias_lookup_median_us", "registry: get_model_version_by_alias, median", "µs", "lower"),
    Row("registry", "alias_lookup_p99_us", "registry: get_model_version_by_alias, p99", "µs", "lower"),
    Row("registry", "uri_resolve_calls", "registry: models:/ URI resolutions (N)", "calls", "info"),
    Row("registry", "uri_resolve_median_us", "registry: models:/name@alias to location, median", "µs", "lower"),
    Row("registry", "uri_resolve_p99_us", "registry: models:/name@alias to location, p99", "µs", "lower"),
)


def _search_sizes(results: Results) -> list[int]:
    found: set[int] = set()
    for figures in results.get("search", {}).values():
        found.update(int(n) for n in figures.get("sizes", []) + figures.get("skipped_sizes", []))
    return sorted(found)


def search_rows(sizes: list[int]) -> list[Row]:
    rows = []
    for n in sizes:
        at = f"n={n:,}"
        rows.append(Row("search", f"n{n}_populate_s", f"{at}: populate (tracklog: bulk, cached; MLflow: client)", "s", "info"))
        rows.append(Row("search", f"n{n}_est_populate_s", f"{at}: populate estimate (not run)", "s", "info"))
        rows.append(Row("search", f"n{n}_first_search_s", f"{at}: first search, no catalog cache (folds)", "s", "info"))
        for q, (label, _, _) in QUERIES.items():
            rows.append(Row("search", f"n{n}_{q}_client_ms", f"{at}: {label} · Client, max 1000", "ms", "lower"))
        for q, (label, _, _) in QUERIES.items():
            rows.append(Row("search", f"n{n}_{q}_pandas_ms", f"{at}: {label} · pandas, all rows", "ms", "lower"))
        rows.append(Row("search", f"n{n}_filter_pandas_rows", f"{at}: runs matching the filter", "runs", "info"))
    return rows


def all_rows(results: Results) -> list[Row]:
    """Every row of the table: the static ones, then the read side (search rows per store size)."""
    return [*ROWS, *STORAGE_ROWS, *search_rows(_search_sizes(results)), *READ_ROWS, *ARTIFACT_ROWS, *SERVER_ROWS]


def _figure(results: Results, workload: str, target: str, key: str) -> float | None:
    value = results.get(workload, {}).get(target, {}).get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def ratio(tracklog: float | None, baseline: float | None, better: Better) -> float | None:
    """How many times better tracklog is (see the module docstring); None if undefined."""
    if tracklog is None or baseline is None or better == "info":
        return None
    num, den = (baseline, tracklog) if better == "lower" else (tracklog, baseline)
    if den == 0:
        return None if num == 0 else math.inf
    return num / den


def compute_ratios(results: Results) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for row in all_rows(results):
        if row.better == "info":
            continue
        mine = _figure(results, row.workload, row.tracklog, row.key)
        out[row.id] = {b: ratio(mine, _figure(results, row.workload, b, row.key), row.better) for b in BASELINES}
    return out


@dataclass(frozen=True)
class Verdict:
    """One target of the issue: a figure, a threshold and whether the figure meets it."""

    name: str
    row_id: str
    figure: float | None
    threshold: float
    op: Literal["<", "<=", ">", ">="]
    unit: str

    @property
    def status(self) -> str:
        if self.figure is None:
            return "N/A"
        met = {"<": self.figure < self.threshold, "<=": self.figure <= self.threshold,
               ">": self.figure > self.threshold, ">=": self.figure >= self.threshold}[self.op]
        return "PASS" if met else "MISS"

    @property
    def text(self) -> str:
        return f"{self.op} {self.threshold:g}{self.unit}: {self.status}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "row": self.row_id, "figure": self.figure, "op": self.op,
                "threshold": self.threshold, "unit": self.unit, "status": self.status}


def evaluate_targets(results: Results, ratios: dict[str, dict[str, float | None]]) -> list[Verdict]:
    return _write_verdicts(results, ratios) + _read_verdicts(results, ratios) + _server_verdicts(results, ratios)


def _sqlite_size_for(results: Results, n: int) -> int | None:
    """The store size MLflow sqlite's figures are taken at for tracklog's size `n`: `n` itself, else
    the largest size it ran below `n` (its budget skips the sizes it would take too long to search)."""
    ran = [m for m in results.get("search", {}).get(SQLITE, {}).get("sizes", []) if m <= n]
    return max(ran) if ran else None


def search_ratio(results: Results, n: int, q: str) -> tuple[float | None, int | None]:
    """tracklog's Client search at `n` runs against MLflow sqlite's at `n` (or its largest size below)."""
    m = _sqlite_size_for(results, n)
    if m is None:
        return None, None
    mine = _figure(results, "search", TRACKLOG, f"n{n}_{q}_client_ms")
    return ratio(mine, _figure(results, "search", SQLITE, f"n{m}_{q}_client_ms"), "lower"), m


def _read_verdicts(results: Results, ratios: dict[str, dict[str, float | None]]) -> list[Verdict]:
    """search >= 50x MLflow sqlite at every size (~1-2 ms at the smallest, < 100 ms at the largest);
    history >= 25x MLflow's file store at the small N, < 100 ms at the large one."""
    out = []
    sizes = sorted(results.get("search", {}).get(TRACKLOG, {}).get("sizes") or [])
    for n in sizes:
        for q, (label, _, _) in QUERIES.items():
            row_id = f"search.n{n}_{q}_client_ms"
            value, m = search_ratio(results, n, q)
            at = "" if m in (None, n) else f" (MLflow at {m:,} runs)"
            out.append(Verdict(f"search {label} at {n:,} runs vs MLflow sqlite{at}", row_id, value, 50.0, ">=", "x"))
            mine = _figure(results, "search", TRACKLOG, f"n{n}_{q}_client_ms")
            if n == sizes[0]:
                out.append(Verdict(f"search {label} at {n:,} runs, Client max 1000, warm", row_id, mine, 2.0, "<=", " ms"))
            if n == sizes[-1]:
                caveat = "" if n >= 100_000 else " (the target is for 100,000)"
                out.append(Verdict(f"search {label} at {n:,} runs{caveat}, Client max 1000, warm", row_id, mine, 100.0,
                                   "<", " ms"))
    small = _figure(results, "history", TRACKLOG, "small_points")
    if small is not None:
        out.append(Verdict(f"get_metric_history warm, {small:,.0f} points, vs MLflow file store", "history.small_warm_ms",
                           ratios.get("history.small_warm_ms", {}).get(FILE), 25.0, ">=", "x"))
    points = _figure(results, "history", TRACKLOG, "points")
    if points is not None:
        caveat = "" if points >= 1_000_000 else " (the target is for 1,000,000)"
        out.append(Verdict(f"get_metric_history warm, {points:,.0f} points{caveat}", "history.warm_ms",
                           _figure(results, "history", TRACKLOG, "warm_ms"), 100.0, "<", " ms"))
    return out


def _server_verdicts(results: Results, ratios: dict[str, dict[str, float | None]]) -> list[Verdict]:
    """The tracking server: at least 5x mlflow server's requests/s on the same load, with zero errors."""
    if TRACKLOG not in results.get("tracking_server", {}):
        return []
    return [
        Verdict("tracking server requests/s vs mlflow server (sqlite), 16 clients", "tracking_server.rps",
                ratios.get("tracking_server.rps", {}).get("mlflow-sqlite"), 5.0, ">=", "x"),
        Verdict("tracking server errors under load", "tracking_server.errors",
                _figure(results, "tracking_server", TRACKLOG, "errors"), 1.0, "<", ""),
    ]


def _query_id(label: str) -> str:
    return next(q for q, (name, _, _) in QUERIES.items() if name == label)


def consistency_notes(results: Results) -> list[str]:
    """Do tracklog and MLflow answer the search queries alike, where both ran? (same data in both)"""
    mine = results.get("search", {}).get(TRACKLOG, {})
    theirs = results.get("search", {}).get("mlflow-sqlite", {})
    notes = []
    for n in sorted(set(mine.get("sizes", [])) & set(theirs.get("sizes", []))):
        compared = [(label, what) for q, (label, _, _) in QUERIES.items()
                    for what in ("results", "digest", "pandas_rows")
                    if f"n{n}_{q}_{what}" in mine and f"n{n}_{q}_{what}" in theirs]  # both ran it
        differ = [f"{label} ({what})" for label, what in compared
                  if mine[f"n{n}_{_query_id(label)}_{what}"] != theirs[f"n{n}_{_query_id(label)}_{what}"]]
        if differ:
            notes.append(f"search n={n:,}: tracklog and MLflow answers DIFFER: {'; '.join(differ)}")
        else:
            kinds = sorted({what for _, what in compared})
            notes.append(f"search n={n:,}: tracklog and MLflow return the same runs in the same order "
                         f"(all 3 queries; compared: {', '.join(kinds)})")
    return notes


# the write side's rows of issue 16, and the MLflow store its ratios are taken against
LOG_METRIC = "log_metric.calls_per_s_incl_end_run"
LOG_METRICS = "log_metrics.points_per_s_incl_end_run"
LOG_BATCH = "storage.smooth_points_per_s"
RUNS = "runs.runs_per_s_incl_publish"
FILE = "mlflow-file"
SQLITE = "mlflow-sqlite"


def _ratio(ratios: dict[str, dict[str, float | None]], row_id: str, baseline: str = FILE) -> float | None:
    return ratios.get(row_id, {}).get(baseline)


def _write_verdicts(results: Results, ratios: dict[str, dict[str, float | None]]) -> list[Verdict]:
    """Issue 16's write-side targets (ratios against MLflow's file store), then the older ones."""
    batch, per_step = _figure(results, "storage", TRACKLOG, "smooth_points_per_s"), _figure(
        results, "log_metrics", TRACKLOG, "points_per_s_incl_end_run")
    return [
        Verdict("log_metric median latency", "log_metric.median_us",
                _figure(results, "log_metric", TRACKLOG, "median_us"), 1.5, "<", " µs"),
        Verdict("log_metric calls/s incl. end_run + publish vs MLflow file store", LOG_METRIC,
                _ratio(ratios, LOG_METRIC), 150.0, ">=", "x"),
        Verdict("log_metric calls/s incl. end_run + publish vs MLflow sqlite", LOG_METRIC,
                _ratio(ratios, LOG_METRIC, "mlflow-sqlite"), 100.0, ">=", "x"),
        Verdict("log_metrics (10 keys) values/s incl. end_run + publish vs MLflow file store", LOG_METRICS,
                _ratio(ratios, LOG_METRICS), 100.0, ">=", "x"),
        Verdict("log_metrics (10 keys) values/s incl. end_run + publish", LOG_METRICS, per_step, 1_000_000.0, ">=",
                " values/s"),
        Verdict("log_batch (1,000 a call) values/s incl. end_run + publish vs MLflow file store", LOG_BATCH,
                _ratio(ratios, LOG_BATCH), 50.0, ">=", "x"),
        Verdict("log_batch values/s over log_metrics values/s", LOG_BATCH,
                batch / per_step if batch is not None and per_step else None, 1.0, ">", "x"),
        Verdict("create runs (10 params, 5 tags, 10 metrics x 20 steps) vs MLflow file store, incl. publish", RUNS,
                _ratio(ratios, RUNS), 50.0, ">=", "x"),
        Verdict("create runs, runs/s incl. publish", RUNS, _figure(results, "runs", TRACKLOG, "runs_per_s_incl_publish"),
                1200.0, ">=", " runs/s"),
        Verdict("import tracklog", "import.median_ms", _figure(results, "import", TRACKLOG, "median_ms"), 100.0, "<", " ms"),
        Verdict("bytes per point, smooth curve, not compacted", "storage.smooth_bytes_per_point",
                _figure(results, "storage", TRACKLOG, "smooth_bytes_per_point"), 8.0, "<", " B"),
        Verdict("bytes per point, noisy curve, not compacted", "storage.noisy_bytes_per_point",
                _figure(results, "storage", TRACKLOG, "noisy_bytes_per_point"), 8.0, "<", " B"),
        *_storage_verdicts(results),
    ]


def _storage_verdicts(results: Results) -> list[Verdict]:
    """Compacted: smooth curves under 5 B a point; noisy values within 10% of their entropy."""
    def figure(key: str) -> float | None:
        return _figure(results, "compacted_storage", TRACKLOG, key)

    out = [Verdict(f"compacted bytes per point, {_PATTERN_LABELS[p]} curve", f"compacted_storage.{p}_bytes_per_point_after",
                   figure(f"{p}_bytes_per_point_after"), 5.0, "<", " B") for p in ("smooth", "smooth32")]
    for p in ("noisy", "float32"):
        label = _PATTERN_LABELS[p]
        out.append(Verdict(f"compacted {label} values: value column / the values' entropy",
                           f"compacted_storage.{p}_value_over_entropy", figure(f"{p}_value_over_entropy"), 1.1, "<=", "x"))
        out.append(Verdict(f"compacted {label} values: bytes per point / the rows' entropy (values + timestamps)",
                           f"compacted_storage.{p}_over_entropy", figure(f"{p}_over_entropy"), 1.1, "<=", "x"))
    return out


# ---- printing ---------------------------------------------------------------------------------


def fmt_value(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    magnitude = abs(value)
    if magnitude >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 0.1 else f"{value:.3g}"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "inf"
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2f}x"


def format_table(results: Results, ratios: dict[str, dict[str, float | None]], verdicts: list[Verdict]) -> str:
    """The figures as a fixed-width text table, one block per workload."""
    verdict_by_row: dict[str, list[Verdict]] = {}
    for v in verdicts:
        verdict_by_row.setdefault(v.row_id, []).append(v)
    header = ["figure", "unit", "tracklog", *(c for b in BASELINES for c in (b, "ratio")), "target"]
    lines: list[list[str]] = []
    for row in all_rows(results):
        mine = _figure(results, row.workload, row.tracklog, row.key)
        baselines = [_figure(results, row.workload, b, row.key) for b in BASELINES]
        if mine is None and all(b is None for b in baselines):
            continue
        cells = [f"{row.workload}: {row.label}", row.unit, fmt_value(mine)]
        for name, value in zip(BASELINES, baselines, strict=True):
            cells += [fmt_value(value), fmt_ratio(ratios.get(row.id, {}).get(name))]
        cells.append("; ".join(v.text for v in verdict_by_row.get(row.id, [])))
        lines.append(cells)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) if i < len(cells) - 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells[1:], widths[1:], strict=True))]
        return "  ".join([first, *rest]).rstrip()

    out = [render(header), render(["-" * w for w in widths])]
    previous = None
    for cells in lines:
        workload = cells[0].split(":")[0]
        if previous is not None and workload != previous:
            out.append("")
        previous = workload
        out.append(render(cells))
    return "\n".join(out)


@dataclass(frozen=True)
class IssueRow:
    """One line of issue 16's table: a figure, the MLflow store its ratio is taken against, and the
    verdict rows (ids) whose targets it shows."""

    label: str
    workload: str
    key: str
    unit: str
    baseline: str | None  # FILE, SQLITE or None (no MLflow counterpart)
    verdicts: tuple[str, ...] = ()


def issue_rows(results: Results) -> list[IssueRow]:
    """The rows of issue 16's "Targets" table, in its order (search: one per store size that ran)."""
    rows = [
        IssueRow("log_metric per call, sync, incl. end_run + publish", "log_metric", "calls_per_s_incl_end_run", "calls/s",
                 FILE, (LOG_METRIC,)),
        IssueRow("log_metric median latency", "log_metric", "median_us", "µs", FILE, ("log_metric.median_us",)),
        IssueRow("log_metrics 10 keys a step, per value, incl. end_run + publish", "log_metrics",
                 "points_per_s_incl_end_run", "values/s", FILE, (LOG_METRICS,)),
        IssueRow("log_batch 1,000 a call, per value, incl. end_run + publish", "storage", "smooth_points_per_s",
                 "values/s", FILE, (LOG_BATCH,)),
        IssueRow("create runs (10 params, 5 tags, 10 metrics x 20 steps), incl. publish", "runs",
                 "runs_per_s_incl_publish", "runs/s", FILE, (RUNS,)),
    ]
    for n in sorted(results.get("search", {}).get(TRACKLOG, {}).get("sizes") or []):
        for q, (label, _, _) in QUERIES.items():
            rows.append(IssueRow(f"search_runs {label}, {n:,} runs (Client, max 1000)", "search", f"n{n}_{q}_client_ms",
                                 "ms", SQLITE, (f"search.n{n}_{q}_client_ms",)))
    small = _figure(results, "history", TRACKLOG, "small_points") or 0
    points = _figure(results, "history", TRACKLOG, "points") or 0
    rows += [
        IssueRow(f"get_metric_history, {small:,.0f} points, warm", "history", "small_warm_ms", "ms", FILE,
                 ("history.small_warm_ms",)),
        IssueRow(f"get_metric_history, {points:,.0f} points, warm (MLflow: scaled from its N)", "history", "warm_ms",
                 "ms", FILE, ("history.warm_ms",)),
        IssueRow("compacted storage, smooth float64 curve", "compacted_storage", "smooth_bytes_per_point_after",
                 "B/point", None, ("compacted_storage.smooth_bytes_per_point_after",)),
        IssueRow("compacted storage, smooth float32 curve", "compacted_storage", "smooth32_bytes_per_point_after",
                 "B/point", None, ("compacted_storage.smooth32_bytes_per_point_after",)),
        IssueRow("compacted storage, noisy float64: bytes/point", "compacted_storage", "noisy_bytes_per_point_after",
                 "B/point", None),
        IssueRow("compacted storage, noisy float64: entropy bound (values + timestamps)", "compacted_storage",
                 "noisy_entropy_bytes_per_point", "B/point", None),
        IssueRow("compacted storage, noisy float64: value column / the values' entropy", "compacted_storage",
                 "noisy_value_over_entropy", "x", None, ("compacted_storage.noisy_value_over_entropy",)),
        IssueRow("compacted storage, noisy float64: bytes/point / row entropy", "compacted_storage",
                 "noisy_over_entropy", "x", None, ("compacted_storage.noisy_over_entropy",)),
        IssueRow("import tracklog (MLflow: import mlflow)", "import", "median_ms", "ms", FILE, ("import.median_ms",)),
    ]
    return rows


def _issue_cells(results: Results, ratios: dict[str, dict[str, float | None]], row: IssueRow) -> list[str]:
    """workload, unit, MLflow file, MLflow sqlite, tracklog, ratio (and against which store)."""
    mine = _figure(results, row.workload, TRACKLOG, row.key)
    file_value = _figure(results, row.workload, FILE, row.key)
    sqlite_cell = fmt_value(_figure(results, row.workload, SQLITE, row.key))
    value: float | None = None
    if row.workload == "search":  # MLflow sqlite may have stopped at a smaller store: its largest, said so
        n, q = row.key[1:].split("_", 1)[0], row.key.split("_", 1)[1].removesuffix("_client_ms")
        value, m = search_ratio(results, int(n), q)
        if m is not None and m != int(n):
            theirs = _figure(results, "search", SQLITE, f"n{m}_{q}_client_ms")
            sqlite_cell = f"{fmt_value(theirs)} (at {m:,} runs)"
    elif row.baseline is not None:
        value = ratios.get(f"{row.workload}.{row.key}", {}).get(row.baseline)
    against = {FILE: "file", SQLITE: "sqlite"}.get(row.baseline or "", "")
    ratio_cell = f"{fmt_ratio(value)} vs {against}" if value is not None else ""
    return [row.label, row.unit, fmt_value(file_value), sqlite_cell, fmt_value(mine), ratio_cell]


def format_issue_table(results: Results, ratios: dict[str, dict[str, float | None]], verdicts: list[Verdict]) -> str:
    """Issue 16's table: every workload of its "Targets", MLflow's file and sqlite stores beside tracklog
    (same run), the ratio against the store the target names, the target and MET/MISS."""
    by_row: dict[str, list[Verdict]] = {}
    for v in verdicts:
        by_row.setdefault(v.row_id, []).append(v)
    header = ["workload", "unit", "MLflow file", "MLflow sqlite", "tracklog", "ratio", "target", "status"]
    lines = []
    for row in issue_rows(results):
        if _figure(results, row.workload, TRACKLOG, row.key) is None:
            continue
        # the sqlite-ratio verdicts of the write side are the older targets: not issue 16's
        shown = [v for rid in row.verdicts for v in by_row.get(rid, []) if not (v.unit == "x" and "sqlite" in v.name
                                                                                and row.baseline == FILE)]
        status = ["MET" if v.status == "PASS" else v.status for v in shown]
        lines.append([*_issue_cells(results, ratios, row), "; ".join(f"{v.op} {v.threshold:g}{v.unit}" for v in shown),
                      " / ".join(status) if status else "(reported)"])
    if not lines:
        return ""
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in (0, 1, 6, 7) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join(["Issue 16 (same run; ratio = how many times better tracklog is, against the store the target "
                      "names):", render(header), render(["-" * w for w in widths]), *(render(line) for line in lines)])


def format_verdicts(verdicts: list[Verdict]) -> str:
    lines = ["Targets:"]
    for v in verdicts:
        lines.append(f"  [{v.status}] {v.name}: {fmt_value(v.figure)}{v.unit} (target {v.op} {v.threshold:g}{v.unit})")
    return "\n".join(lines)
