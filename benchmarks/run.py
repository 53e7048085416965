"""Run the benchmark: the same workloads against tracklog and MLflow, in one process.

    python -m benchmarks.run [--quick] [--only NAME[,NAME…]] [--out bench-results/latest.json]
                             [--store-cache DIR | --no-store-cache]

tracklog is measured first, before MLflow is imported into the process; the import-time
workload runs last, in fresh subprocesses. Prints a table of figures and ratios and writes
everything (figures, ratios, PASS/MISS verdicts, sizes, versions) as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.artifact_workloads import ARTIFACT_WORKLOADS
from benchmarks.model_workloads import MODEL_WORKLOADS
from benchmarks.query_workloads import READ_WORKLOADS, configure_store_cache
from benchmarks.registry_workloads import REGISTRY_WORKLOADS
from benchmarks.report import (
    compute_ratios,
    consistency_notes,
    evaluate_targets,
    format_issue_table,
    format_table,
    format_verdicts,
)
from benchmarks.server_workloads import SERVER_WORKLOADS
from benchmarks.stats import quiesce, timer_overhead_ns
from benchmarks.storage_workloads import STORAGE_WORKLOADS
from benchmarks.stores import DEFAULT_CACHE_DIR
from benchmarks.targets import MlflowTarget, Target, default_targets
from benchmarks.workloads import REPO_ROOT, Sizes, Workload, warmup
from benchmarks.workloads import WORKLOADS as WRITE_WORKLOADS

WORKLOADS: dict[str, Workload] = {**WRITE_WORKLOADS, **STORAGE_WORKLOADS, **READ_WORKLOADS, **ARTIFACT_WORKLOADS, **MODEL_WORKLOADS, **REGISTRY_WORKLOADS,
                                   **SERVER_WORKLOADS}
SUBPROCESS_WORKLOADS = ("import",)  # run after every in-process workload
Results = dict[str, dict[str, dict[str, Any]]]

_started = time.perf_counter()
_LOADAVG_AT_START = os.getloadavg()  # other work on the machine skews every figure; recorded


def log(message: str) -> None:
    print(f"[{time.perf_counter() - _started:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N everywhere (a smoke test, ~1-2 minutes)")
    parser.add_argument("--only", metavar="NAME", action="append", default=[],
                        help=f"run only these workloads (repeatable or comma-separated): {', '.join(WORKLOADS)}")
    parser.add_argument("--out", default="bench-results/latest.json", help="where to write the JSON results")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--store-cache", metavar="DIR", default=str(DEFAULT_CACHE_DIR.relative_to(REPO_ROOT)),
                       help="where the read-side workloads keep the stores they generate, for reuse "
                            "(default: %(default)s, relative to the repository root)")
    cache.add_argument("--no-store-cache", action="store_true",
                       help="generate the read-side stores into temporary folders, and remove them")
    parser.add_argument("--target", metavar="NAME", action="append", default=[],
                        help="run only these targets (repeatable): tracklog, tracklog[durability=none], "
                             "mlflow-sqlite, mlflow-file; ratios need a baseline in the same run")
    args = parser.parse_args(argv)
    only = [name for value in args.only for name in value.split(",") if name]
    unknown = sorted(set(only) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    args.workloads = [name for name in WORKLOADS if not only or name in only]
    return args


def prepare(target: Target, notes: list[str]) -> bool:
    """Import the target's library (and check its store); False, with a note, if unusable."""
    try:
        target.api  # noqa: B018 - imports the library
        if isinstance(target, MlflowTarget):
            target.check_available()
    except Exception as exc:
        notes.append(f"{target.name}: skipped, {type(exc).__name__}: {exc}")
        log(notes[-1])
        return False
    return True


def run_workload(name: str, target: Target, sizes: Sizes, results: Results, workload: Workload | None = None) -> None:
    log(f"{name} · {target.name} …")
    quiesce()
    loadavg = os.getloadavg()[0]  # other work on the machine skews the figures: kept per workload
    try:
        figures = (workload or WORKLOADS[name])(target, sizes)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        figures = {"error": f"{type(exc).__name__}: {exc}"}
    figures["loadavg_1m_at_start"] = loadavg
    results.setdefault(name, {})[target.name] = figures
    log(f"{name} · {target.name}: {summary(figures)}")


