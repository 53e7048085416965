"""`Catalog`: the one read model — DuckDB tables folded from the log, persisted, incrementally.

Every read of tracklog (the Python API, the REST server, the UI's endpoints, SQL) is a query on
a catalog. It is a DuckDB file (inside a local store, ``<root>/_cache/catalog.duckdb``; for a
remote store, under ``~/.cache/tracklog/catalog``) holding every event folded so far
(``control``, its small sibling ``meta`` and ``metric_points``), the latest metric values
(``latest``), one materialised row per run (``run_rows``, read through the view ``runs``,
which applies the time-dependent status of crashed runs at query time), each run's last signs
of life (``liveness``: heartbeats and metric points), the model registry's models, versions and
aliases (``registered_model_rows``, ``model_version_rows``, ``model_alias_rows``, read through
the views ``registered_models``, ``model_versions``, ``model_aliases``) and ``_files``: which
segments are folded. The SQL of the read models — and so every conflict rule — is `projections.views`.

Folding is incremental and idempotent, and costs what is new, not what is old:

- `refresh` lists the store and folds the segments it has not folded, in one transaction with
  the row changes (a crash leaves the cache as it was); the ``run_rows`` of the runs those
  events touch are rebuilt, the rest are left alone; a heartbeat only moves its run's
  ``liveness`` (a few rows upserted), never rebuilds a run; a registry event rebuilds the
  registry rows of its registered model only, in the same transaction;
- `fold_own` folds this process's own published segments from memory, without listing the
  store or reading a file: what a process writes, it reads at once (`sync` publishes the
  process's pending events first, then folds them — a thin overlay is never needed);
- an exact duplicate of a metric point (same run, key, step, timestamp and value — a client
  retrying a request whose answer was lost) is folded once, as MLflow's stores keep it once.

Deleting the cache and replaying the log gives the same answers. Several processes may read one
store: the first takes ``catalog.duckdb``, others the next free slot (``catalog-1.duckdb``…, up
to ``TRACKLOG_CATALOG_SLOTS``, default 4), each kept up to date incrementally; beyond that a
process folds in memory.

>>> from eventlog import EventLog
>>> from eventlog.events import RunStarted
>>> log = EventLog.open("memory://catalog-doctest")
>>> _ = log.append(RunStarted(run_id="r1", experiment_id="0", run_name="a"))
>>> log.log_metric("r1", "acc", 0.9, 1, 0)
>>> catalog = Catalog(log)
>>> catalog.sync()
>>> catalog.connect(refresh=False).sql("SELECT run_name, metrics['acc'] FROM runs").fetchall()
[('a', 0.9)]
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventlog import (
    CorruptFileError,
    CorruptFileWarning,
    EventLog,
    InvalidValueError,
    StorageError,
    TracklogError,
)
from eventlog.codec import control_schema, control_table, metric_schema
from eventlog.compaction import read_commits
from eventlog.log import local_cache, relisting
from projections.scope import Scope, narrow
from projections.views import (
    EXPERIMENTS,
    LATEST,
    LIVENESS,
    LOGGED_MODELS,
    META_KINDS,
    NOT_RUN_STALE,
    REGISTRY,
    RUNS,
    RUNS_LIVE,
    TRACE_KINDS,
    VIEWS,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from eventlog.writer import Batch, Writer

__all__ = ["BoundedCache", "Catalog", "as_of_ns", "catalog_path", "fetch_arrow", "heartbeat_timeout"]

RUN_ENTITY_CACHE = 20_000  # Run entities kept between reads (dropped when a fold touches the run)
FOLD_BATCH_ROWS = 1_000_000  # events (of a stream) folded per transaction: bounds the memory of a first fold
IN_LIST_LIMIT = 512  # touched runs given as a constant list (DuckDB prunes row groups with it)
RUNS_PER_STATEMENT = 100_000  # runs rebuilt per statement: bounds the memory of a first fold
SCHEMA_VERSION = "14"  # 10: dataset input tags; 11: trace events (columns of the control table); 12: overrides; 13: trace_events; 14: registry tables
DEFAULT_HEARTBEAT_TIMEOUT = 120.0  # seconds without a sign of life before a heartbeating run reads KILLED
_DUCK_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN"}
_Read = tuple[str, Any, str | None]  # (path, table or None, error or None)


def as_of_ns(as_of: datetime | int | float | None) -> int | None:
    """A moment as ns since the epoch: a `datetime` (naive = UTC), or epoch ms as MLflow writes them."""
    if as_of is None:
        return None
    if isinstance(as_of, datetime):
        moment = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1e9)
    if isinstance(as_of, bool) or not isinstance(as_of, int | float):
        raise InvalidValueError(f"as_of must be a datetime or epoch milliseconds, got {type(as_of).__name__} {as_of!r}")
    return int(as_of * 1_000_000)


def catalog_path(log: EventLog, slot: int = 0) -> str:
    name = "catalog.duckdb" if slot == 0 else f"catalog-{slot}.duckdb"
    return os.path.join(local_cache(log.store, "catalog", "_cache"), name)


def heartbeat_timeout() -> float:
    """Seconds without a sign of life after which a RUNNING run that sends heartbeats reads
    KILLED: ``TRACKLOG_HEARTBEAT_TIMEOUT`` (default 120). Its processes send heartbeats every
    quarter of it."""
    raw = os.environ.get("TRACKLOG_HEARTBEAT_TIMEOUT")
    if raw is None or raw == "":
        return DEFAULT_HEARTBEAT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 1:  # also NaN
        raise InvalidValueError(f"TRACKLOG_HEARTBEAT_TIMEOUT must be a number of seconds >= 1, got {raw!r}")
    return value


def _slots() -> int:
    try:
        return max(1, int(os.environ.get("TRACKLOG_CATALOG_SLOTS", "4")))
    except ValueError:
        raise InvalidValueError(
            f"TRACKLOG_CATALOG_SLOTS must be a positive integer, got {os.environ['TRACKLOG_CATALOG_SLOTS']!r}") from None


def _config() -> dict[str, Any]:
    """DuckDB settings of a catalog: a memory limit (``TRACKLOG_CATALOG_MEMORY``, default 1GB),
    beyond which a fold spills to disk rather than growing the process; rows need not keep
    their insertion order (every read sorts), which lets DuckDB stream more and hold less."""
    return {"memory_limit": os.environ.get("TRACKLOG_CATALOG_MEMORY", "1GB"), "preserve_insertion_order": False}


def _columns(schema: pa.Schema) -> str:
    return ", ".join(f'"{f.name}" {_DUCK_TYPES[str(f.type)]}' for f in schema)


class Catalog:
    """The read model of one event log (see the module docstring for its tables and views)."""

    def __init__(self, log: EventLog, path: str | None = None, *, persistent: bool = True) -> None:
        self.log = log
        self.run_entities: BoundedCache = BoundedCache(RUN_ENTITY_CACHE)  # run_id -> Run, see projections.read
        # a read's fixed costs, kept off DuckDB: the paths `_files` was seen to hold (rows are never
        # removed from it), and whether `_stale` may hold runs (a crash may have left some)
        self._known_folded: set[str] = set()
        self._may_be_stale = True
        self.problems: dict[str, str] = {}  # path -> why it was skipped
        self._lock = threading.RLock()
        self._own: dict[str, tuple[str, Batch]] = {}  # own segments published, not folded yet
        self._own_lock = threading.Lock()
        self.listed_at = 0.0  # time.monotonic() of the last listing of the store
        self._offline_warned = False
        in_memory_store = log.uri.startswith("memory://")  # nothing outlives the process anyway
        persistent = persistent and not in_memory_store
        self.path, self.con = self._open(path if persistent else ":memory:")
        log.writer.on_publish.append(self._published)

    # ---- opening ------------------------------------------------------------------------

    def _open(self, path: str | None) -> tuple[str, duckdb.DuckDBPyConnection]:
        import duckdb  # heavy: loaded with the first catalog, not with tracklog

        if path == ":memory:":
            return path, self._create(duckdb.connect(":memory:", config=_config()))
        candidates = [path] if path else [catalog_path(self.log, slot) for slot in range(_slots())]
        for candidate in candidates:
            os.makedirs(os.path.dirname(candidate), exist_ok=True)
            try:
                con = self._connect_file(candidate)
            except duckdb.IOException:  # held by another process: try the next slot
                continue
            try:
                return candidate, self._create(con)
            except (duckdb.IOException, duckdb.TransactionException):  # its WAL is another process's
                con.close()
                continue
        warnings.warn(f"tracklog: every catalog slot of {self.log.uri} is held by another process "
                      f"({len(candidates)} slots; raise TRACKLOG_CATALOG_SLOTS); this process folds the log in memory",
                      stacklevel=4)
        return ":memory:", self._create(duckdb.connect(":memory:", config=_config()))

    def _connect_file(self, path: str) -> duckdb.DuckDBPyConnection:
        import duckdb

        con = duckdb.connect(path, config=_config())
        if not _has_meta(con):  # a new file (or one another process is creating): `_create` fills it
            return con
        if _meta(con, "version") == SCHEMA_VERSION and _meta(con, "uri") == self.log.uri:
            return con
        con.close()  # another version, or another store's: start again
        for suffix in ("", ".wal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + suffix)
        return duckdb.connect(path, config=_config())

    def _create(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """Create the tables and views a catalog needs in `con` (kept if there); returns `con`."""
        con.execute("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT OR REPLACE INTO _meta VALUES ('version', ?), ('uri', ?), ('default_location', ?)",
                    [SCHEMA_VERSION, self.log.uri, f"{self.log.artifact_root}/0"])
        con.execute("CREATE TABLE IF NOT EXISTS _files (path VARCHAR PRIMARY KEY, stream VARCHAR, rows BIGINT, error VARCHAR)")
        con.execute(f"CREATE TABLE IF NOT EXISTS control ({_columns(control_schema())})")
        con.execute(f"CREATE TABLE IF NOT EXISTS meta ({_columns(control_schema())})")
        con.execute(f"CREATE TABLE IF NOT EXISTS trace_events ({_columns(control_schema())})")
        con.execute(f"CREATE TABLE IF NOT EXISTS metric_points ({_columns(metric_schema())})")
        con.execute(
            "CREATE TABLE IF NOT EXISTS latest (run_id VARCHAR, key VARCHAR, value DOUBLE, "
            "r STRUCT(step BIGINT, timestamp BIGINT, writer_seq BIGINT, writer_id VARCHAR), PRIMARY KEY (run_id, key))"
        )
        columns = con.execute(f"DESCRIBE {RUNS.format(control='control', latest='latest', run_filter='')}").fetchall()
        con.execute(f"CREATE TABLE IF NOT EXISTS run_rows ({', '.join(f'{n} {t}' for n, t, *_ in columns)})")
        con.execute("CREATE TABLE IF NOT EXISTS liveness (run_id VARCHAR PRIMARY KEY, heartbeat_ts BIGINT, seen_ts BIGINT)")
        con.execute("CREATE TABLE IF NOT EXISTS _stale (run_id VARCHAR)")  # runs whose row awaits a rebuild
        for table, sql in REGISTRY.items():
            columns = con.execute(f"DESCRIBE {sql.format(meta='meta', registry_filter='')}").fetchall()
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{n} {t}' for n, t, *_ in columns)})")
        self._create_views(con, control="control", meta="meta", trace_events="trace_events", metrics="metric_points",
                           latest="latest",
                           run_rows="run_rows", liveness="liveness", now_ns="epoch_us(get_current_timestamp()) * 1000",
                           **dict[str, Any]({table: table for table in REGISTRY}),  # Any: none is `temp`
                           default_location="(SELECT value FROM _meta WHERE key = 'default_location')")
        self.problems.update(dict(con.execute("SELECT path, error FROM _files WHERE error IS NOT NULL").fetchall()))
        return con

    @staticmethod
    def _create_views(con: duckdb.DuckDBPyConnection, *, temp: bool = False, **sources: str) -> None:
        kind = "TEMP VIEW" if temp else "VIEW"
        timeout_ns = int(heartbeat_timeout() * 1e9)
        con.execute(f"CREATE OR REPLACE {kind} runs AS " + RUNS_LIVE.format(
            run_rows=sources["run_rows"], liveness=sources["liveness"], now_ns=sources["now_ns"], timeout_ns=timeout_ns))
        sources = {**sources, "runs": "temp.runs" if temp else "runs"}
        con.execute(f"CREATE OR REPLACE {kind} experiments AS "
                    + EXPERIMENTS.format(meta=sources["meta"], default_location=sources["default_location"]))
        sources = {**sources, "logged_models": LOGGED_MODELS.format(meta=sources["meta"])}
        for name, sql in VIEWS.items():
            con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql.format(**sources)}")

    # ---- folding ------------------------------------------------------------------------

    def _published(self, stream: str, path: str, batch: Batch) -> None:
        """The writer published one of this process's segments: fold it from memory later."""
        with self._own_lock:
            self._own[path] = (stream, batch)

    def sync(self, max_age: float | None = 0.0) -> None:
        """Make reads current: publish this process's pending events and fold them from memory;
        list the store for other writers' segments too if the last listing is older than
        `max_age` seconds (0: always; None: never).

        A store that does not answer (the writer is offline, or a publish takes longer than its
        `publish_wait`) is not waited for: this process's unpublished events are folded ahead
        under the names they will be published as (so publishing them later folds nothing
        twice), and the rest reads as last folded.
        """
        writer = self.log.writer
        if writer.offline or not self._publish_pending(writer):
            self._fold_ahead(writer)
            return
        self._offline_warned = False
        try:
            if max_age is not None and time.monotonic() - self.listed_at >= max_age:
                self.refresh()
            else:
                self.fold_own()
        except Exception as exc:
            # the listing failed: a process that logs reads on without the store (it retries
            # in the background); one that only reads gets the error
            if not writer.appended or (isinstance(exc, TracklogError) and type(exc) is not StorageError):
                raise
            writer.unreachable(exc)
            self._fold_ahead(writer)

    def _publish_pending(self, writer: Writer) -> bool:
        if self.log.store.local_root is not None:  # a local folder does not hang: publish here
            writer.flush()  # cheap when nothing is pending; waits for a publish in progress (and its hooks)
            return True
        return writer.drain(writer.publish_wait)

    def _fold_ahead(self, writer: Writer) -> None:
        if not self._offline_warned:  # once per outage
            self._offline_warned = True
            logging.getLogger("tracklog.catalog").warning(
                "tracklog: %s does not answer; reads show what this machine folded from it before, plus this "
                "process's own events", self.log.uri)
        for stream, path, batch in writer.unpublished():
            self._published(stream, path, batch)
        self.fold_own()
        writer.poke()

    def fold_own(self) -> int:
        """Fold this process's published segments from memory (no listing, no reading)."""
        with self._lock:  # after a fold in progress elsewhere: what it took is committed when this returns
            with self._own_lock:
                own, self._own = self._own, {}
            if not own:
                return 0
            folded = self._folded(list(own))
            control: list[_Read] = [(p, control_table(b.control), None) for p, (s, b) in own.items()
                                    if s == "control" and p not in folded]
            metrics: list[_Read] = [(p, b.metric_table(), None) for p, (s, b) in own.items()
                                    if s == "metric" and p not in folded]
            if control or metrics:
                self._transaction(control, metrics)
                self._rebuild_stale()
            return len(control) + len(metrics)

    def refresh(self, attempts: int = 5) -> int:
        """Fold the segments not folded yet (listing the store); returns how many files were folded.

        If compaction removes a listed file before it is read, nothing is folded and the
        listing starts again.
        """
        return relisting(self._refresh, attempts)

    def _refresh(self) -> int:
        with self._lock:
            listed_at = time.monotonic()
            listing = {s: self.log.files(s) for s in ("control", "metric")}  # type: ignore[arg-type]
            folded = self._folded([p for paths in listing.values() for p in paths])
            new = {s: [p for p in paths if p not in folded] for s, paths in listing.items()}
            self.listed_at = listed_at
            with self._own_lock:  # own segments among them are read from memory
                own = {p: self._own.pop(p) for p in [*new["control"], *new["metric"]] if p in self._own}
            if new["control"] or new["metric"]:
                skip, overlap = self._compaction_outputs(new, folded)
                skipped: list[_Read] = [(p, None, None) for stream in new.values() for p in stream if p in skip]
                # files fold in batches of about FOLD_BATCH_ROWS events, each batch its own
                # transaction: memory stays bounded, and a crash keeps the batches already folded
                batches: Iterator[tuple[list[_Read], list[_Read]]] = itertools.zip_longest(
                    self._batches([p for p in new["control"] if p not in skip], "control", own),
                    self._batches([p for p in new["metric"] if p not in skip], "metric", own), fillvalue=[])
                for i, (control, metrics) in enumerate(batches):
                    self._transaction(control, metrics + (skipped if i == 0 else []), dedupe=overlap)
            self._rebuild_stale()
            return len(new["control"]) + len(new["metric"])

    def _folded(self, paths: list[str]) -> set[str]:
        known = self._known_folded
        unknown = [p for p in paths if p not in known]
        if unknown:
            rows = self.con.execute("SELECT path FROM _files WHERE path IN (SELECT unnest($p))", {"p": unknown}).fetchall()
            known.update(p for (p,) in rows)
        return {p for p in paths if p in known}

    def _from_memory(self, path: str, own: dict[str, tuple[str, Batch]]) -> _Read | None:
        held = own.get(path)
        if held is None:
            return None
        stream, batch = held
        table = control_table(batch.control) if stream == "control" else batch.metric_table()
        return (path, table, None)

    def _batches(self, paths: list[str], stream: str, own: dict[str, tuple[str, Batch]]) -> Iterator[list[_Read]]:
        """The files of a stream read a batch of about FOLD_BATCH_ROWS rows at a time."""
        batch: list[_Read] = []
        rows = 0
        for path in paths:
            read = self._from_memory(path, own) or self._read(path, stream)
            batch.append(read)
            rows += read[1].num_rows if read[1] is not None else 0
            if rows >= FOLD_BATCH_ROWS:
                yield batch
                batch, rows = [], 0
        if batch:
            yield batch

    def _compaction_outputs(self, new: dict[str, list[str]], folded: set[str]) -> tuple[set[str], bool]:
        """Outputs whose inputs were all folded already (skip them), and whether any output
        overlaps folded inputs only in part (then rows are de-duplicated as they are inserted)."""
        skip: set[str] = set()
        overlap = False
        for stream, paths in new.items():
            commits = read_commits(self.log.store, stream) if paths else []
            producer = {out: c for c in commits for out in c.produced}
            consumed = [p for c in commits for p in c.consumed]
            seen_inputs = self._folded(consumed) | (folded & set(consumed))
            for path in paths:
                commit = producer.get(path)
                if commit is None:
                    continue
                seen = sum(p in seen_inputs for p in commit.consumed)
                if seen == len(commit.consumed):
                    skip.add(path)
                elif seen:
                    overlap = True
        return skip, overlap

    def _read(self, path: str, stream: str) -> _Read:
        try:
            return (path, self.log.read(path), None)
        except CorruptFileError as exc:
            warnings.warn(str(exc), CorruptFileWarning, stacklevel=4)
            self.problems[path] = str(exc)
            return (path, None, str(exc))

    def _transaction(self, control: list[_Read], metrics: list[_Read], *, dedupe: bool = False) -> None:
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._fold(control, metrics, dedupe=dedupe)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def _fold(self, control: list[_Read], metrics: list[_Read], *, dedupe: bool = False) -> None:
        con = self.con
        new_control = _concat([t for _, t, _ in control if t is not None], control_schema())
        new_metrics = _concat([t for _, t, _ in metrics if t is not None], metric_schema())
        con.register("_new_control", new_control)
        con.register("_new_metrics", new_metrics)
        try:
            if dedupe:  # some rows were folded before, from segments a compaction since merged
                for table, new in (("control", "_new_control"), ("metric_points", "_new_metrics")):
                    con.execute(f"CREATE OR REPLACE TEMP TABLE _dedupe_{table} AS SELECT n.* FROM {new} n ANTI JOIN {table} o "
                                "ON o.writer_id = n.writer_id AND o.writer_seq = n.writer_seq")
                source_control, source_metrics = "_dedupe_control", "_dedupe_metric_points"
            else:
                source_control, source_metrics = "_new_control", "_new_metrics"
            if new_control.num_rows:
                con.execute(f"INSERT INTO control BY NAME SELECT * FROM {source_control}")
                con.execute(f"INSERT INTO meta BY NAME SELECT * FROM {source_control} WHERE kind IN (SELECT unnest($k))",
                            {"k": list(META_KINDS)})
                con.execute(f"INSERT INTO trace_events BY NAME SELECT * FROM {source_control} WHERE kind IN (SELECT unnest($k))",
                            {"k": list(TRACE_KINDS)})
                if new_control.column("registered_model_id").null_count < new_control.num_rows:
                    self._fold_registry(source_control)
            if new_metrics.num_rows:
                self._fold_points(source_metrics)
            if new_control.num_rows or new_metrics.num_rows:  # signs of life: max() is idempotent, no dedupe
                con.execute("INSERT INTO liveness BY NAME " + LIVENESS.format(control="_new_control", metrics="_new_metrics")
                            + " ON CONFLICT (run_id) DO UPDATE SET heartbeat_ts = greatest(liveness.heartbeat_ts, "
                            "excluded.heartbeat_ts), seen_ts = greatest(liveness.seen_ts, excluded.seen_ts)")
            # the runs these events touch are rebuilt after the batches (`_rebuild_stale`); noted in
            # the same transaction, so a crash in between leaves them to the next refresh. Heartbeats
            # change no run's row: `liveness` holds them.
            parts = (["SELECT run_id FROM _new_control WHERE run_id IS NOT NULL AND kind NOT IN (SELECT unnest($quiet))"]
                     if new_control.num_rows else []) + (["SELECT run_id FROM _new_metrics"] if new_metrics.num_rows else [])
            if parts:
                self._may_be_stale = True
                con.execute(f"INSERT INTO _stale SELECT DISTINCT run_id FROM ({' UNION ALL '.join(parts)})",
                            {"quiet": list(NOT_RUN_STALE)} if new_control.num_rows else None)
        finally:
            with contextlib.suppress(Exception):  # an aborted transaction: the error that aborted it goes up
                con.unregister("_new_control")
                con.unregister("_new_metrics")
        rows = [(p, "control", t.num_rows if t is not None else 0, e) for p, t, e in control]
        rows += [(p, "metric", t.num_rows if t is not None else 0, e) for p, t, e in metrics]
        con.executemany("INSERT OR REPLACE INTO _files VALUES (?, ?, ?, ?)", rows)

    def _fold_registry(self, source: str) -> None:
        """Rebuild the registry tables' rows of the registered models `source`'s events touch, from
        ``meta`` (which holds them already): a registry read is then a lookup, not a fold of every
        registry event, and it is current in the same transaction as the events."""
        con = self.con
        con.execute("CREATE OR REPLACE TEMP TABLE _registry_touched AS SELECT DISTINCT registered_model_id "
                    f"FROM {source} WHERE registered_model_id IS NOT NULL")
        touched = "registered_model_id IN (SELECT registered_model_id FROM _registry_touched)"
        for table, sql in REGISTRY.items():
            con.execute(f"DELETE FROM {table} WHERE {touched}")
            con.execute(f"INSERT INTO {table} BY NAME " + sql.format(meta="meta", registry_filter=f"AND {touched}"))

    def _fold_points(self, source: str) -> None:
        """New metric points into ``metric_points`` and ``latest``, each exact point once."""
        con = self.con
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _points AS SELECT * FROM {source} "
            "QUALIFY row_number() OVER (PARTITION BY run_id, key, step, timestamp, value ORDER BY ts, writer_id, writer_seq) = 1"
        )
        # only a point at or before its key's latest (step, timestamp) can repeat one folded before:
        # usually none, so the common fold never scans metric_points
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _candidates AS SELECT p.run_id, p.key, p.step, p.timestamp, p.value "
            "FROM _points p JOIN latest l USING (run_id, key) "
            "WHERE (p.step, p.timestamp) <= (l.r.step, l.r.timestamp)"
        )
        runs = [r for (r,) in con.execute("SELECT DISTINCT run_id FROM _candidates").fetchall()]
        if runs:
            con.execute(
                f"DELETE FROM _points p WHERE EXISTS (SELECT 1 FROM _candidates c JOIN metric_points o "
                f"ON o.run_id = c.run_id AND o.key = c.key AND o.step = c.step AND o.timestamp = c.timestamp "
                f"AND o.value = c.value WHERE o.run_id IN ({', '.join('?' * len(runs))}) AND c.run_id = p.run_id "
                f"AND c.key = p.key AND c.step = p.step AND c.timestamp = p.timestamp AND c.value = p.value)",
                runs,
            )
        # in history order: a metric's points come back from a scan in the order they are read in
        con.execute("INSERT INTO metric_points BY NAME SELECT * FROM _points ORDER BY run_id, key, step, timestamp, writer_seq")
        con.execute(
            "INSERT INTO latest BY NAME " + LATEST.format(metrics="_points")
            + " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, r = excluded.r"
            " WHERE excluded.r > latest.r"
        )

    def _rebuild_stale(self) -> None:
        """Build the ``runs`` rows of the runs folded events touched again, from their events: in
        one statement for a few runs, in chunks of RUNS_PER_STATEMENT for many (a first fold), each
        chunk its own transaction (memory stays bounded; a crash keeps the chunks done)."""
        if not self._may_be_stale:
            return
        con = self.con
        stale = [r for (r,) in con.execute("SELECT DISTINCT run_id FROM _stale").fetchall()]
        if not stale:
            self._may_be_stale = False
            return
        if len(stale) <= IN_LIST_LIMIT:  # a constant list: DuckDB skips row groups that cannot hold them
            self._rebuild(f"({', '.join('?' * len(stale))})", stale)
        else:
            chunks = -(-len(stale) // RUNS_PER_STATEMENT)
            con.execute("CREATE OR REPLACE TEMP TABLE _chunk AS SELECT run_id, hash(run_id) % ? AS chunk "
                        "FROM (SELECT DISTINCT run_id FROM _stale)", [chunks])
            for chunk in range(chunks):
                self._rebuild(f"(SELECT run_id FROM _chunk WHERE chunk = {chunk})", [])
        for run_id in stale:  # entities of runs a fold changed are built again on next use
            self.run_entities.pop(run_id, None)
        self._may_be_stale = False

    def _rebuild(self, ids: str, args: list[Any]) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM run_rows WHERE run_id IN {ids}", args)
            con.execute("INSERT INTO run_rows BY NAME " + RUNS.format(control="control", latest="latest",
                                                                       run_filter=f"AND run_id IN {ids}"), args * 2)
            con.execute(f"DELETE FROM _stale WHERE run_id IN {ids}", args)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # ---- reading ------------------------------------------------------------------------

    def connect(self, as_of: datetime | int | float | None = None, *, refresh: bool = True,
                scope: Scope | None = None) -> duckdb.DuckDBPyConnection:
        """A cursor with every view; with `as_of`, the views show the log as it was at that moment;
        with `scope`, only the rows of the experiments and models it names (`projections.scope`)."""
        if refresh:
            self.sync()
        cur = self.con.cursor()
        moment = as_of_ns(as_of)
        if moment is not None or (scope is not None and not scope.everything):
            narrow(cur, self._create_views, moment=moment, scope=scope)
        return cur

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.log.writer.on_publish.remove(self._published)
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
    unified = [_plain(t.select([n for n in schema.names if n in t.column_names])) for t in tables]
    return pa.concat_tables(unified, promote_options="default")


def _plain(table: Any) -> Any:
    """`table` with dictionary-encoded columns decoded: a segment written by another tool (or by
    `tracklog sync`, which keeps Parquet's dictionaries) folds beside plain ones."""
    import pyarrow as pa

    fields = [pa.field(f.name, f.type.value_type, f.nullable) if pa.types.is_dictionary(f.type) else f
              for f in table.schema]
    return table.cast(pa.schema(fields)) if any(pa.types.is_dictionary(f.type) for f in table.schema) else table


def _has_meta(con: Any) -> bool:
    rows = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_meta'").fetchall()
    return bool(rows[0][0])


def _meta(con: Any, key: str) -> str | None:
    rows = con.execute("SELECT value FROM _meta WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None
