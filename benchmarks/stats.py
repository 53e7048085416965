"""Small numeric helpers shared by the workloads: percentiles, rates, timers."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Sequence

__all__ = ["clock", "percentile", "quiesce", "rate", "summarize_ns", "timer_overhead_ns"]

clock = time.perf_counter_ns


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of an already sorted, non-empty sequence."""
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summarize_ns(samples_ns: Sequence[int], prefix: str = "") -> dict[str, float]:
    """Median, p99, mean and max of per-call durations, in microseconds."""
    ordered = sorted(samples_ns)
    return {
        f"{prefix}median_us": percentile(ordered, 50) / 1e3,
        f"{prefix}p99_us": percentile(ordered, 99) / 1e3,
        f"{prefix}mean_us": sum(ordered) / len(ordered) / 1e3,
        f"{prefix}max_us": ordered[-1] / 1e3,
    }


def rate(count: int, elapsed_ns: int) -> float:
    """Events per second; ``inf`` if no time elapsed."""
    return count / (elapsed_ns / 1e9) if elapsed_ns > 0 else math.inf


def timer_overhead_ns(n: int = 100_000) -> float:
    """Median cost of one timed empty call as the workloads time calls (two clock reads)."""
    samples = [0] * n
    for i in range(n):
        start = clock()
        samples[i] = clock() - start
    samples.sort()
    return percentile(samples, 50)


def quiesce() -> None:
    """Collect garbage left by earlier phases so it is not charged to the next measurement."""
    gc.collect()
