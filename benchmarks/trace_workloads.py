"""What a span costs: tracklog's tracing API and the server's OTLP endpoint, against log_metric.

    python -m benchmarks.trace_workloads [--spans N] [--threads T] [--otlp-batches B]

Into one fresh local store, in this process:

- ``log_metric``: N points in one run (the baseline a span is held to);
- ``start_span``: N child spans inside one trace (no inputs), and with small inputs/outputs;
- ``@trace``: N calls of a decorated two-argument function (each a trace of one span);
- threads: T threads each logging N/T spans (traces of 10 spans), then everything is published
  and read back: the count must be exactly the number logged.

Then the OTLP endpoint of a ``tracklog server`` process: B protobuf requests of 1000 spans each,
sent one after another, then counted back through SQL. Figures are medians of 3 runs (µs per
call) and spans/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path


def _per_call_us(fn: Callable[[int], None], n: int, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(n)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / n * 1e6


def _in_process(n: int, threads: int) -> None:
    import tracklog

    tracklog.set_tracking_uri(tempfile.mkdtemp())
    tracklog.start_run()

    def metrics(k: int) -> None:
        for i in range(k):
            tracklog.log_metric("loss", 0.5, step=i)

    def spans(k: int) -> None:
        with tracklog.start_span("root"):
            for _ in range(k):
                with tracklog.start_span("child"):
                    pass

    def spans_io(k: int) -> None:
        with tracklog.start_span("root"):
            for i in range(k):
                with tracklog.start_span("child", span_type="TOOL") as span:
                    span.set_inputs({"query": "what is up", "k": i})
                    span.set_outputs(["doc1", "doc2"])

    @tracklog.trace
    def traced(a: int, b: int) -> int:
        return a + b

    def decorated(k: int) -> None:
        for i in range(k):
            traced(i, 1)

    rows = [("log_metric", _per_call_us(metrics, n)), ("start_span (child, empty)", _per_call_us(spans, n)),
            ("start_span (child, inputs+outputs)", _per_call_us(spans_io, n)),
            ("@trace call (a one-span trace)", _per_call_us(decorated, max(n // 3, 1)))]
    tracklog.end_run()
    print(f"{'operation':<38} {'us/call':>9} {'calls/s':>11} {'x log_metric':>13}")
    for name, us in rows:
        print(f"{name:<38} {us:>9.2f} {1e6 / us:>11,.0f} {us / rows[0][1]:>13.1f}")
    _threads(n, threads)


def _threads(n: int, threads: int) -> None:
    import tracklog

    tracklog.set_tracking_uri(tempfile.mkdtemp())
    per_thread = n // threads // 10

    def work() -> None:
        for _ in range(per_thread):
            with tracklog.start_span("root"):
                for _ in range(9):
                    with tracklog.start_span("child"):
                        pass

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    logged = time.perf_counter() - start
    tracklog.flush()
    published = time.perf_counter() - start
    expected = threads * per_thread * 10
    found = tracklog.sql("SELECT count(*) FROM spans").fetchall()[0][0]
    print(f"\n{threads} threads, {expected:,} spans: {expected / logged:,.0f} spans/s logged, "
          f"{expected / published:,.0f} spans/s incl. publishing; read back {found:,} "
          f"({'exact' if found == expected else 'MISMATCH'})")


def _otlp(batches: int) -> None:
    import requests
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tests.server.conftest import ServerProcess

    root = tempfile.mkdtemp()
    server = ServerProcess(os.path.join(root, "store"), None, Path(root, "server.log"))
    try:
        bodies = []
        for b in range(batches):
            request = ExportTraceServiceRequest()
            spans = request.resource_spans.add().scope_spans.add().spans
            for i in range(1000):
                span = spans.add()
                span.trace_id = (b * 100 + i // 10 + 1).to_bytes(16, "big")
                span.span_id = (b * 1000 + i + 1).to_bytes(8, "big")
                span.name, span.start_time_unix_nano, span.end_time_unix_nano = "s", 1, 2
            bodies.append(request.SerializeToString())
        session = requests.Session()
        start = time.perf_counter()
        for body in bodies:
            reply = session.post(f"{server.url}/v1/traces", data=body,
                                 headers={"Content-Type": "application/x-protobuf"}, timeout=60)
            reply.raise_for_status()
        took = time.perf_counter() - start
        count = session.post(f"{server.url}/api/2.0/tracklog/sql", json={"query": "SELECT count(*) FROM spans"},
                             timeout=60).json()["rows"][0][0]
        print(f"\nOTLP/HTTP protobuf into a server process: {batches} x 1000 spans in {took:.2f} s = "
              f"{batches * 1000 / took:,.0f} spans/s; read back {count:,} "
              f"({'exact' if count == batches * 1000 else 'MISMATCH'})")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=30_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--otlp-batches", type=int, default=20)
    args = parser.parse_args()
    _in_process(args.spans, args.threads)
    if args.otlp_batches:
        _otlp(args.otlp_batches)


if __name__ == "__main__":
    sys.exit(main())
