"""Stores for the read-side workloads: generated fast through the event log, cached between runs.

The read-side workloads need big tracklog stores (100,000 runs; 10,000,000 metric points).
Logging them through the fluent API would take hours (~6 ms a run), so they are written with
`eventlog.EventLog` directly (``append`` / ``log_metric`` with a large ``flush_events``, and an
explicit ``flush()`` every so many events, so the segment count is deterministic) — the same
Parquet segments the fluent API writes, minus its validation and bookkeeping. While a store
is generated the writer's clock is simulated (`simulated_clock`), so each event's ``ts``
follows the simulated training loop as it would in a real run.

Generated stores are kept under ``bench-results/stores/<name>@<key>/`` and reused by later
runs. The key hashes the generator version and the source of ``eventlog/`` (the write path and
the on-disk format): when either changes, the store is generated again, and stores with
another key are removed. A workload never touches a cached store: it works on a private copy
(`working_store`), so catalogs, compactions and deletions stay out of the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "T0_MS",
    "RunSpec",
    "StoreCache",
    "build_fold_store",
    "build_history_store",
    "build_runs_store",
    "metric_bytes",
    "release_tracklog",
    "run_specs",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = REPO_ROOT / "bench-results" / "stores"
GENERATOR_VERSION = "3"  # bump whenever what a builder writes changes
MARKER = "_bench.json"  # names starting with "_" are never data in a store
T0_MS = 1_700_000_000_000  # a fixed epoch (ms) for every generated start time and timestamp
NEVER_FLUSH = 10**12  # flush_events / flush_interval: only our explicit flush() publishes
_NOT_COPIED = {"_cache", "_wal", "_staging"}


# ---- the cache ---------------------------------------------------------------------------------


def _source_key() -> str:
    digest = hashlib.sha256(GENERATOR_VERSION.encode())
    for path in sorted((REPO_ROOT / "eventlog").rglob("*.py")):
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class StoreCache:
    """Generated stores, by name; ``root=None`` generates into temporary folders (no reuse)."""

    def __init__(self, root: Path | None = DEFAULT_CACHE_DIR) -> None:
        self.root = root
        self._key: str | None = None
        self._pruned = False
        self._temp: list[Path] = []

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = _source_key()
        return self._key

    def get(self, name: str, build: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
        """The store `name`, built by ``build(path)`` unless a cached copy is current.

        Returns the store's folder and its build info (what `build` returned, plus
        ``populate_s``, the time the build took when it ran, and ``reused``).
        """
        if self.root is None:
            path = Path(tempfile.mkdtemp(prefix=f"tracklog-bench-{name}-"))
            self._temp.append(path)
            return path, {**self._build(path, build), "reused": False}
        self._prune()
        final = self.root / f"{name}@{self.key}"
        marker = final / MARKER
        if marker.exists():
            return final, {**json.loads(marker.read_text()), "reused": True}
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            info = self._build(tmp, build)
            (tmp / MARKER).write_text(json.dumps(info, indent=1))
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final, {**info, "reused": False}

    def _prune(self) -> None:
        """Remove stores made by another generator or eventlog version: never usable again."""
        if self._pruned or self.root is None or not self.root.is_dir():
            return
        self._pruned = True
        for path in self.root.glob("*@*"):
            if path.is_dir() and not path.name.endswith(f"@{self.key}"):
                shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def _build(path: Path, build: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        start = time.perf_counter()
        info = build(path)
        return {**info, "populate_s": time.perf_counter() - start}

    @contextlib.contextmanager
    def working_store(self, name: str, build: Callable[[Path], dict[str, Any]]) -> Iterator[tuple[Path, dict[str, Any]]]:
        """A private copy of the store `name` (no catalog cache, no WAL), removed afterwards.

        Any tracklog backend this process opened on the copy is closed before it is removed.
        """
        source, info = self.get(name, build)
        work = Path(tempfile.mkdtemp(prefix=f"tracklog-bench-{name}-")) / "store"
        shutil.copytree(source, work, ignore=lambda _dir, names: [n for n in names if n in _NOT_COPIED or n == MARKER])
        try:
            yield work, info
        finally:
            release_tracklog(str(work))
            shutil.rmtree(work.parent, ignore_errors=True)

    def cleanup(self) -> None:
        """Remove the temporary stores of an uncached run."""
        for path in self._temp:
            shutil.rmtree(path, ignore_errors=True)
        self._temp.clear()


def release_tracklog(uri: str) -> None:
    """Close what tracklog keeps open per store in this process (writer, catalog connection).

    tracklog keeps one backend per URI for the life of the process; the benchmark opens many
    short-lived stores, so it closes each one when done (best effort: private API).
    """
    with contextlib.suppress(Exception):
        from tracklog.tracking.local import LocalStore, normalize_uri

        store = LocalStore._open.pop(normalize_uri(uri), None)
        if store is None:
            return
        for catalog in (store._catalog, store._empty):
            if catalog is not None:
                with contextlib.suppress(Exception):
                    catalog.close()
        with contextlib.suppress(Exception):
            store.log.close()


def metric_bytes(uri: str) -> tuple[int, int]:
    """Bytes and count of the live files of the metric stream (segments and compacted outputs)."""
    from eventlog import open_store
    from eventlog.compaction import live_files

    files = live_files(open_store(uri), "metric")
    return sum(os.path.getsize(os.path.join(uri, *p.split("/"))) for p in files), len(files)


# ---- what the stores hold ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One run of the search stores: the same content for tracklog and MLflow."""

    run_id: str
    name: str
    start_ms: int
    params: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]
    metrics: tuple[tuple[str, float], ...]


