"""Does the catalog agree with the log? `tracklog doctor` asks, and rebuilds it when it does not.

The catalog is a cache: every row in it must come from the log, once. `check_catalog` folds
what is new, then compares

- the events: per stream, how many the catalog holds and a digest of them against the same over
  every readable live file of the log — control events by identity (``writer_id``,
  ``writer_seq``), metric points by content (run, key, step, timestamp, value), each distinct
  point once, as the fold keeps an exact repeat once; ``meta`` against the control events of
  its kinds;
- the folded tables: the materialised ``run_rows``, ``latest``, ``liveness`` and the registry's tables against the same SQL run over the
  catalog's own events (a table edited in place, or a fold interrupted by a bug, shows here);
- its bookkeeping: every live file is recorded as folded.

A file the log cannot read is skipped on both sides (the doctor reports it on its own).
`rebuild_catalog` deletes the cache file and folds the whole log again.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from eventlog import CorruptFileError, EventLog
from eventlog.log import relisting
from projections.catalog import Catalog
from projections.views import LATEST, LIVENESS, META_KINDS, REGISTRY, RUNS, TRACE_KINDS

if TYPE_CHECKING:
    import duckdb

__all__ = ["check_catalog", "rebuild_catalog"]

_IDENTITY = {"control": "hash(writer_id, writer_seq)", "metric": "hash(run_id, key, step, timestamp, value)"}
_DIGEST = "SELECT count(*), coalesce(sum(h::HUGEINT), 0) FROM (SELECT {identity} AS h FROM {table})"
_TABLES = {"control": "control", "metric": "metric_points"}


def check_catalog(catalog: Catalog) -> list[str]:
    """What is wrong with `catalog` (after folding what is new), one sentence per problem; [] when
    it agrees with its log."""
    import duckdb

    problems: list[str] = []
    try:
        catalog.refresh()
        cur = catalog.con.cursor()
    except duckdb.Error as exc:
        return [f"the catalog {catalog.path} cannot be read: {_first_line(exc)}"]
    try:
        problems += relisting(lambda: _events(catalog, cur))
        problems += _derived(cur)
    except duckdb.Error as exc:
        problems.append(f"the catalog {catalog.path} is damaged: {_first_line(exc)}")
    finally:
        cur.close()
    return problems


def _events(catalog: Catalog, cur: duckdb.DuckDBPyConnection) -> list[str]:
    import duckdb

    problems = []
    folded = {row[0] for row in cur.execute("SELECT path FROM _files").fetchall()}
    scratch = duckdb.connect()
    try:
        for stream, table in _TABLES.items():
            files = catalog.log.files(stream)  # type: ignore[arg-type]
            unrecorded = [p for p in files if p not in folded]
            if unrecorded:
                problems.append(f"the catalog has not recorded {len(unrecorded)} {stream} file(s) of the log as folded, "
                                f"e.g. {unrecorded[0]}")
            identity = _IDENTITY[stream]
            scratch.execute("CREATE OR REPLACE TABLE seen (h UBIGINT)")
            for path in files:
                try:
                    scratch.register("segment", catalog.log.read(path))
                except CorruptFileError:
                    continue
                scratch.execute(f"INSERT INTO seen SELECT {identity} FROM segment")
                scratch.unregister("segment")
            seen = "(SELECT DISTINCT h FROM seen)" if stream == "metric" else "seen"
            count, digest = scratch.execute(_DIGEST.format(identity="h", table=seen)).fetchall()[0]
            held, held_digest = cur.execute(_DIGEST.format(identity=identity, table=table)).fetchall()[0]
            if (held, held_digest) != (count, digest):
                problems.append(f"the catalog holds {held} {stream} event(s), the log {count}"
                                + (" (the same number, but not the same events)" if held == count else ""))
    finally:
        scratch.close()
    return problems


def _derived(cur: duckdb.DuckDBPyConnection) -> list[str]:
    problems = []
    kinds = ", ".join(f"'{kind}'" for kind in META_KINDS)
    checks = {
        "run_rows": RUNS.format(control="control", latest="latest", run_filter=""),
        "liveness": LIVENESS.format(control="control", metrics="metric_points"),
        "latest": LATEST.format(metrics="metric_points"),
        "meta": f"SELECT * FROM control WHERE kind IN ({kinds})",
        "trace_events": f"SELECT * FROM control WHERE kind IN ({', '.join(repr(k) for k in TRACE_KINDS)})",
        **{table: sql.format(meta="meta", registry_filter="") for table, sql in REGISTRY.items()},
    }
    for table, sql in checks.items():
        differ = cur.execute(f"SELECT (SELECT count(*) FROM (SELECT * FROM {table} EXCEPT ALL SELECT * FROM ({sql}))) + "
                             f"(SELECT count(*) FROM (SELECT * FROM ({sql}) EXCEPT ALL SELECT * FROM {table}))").fetchall()
        if differ[0][0]:
            problems.append(f"the catalog's {table} table differs from its events in {differ[0][0]} row(s)")
    return problems


def rebuild_catalog(catalog: Catalog) -> Catalog:
    """Close `catalog`, delete its cache file and fold the whole log into a new one."""
    log: EventLog = catalog.log
    path = catalog.path
    catalog.close()
    if path != ":memory:":
        for name in (path, path + ".wal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
    fresh = Catalog(log, None if path == ":memory:" else path, persistent=path != ":memory:")
    fresh.refresh()
    return fresh


def _first_line(exc: Any) -> str:
    return str(exc).strip().splitlines()[0]
