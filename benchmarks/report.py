"""Turning results into ratios, PASS/MISS verdicts and a printed table.

A ratio is always "how many times better tracklog is" than one MLflow store on one figure:
``mlflow / tracklog`` for figures where lower is better (latency, bytes, seconds) and
``tracklog / mlflow`` where higher is better (throughput). Above 1 means tracklog wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["BASELINES", "ROWS", "Row", "Verdict", "compute_ratios", "evaluate_targets", "format_table",
           "format_verdicts"]

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
    Row("warmup", "first_run_s", "first run in process (start, 1 point, end)", "s", "info"),
    Row("log_metric", "calls", "calls timed (N)", "calls", "info"),
    Row("log_metric", "median_us", "median latency", "µs", "lower"),
    Row("log_metric", "median_us_min", "median latency, best repeat", "µs", "info"),
    Row("log_metric", "median_us_max", "median latency, worst repeat", "µs", "info"),
    Row("log_metric", "p99_us", "p99 latency", "µs", "lower"),
    Row("log_metric", "calls_per_s", "throughput, loop only", "calls/s", "higher"),
    Row("log_metric", "end_run_s", "final end_run (flush)", "s", "info"),
    Row("log_metric", "calls_per_s_incl_end_run", "throughput incl. end_run", "calls/s", "higher"),
    Row("log_metric", "bytes_per_point", "bytes on disk per point", "B", "lower"),
    Row("log_metric", "median_us", "median latency, durability=none", "µs", "lower", "tracklog[durability=none]"),
    Row("log_metric", "median_us_max", "median latency, durability=none, worst repeat", "µs", "info",
        "tracklog[durability=none]"),
    Row("log_metric", "p99_us", "p99 latency, durability=none", "µs", "lower", "tracklog[durability=none]"),
    Row("log_metric", "calls_per_s_incl_end_run", "throughput incl. end_run, durability=none", "calls/s", "higher",
        "tracklog[durability=none]"),
    Row("log_metrics", "calls", "calls timed (N steps x 10 keys)", "calls", "info"),
    Row("log_metrics", "median_us", "median latency per call", "µs", "lower"),
    Row("log_metrics", "p99_us", "p99 latency per call", "µs", "lower"),
    Row("log_metrics", "points_per_s", "points/s, loop only", "points/s", "higher"),
    Row("log_metrics", "end_run_s", "final end_run (flush)", "s", "info"),
    Row("log_metrics", "points_per_s_incl_end_run", "points/s incl. end_run", "points/s", "higher"),
    Row("runs", "runs", "runs timed (N)", "runs", "info"),
    Row("runs", "failed_runs", "runs that raised (skipped)", "runs", "info"),
    Row("runs", "per_run_median_ms", "per-run time, median", "ms", "lower"),
    Row("runs", "per_run_mean_ms", "per-run time, mean", "ms", "lower"),
    Row("runs", "per_run_p99_ms", "per-run time, p99", "ms", "lower"),
    Row("runs", "first_decile_mean_ms", "per-run mean, first 10% of runs", "ms", "info"),
    Row("runs", "last_decile_mean_ms", "per-run mean, last 10% of runs", "ms", "info"),
    Row("runs", "est_total_s_for_requested_runs", "total for all requested runs (scaled)", "s", "lower"),
    Row("storage", "smooth_points", "points stored (N)", "points", "info"),
    Row("storage", "smooth_bytes_per_point", "bytes per point, smooth curve", "B", "lower"),
    Row("storage", "noisy_bytes_per_point", "bytes per point, noisy curve", "B", "lower"),
    Row("storage", "smooth_metric_files", "metric files (smooth)", "files", "info"),
    Row("import", "median_ms", "import time, median", "ms", "lower"),
)


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
    for row in ROWS:
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
    op: Literal["<", ">="]
    unit: str

    @property
    def status(self) -> str:
        if self.figure is None:
            return "N/A"
        met = self.figure < self.threshold if self.op == "<" else self.figure >= self.threshold
        return "PASS" if met else "MISS"

    @property
    def text(self) -> str:
        return f"{self.op} {self.threshold:g}{self.unit}: {self.status}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "row": self.row_id, "figure": self.figure, "op": self.op,
                "threshold": self.threshold, "unit": self.unit, "status": self.status}


def evaluate_targets(results: Results, ratios: dict[str, dict[str, float | None]]) -> list[Verdict]:
    tput = "log_metric.calls_per_s_incl_end_run"
    return [
        Verdict("log_metric median latency", "log_metric.median_us",
                _figure(results, "log_metric", TRACKLOG, "median_us"), 2.0, "<", " µs"),
        Verdict("log_metric throughput incl. end_run vs MLflow sqlite", tput,
                ratios.get(tput, {}).get("mlflow-sqlite"), 100.0, ">=", "x"),
        Verdict("import tracklog", "import.median_ms",
                _figure(results, "import", TRACKLOG, "median_ms"), 150.0, "<", " ms"),
        Verdict("bytes per point, smooth curve", "storage.smooth_bytes_per_point",
                _figure(results, "storage", TRACKLOG, "smooth_bytes_per_point"), 8.0, "<", " B"),
        Verdict("bytes per point, noisy curve", "storage.noisy_bytes_per_point",
                _figure(results, "storage", TRACKLOG, "noisy_bytes_per_point"), 8.0, "<", " B"),
    ]


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
    verdict_by_row = {v.row_id: v for v in verdicts}
    header = ["figure", "unit", "tracklog", *(c for b in BASELINES for c in (b, "ratio")), "target"]
    lines: list[list[str]] = []
    for row in ROWS:
        mine = _figure(results, row.workload, row.tracklog, row.key)
        baselines = [_figure(results, row.workload, b, row.key) for b in BASELINES]
        if mine is None and all(b is None for b in baselines):
            continue
        cells = [f"{row.workload}: {row.label}", row.unit, fmt_value(mine)]
        for name, value in zip(BASELINES, baselines, strict=True):
            cells += [fmt_value(value), fmt_ratio(ratios.get(row.id, {}).get(name))]
        verdict = verdict_by_row.get(row.id)
        cells.append(verdict.text if verdict else "")
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


def format_verdicts(verdicts: list[Verdict]) -> str:
    lines = ["Targets:"]
    for v in verdicts:
        lines.append(f"  [{v.status}] {v.name}: {fmt_value(v.figure)}{v.unit} (target {v.op} {v.threshold:g}{v.unit})")
    return "\n".join(lines)