def run_specs(n: int, seed: int = 1) -> list[RunSpec]:
    """`n` runs: params p0..p4 (p1 in x/y/z), tags t0..t2, metrics m0..m4 in [0, 1).

    Deterministic: the first k runs of ``run_specs(n)`` are ``run_specs(k)``.
    """
    rng = random.Random(seed)
    out = []
    for i in range(n):
        run_id = f"{rng.getrandbits(128):032x}"
        params = (
            ("p0", f"{rng.random():.6f}"),
            ("p1", rng.choice(("x", "y", "z"))),
            ("p2", str(rng.randrange(1000))),
            ("p3", rng.choice(("adam", "sgd", "rmsprop"))),
            ("p4", f"1e-{rng.randint(1, 5)}"),
        )
        tags = (("t0", f"team-{i % 7}"), ("t1", rng.choice(("gpu", "cpu"))), ("t2", f"v{i % 3}"))
        metrics = tuple((f"m{k}", rng.random()) for k in range(5))
        out.append(RunSpec(run_id, f"run-{i:06d}", T0_MS + 1000 * i, params, tags, metrics))
    return out


def _open_log(path: Path) -> Any:
    from eventlog import EventLog

    return EventLog.open(str(path), durability="none", flush_events=NEVER_FLUSH, flush_interval=NEVER_FLUSH / 1e3)


class SimulatedClock:
    """The writer's clock while a store is generated: ``at(ms)`` moves it to a moment of the
    simulated training loop, and each read advances it by 1 µs (strictly increasing).

    Every event's ``ts`` (the write time the writer stamps) then follows the loop's timestamps,
    as it would in a real run, instead of the microseconds a bulk write really takes — which
    would make the ``ts`` column compress unrealistically well.
    """

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        self.now_ns += 1_000
        return self.now_ns

    def at(self, ms: int) -> None:
        self.now_ns = max(self.now_ns, ms * 1_000_000)


@contextlib.contextmanager
def simulated_clock() -> Iterator[SimulatedClock]:
    """Stand in for ``eventlog.wal._time_ns``, the writers' clock (private; if it is gone, ts stays real)."""
    from eventlog import wal

    clock = SimulatedClock()
    real = getattr(wal, "_time_ns", None)
    if real is not None:
        wal._time_ns = clock  # type: ignore[attr-defined]
    try:
        yield clock
    finally:
        if real is not None:
            wal._time_ns = real  # type: ignore[attr-defined]


def _ts_simulated(path: Path) -> bool:
    """Did the store's metric events get the simulated ts (within a day of `T0_MS`)?"""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    first = min((path / "events" / "stream=metric").rglob("*.parquet"))
    low = pc.min(pq.read_table(first, columns=["ts"])["ts"]).as_py()
    return abs(low - T0_MS * 1_000_000) < 86_400 * 10**9


