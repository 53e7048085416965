"""Speed of ``tracklog import tensorboard`` on a log folder of TensorBoard's own writer.

    python -m benchmarks.tensorboard_workloads [--points 1000000] [--runs 10] [--keys 5] [--tensor]

Writes `--points` scalar points into `--runs` run folders (`--keys` tags each) with
TensorBoard's `EventFileWriter`: ``simple_value`` summaries as PyTorch's and tensorboardX's
writers make them, or with ``--tensor`` the ``scalars`` plugin's tensors as TF 2 makes them.
Then times, each into a fresh store:

- ``import``: `tracklog.transfer.import_tensorboard` of the whole folder (points/s);
- ``import again``: the same import once more (it adds nothing).

Reading is bound by TensorBoard's TensorFlow-free record reader (its CRC-32C is pure Python):
``read only`` times that reader alone over the same files, for the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any


def write_logdir(root: str, points: int, runs: int, keys: int, *, tensor: bool = False) -> int:
    """A TensorBoard log folder of `runs` run folders with `points` scalar points in all; returns
    how many points were written."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.scalar import summary_v2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    steps = points // (runs * keys)
    base = time.time()
    for r in range(runs):
        writer = EventFileWriter(os.path.join(root, f"run-{r}"), max_queue_size=10_000, flush_secs=3600)
        for step in range(steps):
            wall = base + step * 0.01
            for k in range(keys):
                value = float(step) * 0.001 + k
                summary = (summary_v2.scalar_pb(f"m{k}", value) if tensor else
                           summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=f"m{k}", simple_value=value)]))
                writer.add_event(event_pb2.Event(wall_time=wall, step=step, summary=summary))
        writer.close()
    return steps * runs * keys


def read_only(root: str) -> int:
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader

    count = 0
    for folder, _, files in os.walk(root):
        for name in files:
            count += sum(1 for _ in RawEventFileLoader(os.path.join(folder, name)).Load())
    return count


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--tensor", action="store_true", help="scalars as the scalars plugin's tensors (TF 2)")
    args = parser.parse_args()

    from tracklog.transfer import import_tensorboard

    with tempfile.TemporaryDirectory(prefix="tracklog-bench-tb-") as tmp:
        logdir = os.path.join(tmp, "logs")
        points, took = timed(lambda: write_logdir(logdir, args.points, args.runs, args.keys, tensor=args.tensor))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(logdir) for f in fs)
        print(f"wrote {points:,} points ({size / 1e6:.1f} MB of event files) with TensorBoard's writer in {took:.1f} s")
        records, took = timed(lambda: read_only(logdir))
        print(f"read only (TensorBoard's RawEventFileLoader): {records:,} records in {took:.2f} s, "
              f"{records / took:,.0f} records/s")
        store = os.path.join(tmp, "store")
        report, took = timed(lambda: import_tensorboard(logdir, store, progress=False))
        print(f"import: {report.metric_points:,} points, {report.runs} runs in {took:.2f} s, "
              f"{report.metric_points / took:,.0f} points/s")
        again, took = timed(lambda: import_tensorboard(logdir, store, progress=False))
        print(f"import again: {again.runs} runs, {again.segments} segments in {took:.2f} s")


if __name__ == "__main__":
    main()