def summary(figures: dict[str, Any]) -> str:
    shown = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()]
    return ", ".join(shown[:6]) + (", …" if len(shown) > 6 else "")


def run_all(targets: list[Target], workloads: list[str], sizes: Sizes, notes: list[str]) -> Results:
    """In-process workloads target by target (tracklog first), then subprocess workloads."""
    results: Results = {}
    usable = [t for t in targets if any(t.runs_workload(w) for w in workloads)]
    in_process = [w for w in workloads if w not in SUBPROCESS_WORKLOADS]
    ready: list[Target] = []
    for target in usable:
        if not prepare(target, notes):
            continue
        ready.append(target)
        if any(target.runs_workload(name) for name in in_process):
            run_workload("warmup", target, sizes, results, warmup)
        for name in in_process:
            if target.runs_workload(name):
                run_workload(name, target, sizes, results)
    for name in (w for w in workloads if w in SUBPROCESS_WORKLOADS):
        measured: dict[str, str] = {}  # library -> target that measured it (import time is per library)
        for target in ready:
            if not target.runs_workload(name):
                continue
            if target.library in measured:
                first = measured[target.library]
                results[name][target.name] = {**results[name][first], "same_as": first}
                continue
            run_workload(name, target, sizes, results)
            measured[target.library] = target.name
    return results


def git_revision() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    return revision + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def metadata(args: argparse.Namespace, sizes: Sizes, targets: list[Target], notes: list[str]) -> dict[str, Any]:
    versions: dict[str, str] = {}
    for target in targets:
        if target.loaded and target.library not in versions:
            versions[target.library] = target.version()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "workloads": args.workloads,
        "sizes": sizes.as_dict(),
        "versions": versions,
        "git": git_revision(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "tempdir": tempfile.gettempdir(),
        "loadavg_at_start": _LOADAVG_AT_START,
        "loadavg_at_end": os.getloadavg(),
        "timer_overhead_ns": timer_overhead_ns(),
        "wall_s": time.perf_counter() - _started,
        "notes": notes,
    }


def headline(meta: dict[str, Any]) -> str:
    versions = " vs ".join(f"{lib} {v}" for lib, v in meta["versions"].items())
    load = f"{meta['loadavg_at_start'][0]:.2f} -> {meta['loadavg_at_end'][0]:.2f}"
    return (f"{versions} (git {meta['git']}) · {'quick' if meta['quick'] else 'full'} sizes · "
            f"Python {meta['python']} · {meta['cpus']} CPUs · load avg {load}")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes.full()
    targets = [t for t in default_targets() if not args.target or t.name in args.target]
    notes: list[str] = []
    configure_store_cache(None if args.no_store_cache else REPO_ROOT / args.store_cache)
    log(f"workloads: {', '.join(args.workloads)}; {'quick' if args.quick else 'full'} sizes")
    try:
        results = run_all(targets, args.workloads, sizes, notes)
    finally:
        configure_store_cache(None)  # removes the temporary stores of an uncached run
    notes.extend(note for t in targets for note in t.notes)
    notes.extend(consistency_notes(results))
    ratios = compute_ratios(results)
    verdicts = evaluate_targets(results, ratios)
    meta = metadata(args, sizes, targets, notes)

    print(headline(meta))
    print(format_table(results, ratios, verdicts))
    print()
    print(format_verdicts([v for v in verdicts if v.figure is not None]))
    issue = format_issue_table(results, ratios, verdicts)
    if issue:
        print()
        print(issue)
    print("ratio = how many times better tracklog is (MLflow/tracklog for time and bytes, "
          "tracklog/MLflow for throughput); MLflow ran fewer calls/runs where noted (N rows).")
    for note in notes:
        print(f"note: {note}")
    errors = [f"{w} · {t}: {f['error']}" for w, by in results.items() for t, f in by.items() if "error" in f]
    for error in errors:
        print(f"error: {error}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "results": results, "ratios": ratios, "targets": [v.as_dict() for v in verdicts]}
    out.write_text(json.dumps(_json_safe(document), indent=2) + "\n")
    print(f"results written to {out} (total {meta['wall_s']:.0f} s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