def build_runs_store(path: Path, specs: Sequence[RunSpec], runs_per_flush: int) -> dict[str, Any]:
    """Runs of `specs` in experiment "0", each started, given params, tags, metrics, and ended."""
    from eventlog import ParamLogged, RunEnded, RunStarted, RunTagSet

    with simulated_clock() as clock:
        log = _open_log(path)
        append, log_metric = log.append, log.log_metric
        for i, spec in enumerate(specs, 1):
            run_id = spec.run_id
            clock.at(spec.start_ms)
            append(RunStarted(run_id=run_id, experiment_id="0", run_name=spec.name, start_time=spec.start_ms, artifact_uri=""))
            for key, value in spec.params:
                append(ParamLogged(run_id=run_id, key=key, value=value))
            for key, value in spec.tags:
                append(RunTagSet(run_id=run_id, key=key, value=value))
            clock.at(spec.start_ms + 100)
            for key, metric in spec.metrics:
                log_metric(run_id, key, metric, 0, spec.start_ms + 100)
            clock.at(spec.start_ms + 500)
            append(RunEnded(run_id=run_id, status="FINISHED", end_time=spec.start_ms + 500))
            if i % runs_per_flush == 0:
                log.flush()
        log.close()
    return {"runs": len(specs), "points": 5 * len(specs), "runs_per_flush": runs_per_flush,
            "ts_simulated": _ts_simulated(path)}


def build_history_store(path: Path, run_id: str, key: str, values: Sequence[float], timestamps: Sequence[int],
                        points_per_flush: int) -> dict[str, Any]:
    """One run with one metric: ``values[i]`` at step i and ``timestamps[i]``."""
    from eventlog import RunEnded, RunStarted

    with simulated_clock() as clock:
        log = _open_log(path)
        clock.at(timestamps[0])
        log.append(RunStarted(run_id=run_id, experiment_id="0", run_name="history", start_time=timestamps[0], artifact_uri=""))
        log_metric, at = log.log_metric, clock.at
        for step, (value, stamp) in enumerate(zip(values, timestamps, strict=True)):
            at(stamp)
            log_metric(run_id, key, value, step, stamp)
            if (step + 1) % points_per_flush == 0:
                log.flush()
        log.append(RunEnded(run_id=run_id, status="FINISHED", end_time=timestamps[-1]))
        log.close()
    return {"run_id": run_id, "key": key, "points": len(values), "points_per_flush": points_per_flush,
            "ts_simulated": _ts_simulated(path)}


def fold_run_id(run: int) -> str:
    return f"{run:032x}"


def fold_value(run: int, key: int, step: int) -> float:
    """A loss-like curve per (run, key): smooth, different in every run."""
    return (1.0 + key) / (1.0 + 0.01 * step) * (1.0 + 1e-4 * run)


def build_fold_store(path: Path, runs: int, keys: int, steps: int, points_per_flush: int) -> dict[str, Any]:
    """`runs` runs x `keys` metrics x `steps` steps, logged as a training loop would (step-major)."""
    from eventlog import RunEnded, RunStarted

    names = [f"k{k}" for k in range(keys)]
    logged = 0
    with simulated_clock() as clock:
        log = _open_log(path)
        log_metric = log.log_metric
        for run in range(runs):  # one after the other, ~100 ms a step, 1 s between runs
            run_id = fold_run_id(run)
            start = T0_MS + run * (100 * steps + 1000)
            curves = [[fold_value(run, k, s) for s in range(steps)] for k in range(keys)]
            clock.at(start)
            log.append(RunStarted(run_id=run_id, experiment_id="0", run_name=f"fold-{run}", start_time=start, artifact_uri=""))
            for step in range(steps):
                stamp = start + 100 * step + (step * 7919) % 10  # 0-9 ms of deterministic jitter
                clock.at(stamp)
                for k, name in enumerate(names):
                    log_metric(run_id, name, curves[k][step], step, stamp)
                logged += keys
                if logged >= points_per_flush:
                    log.flush()
                    logged = 0
            clock.at(start + 100 * steps)
            log.append(RunEnded(run_id=run_id, status="FINISHED", end_time=start + 100 * steps))
        log.close()
    return {"runs": runs, "keys": keys, "steps": steps, "points": runs * keys * steps,
            "points_per_flush": points_per_flush, "ts_simulated": _ts_simulated(path)}
