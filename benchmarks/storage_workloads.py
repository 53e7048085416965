"""The compacted-storage workload: bytes a metric point costs once `tracklog compact` has run,
against the entropy of the data (what no lossless encoding can beat).

One 1,000,000-point single-metric store per value pattern (100,000 with ``--quick``), generated
like the `history` store (a training loop's timestamps, 100 ms a step with 0-9 ms of seeded
jitter; the writer's ts follows them), compacted (both streams, retention 0), then measured:
the live metric files' bytes per point before and after, and the bytes of each column after
(from the Parquet footers), so a figure can be traced to the column that costs it.

The entropy bound of a pattern is computed from the generator itself: the values' noise (a
Gaussian of sigma 0.01 around the smooth curve, taken at the resolution of the float type the
values have — a float64 or float32 ulp at each value) plus the timestamps' jitter (log2 10 bits:
uniform over 0-9 ms). Everything else in a row is determined by its position (step, writer_seq)
or constant (run, key, writer, actor), and ts equals the timestamp in ns in these stores, so it
adds nothing either. The smooth patterns are deterministic: their bound is ~0 and they are held
to a fixed figure instead (< 5 B).
"""

from __future__ import annotations

import functools
import math
import os

from benchmarks import query_workloads
from benchmarks.query_workloads import (
    HISTORY_KEY,
    HISTORY_RUN_ID,
    _bytes_figures,
    _check,
    _compact_both,
    _history_store,
    _note_clock,
    _parts,
    history_timestamps,
    pattern_values,
)
from benchmarks.targets import Target
from benchmarks.workloads import Figures, Sizes, Workload, smooth

__all__ = ["NOISE_SIGMA", "STORAGE_PATTERNS", "STORAGE_WORKLOADS", "entropy_bytes_per_point"]

# value patterns, as `query_workloads.pattern_values` makes them: smooth float64, the smooth curve
# rounded to float32, the noisy curve rounded to float32, the noisy curve in float64
STORAGE_PATTERNS = ("smooth", "smooth32", "float32", "noisy")
NOISE_SIGMA = 0.01
TIMESTAMP_JITTER_MS = 10  # history_timestamps: 100 ms a step plus randrange(10)


def entropy_bytes_per_point(pattern: str, values: list[float]) -> tuple[float, float]:
    """The entropy of a pattern's values and of its whole rows, in bytes per point.

    For a noisy pattern each value was drawn from N(smooth(i), sigma) and rounded to its float
    type: its probability is about pdf(x) times the ulp at x, so the bound is the mean of
    -log2(pdf(x_i) * ulp(x_i)). Smooth patterns are a function of the step: 0 bits. The rows
    add the timestamps' jitter.
    """
    import numpy as np

    rows_extra = math.log2(TIMESTAMP_JITTER_MS) / 8
    if pattern in ("smooth", "smooth32"):
        return 0.0, rows_extra
    x = np.asarray(values, dtype=np.float64)
    mu = np.asarray([smooth(i) for i in range(len(values))], dtype=np.float64)
    ulp = np.spacing(np.abs(x.astype(np.float32))).astype(np.float64) if pattern == "float32" else np.spacing(np.abs(x))
    log_pdf = -0.5 * ((x - mu) / NOISE_SIGMA) ** 2 - math.log(NOISE_SIGMA * math.sqrt(2 * math.pi))
    bits = -(log_pdf / math.log(2) + np.log2(ulp))
    value_bytes = float(bits.mean()) / 8
    return value_bytes, value_bytes + rows_extra


def _column_bytes(uri: str) -> dict[str, int]:
    """Compressed bytes of each column over the live metric files (from their footers)."""
    import pyarrow.parquet as pq

    from eventlog import open_store
    from eventlog.compaction import live_files

    out: dict[str, int] = {}
    for path in live_files(open_store(uri), "metric"):
        meta = pq.ParquetFile(os.path.join(uri, *path.split("/"))).metadata
        for group in range(meta.num_row_groups):
            for index in range(meta.num_columns):
                column = meta.row_group(group).column(index)
                out[column.path_in_schema] = out.get(column.path_in_schema, 0) + column.total_compressed_size
    return out


def _compacted_pattern(target: Target, sizes: Sizes, pattern: str) -> Figures:
    n = sizes.pattern_points
    name, build = _history_store(pattern, n, sizes)
    values = pattern_values(pattern, n)
    with query_workloads._stores.working_store(name, build) as (work, info):  # the cache run.py configured
        _note_clock(target, name, info)
        uri = str(work)
        p = f"{pattern}_"
        figures: Figures = {f"{p}points": n, **_bytes_figures(uri, n, p, "before")}
        figures.update(_compact_both(uri, p))
        figures.update(_bytes_figures(uri, n, p, "after"))
        for column, size in _column_bytes(uri).items():
            figures[f"{p}{column}_bytes_per_point_after"] = size / n
        history = target.api.Client(uri).get_metric_history(HISTORY_RUN_ID, HISTORY_KEY)
        _check([m.value for m in history] == values, f"{pattern} values changed with compaction")
        _check([m.timestamp for m in history] == history_timestamps(n), f"{pattern} timestamps changed with compaction")
    value_bound, row_bound = entropy_bytes_per_point(pattern, values)
    figures[f"{p}value_entropy_bytes_per_point"] = value_bound
    figures[f"{p}entropy_bytes_per_point"] = row_bound
    if value_bound > 0:  # how far above what the data allows: the value column, and whole rows
        figures[f"{p}value_over_entropy"] = figures[f"{p}value_bytes_per_point_after"] / value_bound
        figures[f"{p}over_entropy"] = figures[f"{p}bytes_per_point_after"] / row_bound
    return figures


def compacted_storage(target: Target, sizes: Sizes) -> Figures:
    """Bytes per metric point after compaction, per value pattern, with the entropy bounds."""
    return _parts({}, [(f"{p} store", functools.partial(_compacted_pattern, target, sizes, p)) for p in STORAGE_PATTERNS])


STORAGE_WORKLOADS: dict[str, Workload] = {"compacted_storage": compacted_storage}
