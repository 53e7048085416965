"""`Catalog`: DuckDB read models folded from the log, kept in a persistent cache, incrementally.

The cache is a DuckDB file (inside a local store, ``<root>/_cache/catalog.duckdb``; for a remote
store, under ``~/.cache/tracklog/catalog``). It holds every event folded so far (``control``
and ``metric_points``), the latest metric values, a materialised ``runs`` table, and
``_files``: which segments are folded. `refresh` folds only new segments, in one transaction
with the row changes, so a crash leaves the cache as it was. Deleting the cache and replaying
gives the same answers.

If another process holds the cache file, the catalog works in memory and replays the log.

>>> from eventlog import EventLog
>>> from eventlog.events import RunStarted
>>> log = EventLog.open("memory://catalog-doctest")
>>> _ = log.append(RunStarted(run_id="r1", experiment_id="0", run_name="a"))
>>> log.log_metric("r1", "acc", 0.9, 1, 0)
>>> log.flush()
>>> Catalog(log).connect().sql("SELECT run_name, metrics['acc'] FROM runs").fetchall()
[('a', 0.9)]
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventlog import CorruptFileError, CorruptFileWarning, EventLog
from eventlog.codec import control_schema, metric_schema
from eventlog.log import local_cache, relisting
from projections.scope import Scope, narrow
from projections.views import EXPERIMENTS, LATEST, RUNS, VIEWS

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["Catalog", "as_of_ns", "catalog_path", "fetch_arrow"]

RUN_ENTITY_CACHE = 20_000  # Run entities kept between searches (dropped when a fold touches the run)
FOLD_BATCH_ROWS = 4_000_000  # metric points folded per transaction: bounds the memory of a first fold
SCHEMA_VERSION = "7"
_DUCK_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN"}


def as_of_ns(as_of: datetime | int | float | None) -> int | None:
    """A moment as ns since the epoch: a `datetime` (naive = UTC), or epoch ms as MLflow writes them."""
    if as_of is None:
        return None
    if isinstance(as_of, datetime):
        from datetime import UTC

        moment = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1e9)
    if isinstance(as_of, bool) or not isinstance(as_of, int | float):
        from eventlog import InvalidValueError

        raise InvalidValueError(f"as_of must be a datetime or epoch milliseconds, got {type(as_of).__name__} {as_of!r}")
    return int(as_of * 1_000_000)


def catalog_path(log: EventLog) -> str:
    return os.path.join(local_cache(log.store, "catalog", "_cache"), "catalog.duckdb")


def _columns(schema: pa.Schema) -> str:
    return ", ".join(f'"{f.name}" {_DUCK_TYPES[str(f.type)]}' for f in schema)


class Catalog:
    """DuckDB views over one event log: ``experiments``, ``runs``, ``metrics``, ``latest_metrics``,
    ``params``, ``tags``, ``inputs``, ``artifacts``, ``events``, ``param_conflicts``."""

    def __init__(self, log: EventLog, path: str | None = None, *, persistent: bool = True) -> None:
        import duckdb

        self.log = log
        self.run_entities: BoundedCache = BoundedCache(RUN_ENTITY_CACHE)  # run_id -> Run, see query.search
        in_memory_store = log.uri.startswith("memory://")  # nothing outlives the process anyway
        self.path = (path or catalog_path(log)) if persistent and not in_memory_store else ":memory:"
        self._lock = threading.RLock()
        self.problems: dict[str, str] = {}
        self.con = self._open(duckdb)
        self._create()

    def _open(self, duckdb: Any) -> duckdb.DuckDBPyConnection:
        if self.path != ":memory:":
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            try:
                con = duckdb.connect(self.path)
                version = _one(con, "SELECT value FROM _meta WHERE key = 'version'") if _has_meta(con) else None
                if version is None or version[0] != SCHEMA_VERSION or _stored_uri(con) != self.log.uri:
                    con.close()
                    os.unlink(self.path)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path + ".wal")
                    con = duckdb.connect(self.path)
                return con
            except duckdb.IOException:  # held by another process: replay in memory instead
                self.path = ":memory:"
        return duckdb.connect(":memory:")

    def _create(self) -> None:
        default_location = f"{self.log.artifact_root}/0"
        self.con.execute("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        self.con.execute("INSERT OR REPLACE INTO _meta VALUES ('version', ?), ('uri', ?), ('default_location', ?)",
                         [SCHEMA_VERSION, self.log.uri, default_location])
        self.con.execute("CREATE TABLE IF NOT EXISTS _files (path VARCHAR PRIMARY KEY, stream VARCHAR, rows BIGINT, error VARCHAR)")
        self.con.execute(f"CREATE TABLE IF NOT EXISTS control ({_columns(control_schema())})")
        self.con.execute(f"CREATE TABLE IF NOT EXISTS metric_points ({_columns(metric_schema())})")
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS latest (run_id VARCHAR, key VARCHAR, value DOUBLE, "
            "r STRUCT(step BIGINT, timestamp BIGINT, writer_seq BIGINT, writer_id VARCHAR), PRIMARY KEY (run_id, key))"
        )
        runs_columns = self.con.execute(
            f"DESCRIBE {RUNS.format(control='control', latest='latest', run_filter='')}"
        ).fetchall()
        self.con.execute(f"CREATE TABLE IF NOT EXISTS runs ({', '.join(f'{n} {t}' for n, t, *_ in runs_columns)})")
        self._create_views(self.con, control="control", metrics="metric_points", latest="latest", runs="runs")
        self.con.execute(
            "CREATE OR REPLACE VIEW experiments AS "
            + EXPERIMENTS.format(control="control", default_location="(SELECT value FROM _meta WHERE key = 'default_location')")
        )

    @staticmethod
    def _create_views(con: duckdb.DuckDBPyConnection, *, temp: bool = False, **sources: str) -> None:
        kind = "TEMP VIEW" if temp else "VIEW"
        for name, sql in VIEWS.items():
            con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql.format(**sources)}")

    # ---- folding ------------------------------------------------------------------------

    def refresh(self, attempts: int = 5) -> int:
        """Fold the segments not folded yet; returns how many files were folded.

        If compaction removes a listed file before it is read, nothing is folded and the
        listing starts again.
        """
        return relisting(self._refresh, attempts)

    def _refresh(self) -> int:
        with self._lock:
            folded = {row[0] for row in self.con.execute("SELECT path FROM _files").fetchall()}
            new = {s: [p for p in self.log.files(s) if p not in folded] for s in ("control", "metric")}  # type: ignore[arg-type]
            if not new["control"] and not new["metric"]:
                return 0
            skip, overlap = self._compaction_outputs(new, folded)
            control = self._read([p for p in new["control"] if p not in skip], "control")
            control += [(p, None, None) for p in new["control"] if p in skip]
            skipped: list[tuple[str, Any, str | None]] = [(p, None, None) for p in new["metric"] if p in skip]
            # metric files fold in batches of about FOLD_BATCH_ROWS points, each batch its own
            # transaction: memory stays bounded, and a crash keeps the batches already folded
            for i, metrics in enumerate(self._metric_batches([p for p in new["metric"] if p not in skip])):
                self.con.execute("BEGIN TRANSACTION")
                try:
                    self._fold(control if i == 0 else [], metrics + (skipped if i == 0 else []), dedupe=overlap)
                    self.con.execute("COMMIT")
                except BaseException:
                    self.con.execute("ROLLBACK")
                    raise
            return len(new["control"]) + len(new["metric"])

    def _metric_batches(self, paths: list[str]) -> Iterator[list[tuple[str, Any, str | None]]]:
        """The metric files read a batch at a time (at least one batch, maybe empty)."""
        batch: list[tuple[str, Any, str | None]] = []
        rows = 0
        for path in paths:
            batch += self._read([path], "metric")
            table = batch[-1][1]
            rows += table.num_rows if table is not None else 0
            if rows >= FOLD_BATCH_ROWS:
                yield batch
                batch, rows = [], 0
        if batch or not paths:
            yield batch

    def _compaction_outputs(self, new: dict[str, list[str]], folded: set[str]) -> tuple[set[str], bool]:
        """Outputs whose inputs were all folded already (skip them), and whether any output
        overlaps folded inputs only in part (then rows are de-duplicated as they are inserted)."""
        from eventlog.compaction import read_commits

        skip: set[str] = set()
        overlap = False
        for stream, paths in new.items():
            producer = {out: c for c in read_commits(self.log.store, stream) for out in c.produced}
            for path in paths:
                commit = producer.get(path)
                if commit is None:
                    continue
                seen = sum(p in folded for p in commit.consumed)
                if seen == len(commit.consumed):
                    skip.add(path)
                elif seen:
                    overlap = True
        return skip, overlap

    def _read(self, paths: list[str], stream: str) -> list[tuple[str, pa.Table | None, str | None]]:
        out: list[tuple[str, pa.Table | None, str | None]] = []
        for path in paths:
            try:
                out.append((path, self.log.read(path), None))
            except CorruptFileError as exc:
                warnings.warn(str(exc), CorruptFileWarning, stacklevel=3)
                self.problems[path] = str(exc)
                out.append((path, None, str(exc)))
        return out

    def _fold(self, control: list[tuple[str, Any, str | None]], metrics: list[tuple[str, Any, str | None]], *, dedupe: bool = False) -> None:
        con = self.con
        new_control = _concat([t for _, t, _ in control if t is not None], control_schema())
        new_metrics = _concat([t for _, t, _ in metrics if t is not None], metric_schema())
        con.register("_new_control", new_control)
        con.register("_new_metrics", new_metrics)
        try:
            if dedupe:  # some rows were folded before, from segments a compaction since merged
                for table, new in (("control", "_new_control"), ("metric_points", "_new_metrics")):
                    con.execute(f"CREATE OR REPLACE TEMP TABLE _dedupe AS SELECT n.* FROM {new} n ANTI JOIN {table} o "
                                "ON o.writer_id = n.writer_id AND o.writer_seq = n.writer_seq")
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _dedupe")
            else:
                con.execute("INSERT INTO control BY NAME SELECT * FROM _new_control")
                con.execute("INSERT INTO metric_points BY NAME SELECT * FROM _new_metrics")
            con.execute(
                "INSERT INTO latest BY NAME " + LATEST.format(metrics="_new_metrics")
                + " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, r = excluded.r"
                " WHERE excluded.r > latest.r"
            )
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT run_id FROM _new_control WHERE run_id IS NOT NULL "
                "UNION SELECT DISTINCT run_id FROM _new_metrics"
            )
            con.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM _touched)")
            if self.run_entities:  # entities of runs this fold changes are built again on next use
                for (run_id,) in con.execute("SELECT run_id FROM _touched").fetchall():
                    self.run_entities.pop(run_id, None)
            con.execute("INSERT INTO runs BY NAME " + RUNS.format(
                control="control", latest="latest", run_filter="AND run_id IN (SELECT run_id FROM _touched)"
            ))
        finally:
            con.unregister("_new_control")
            con.unregister("_new_metrics")
        rows = [(p, "control", t.num_rows if t is not None else 0, e) for p, t, e in control]
        rows += [(p, "metric", t.num_rows if t is not None else 0, e) for p, t, e in metrics]
        con.executemany("INSERT OR REPLACE INTO _files VALUES (?, ?, ?, ?)", rows)

    # ---- reading ------------------------------------------------------------------------

    def connect(self, as_of: datetime | int | float | None = None, *, refresh: bool = True,
                scope: Scope | None = None) -> duckdb.DuckDBPyConnection:
        """A cursor with every view; with `as_of`, the views show the log as it was at that moment;
        with `scope`, only the rows of the experiments and models it names (`projections.scope`)."""
        if refresh:
            self.refresh()
        cur = self.con.cursor()
        moment = as_of_ns(as_of)
        if moment is not None or (scope is not None and not scope.everything):
            narrow(cur, moment=moment, scope=scope)
        return cur

    def close(self) -> None:
        self.con.close()


class BoundedCache(dict):  # type: ignore[type-arg]
    """A dict that forgets its oldest entries beyond `limit` (insertion order)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > self.limit:
            try:
                del self[next(iter(self))]
            except (StopIteration, RuntimeError, KeyError):  # another thread got there first
                break


def fetch_arrow(cur: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> pa.Table:
    """A query's rows as one Arrow table, without the extra copy of a DB-API result."""
    relation = cur.sql(query, params=params)
    method = getattr(relation, "to_arrow_table", None) or relation.arrow
    return method()


def _concat(tables: list[Any], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    if not tables:
        return schema.empty_table()
    unified = [t.select([n for n in schema.names if n in t.column_names]) for t in tables]
    return pa.concat_tables(unified, promote_options="default")


def _one(con: Any, query: str) -> tuple[Any, ...] | None:
    """The first row of a query, reading the result to its end (DuckDB wants results finished)."""
    rows = con.execute(query).fetchall()
    return rows[0] if rows else None


def _has_meta(con: Any) -> bool:
    return bool(_one(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_meta'")[0])  # type: ignore[index]


def _stored_uri(con: Any) -> str | None:
    row = _one(con, "SELECT value FROM _meta WHERE key = 'uri'")
    return None if row is None else row[0]

