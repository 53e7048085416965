"""SQL from untrusted callers, run in a throwaway DuckDB that holds only the views it reads.

The server passes its users' SQL here. Each query gets its own in-memory DuckDB database:

1. the statement must be one ``SELECT`` (``WITH``, ``VALUES``, ``DESCRIBE``, ``SUMMARIZE``,
   ``SHOW``…: DuckDB's SELECT type) — checked by DuckDB's own parser;
2. the views it names are copied in from the reader's catalog cursor (already narrowed to what
   the caller may see, see `projections.scope`), streamed in Arrow batches, with the server's
   filesystem paths in artifact columns replaced (`Sandbox.hide`);
3. then DuckDB's own switches close the database: ``enable_external_access = false`` (no file,
   network, ``ATTACH``, ``COPY``, ``INSTALL``/``LOAD``, replacement scans of paths or URLs),
   extension auto-install and auto-load off, Python replacement scans off, a memory limit, no
   temporary files unless allowed (then in a private folder, capped) and
   ``lock_configuration = true`` (no ``SET``/``PRAGMA`` can undo any of it);
4. the query runs with a time limit and its rows stream out until `limit` + 1: a result is
   never materialised whole, whatever it would hold.

The database holds no path of the store (it was never opened on a file), so no function,
setting or error message can show one; it is closed after the query, so nothing a query does
outlives it. Nothing here is a list of forbidden words.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventlog.errors import (
    InvalidInputError,
    SqlResourceError,  # the one error tree
)
from projections.views import VIEW_NAMES
from query.sql import SqlError, SqlResult, deadline, one_statement

if TYPE_CHECKING:
    import duckdb

__all__ = ["PATH_COLUMNS", "Sandbox", "SqlResourceError"]

PATH_COLUMNS = ("artifact_uri", "artifact_location", "source")  # where the views hold store paths
_BATCH_ROWS = 8192


@dataclass(frozen=True)
class Sandbox:
    """How untrusted SQL runs: its limits and what it must not show.

    Args:
        memory_limit: bytes DuckDB may use for one query (copies of the views included).
        temp_limit: bytes of temporary files a query may spill (0: none, no folder at all).
        threads: DuckDB threads per query.
        timeout: seconds a query may run (None: no limit).
        hide: ``(prefix, replacement)`` pairs applied to the path columns of every view, longest
            prefix first (the server shows ``mlflow-artifacts:/…`` for its own folders).
    """

    memory_limit: int = 256 << 20
    temp_limit: int = 0
    threads: int = 1
    timeout: float | None = 30.0
    hide: Sequence[tuple[str, str]] = ()

    def run(self, source: duckdb.DuckDBPyConnection, query: str, limit: int) -> SqlResult:
        """The first `limit` rows of `query` over the views of `source` (a catalog cursor);
        ``truncated`` says whether there were more.

        Raises:
            SqlError: the SQL is not one SELECT, does not parse, or fails (DuckDB's message).
            SqlResourceError: it needs more memory than `memory_limit`.
            QueryTimeoutError: it ran longer than `timeout`.
        """
        import duckdb

        if limit < 1:
            raise InvalidInputError(f"limit must be a positive number of rows, got {limit}")
        with self._database() as db:
            try:
                with deadline(self.timeout, source, db):
                    kind = one_statement(db, query)
                    if kind != "SELECT":
                        raise SqlError(f"SQL here is read-only: a {kind} statement is not allowed (only SELECT queries)")
                    for view in sorted(_views_read(db, query)):
                        self._copy(source, db, view)
                    db.execute("SET enable_external_access = false")
                    db.execute("SET lock_configuration = true")
                    return _first_rows(db, query, limit)
            except duckdb.OutOfMemoryException as exc:
                raise SqlResourceError(
                    f"the query needs more memory than this server allows SQL ({self.memory_limit >> 20} MB): "
                    "select fewer columns or rows, or aggregate") from exc
            except duckdb.Error as exc:
                raise SqlError(f"SQL failed: {_first_line(exc)}") from exc

    @contextmanager
    def _database(self) -> Iterator[duckdb.DuckDBPyConnection]:
        import duckdb

        folder = tempfile.mkdtemp(prefix="tracklog-sql-") if self.temp_limit > 0 else ""
        config: dict[str, str | bool | int | float | list[str]] = {
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
            "python_enable_replacements": False, "memory_limit": f"{self.memory_limit}B",
            "threads": self.threads, "temp_directory": folder,
            "max_temp_directory_size": f"{self.temp_limit}B" if folder else "0B",
        }
        db = duckdb.connect(":memory:", config=config)
        try:
            yield db
        finally:
            db.close()
            if folder:
                shutil.rmtree(folder, ignore_errors=True)

    def _copy(self, source: duckdb.DuckDBPyConnection, db: duckdb.DuckDBPyConnection, view: str) -> None:
        """`view` of `source` as a table of `db`, streamed, its path columns rewritten."""
        columns = {name: kind for name, kind, *_ in source.execute(f'DESCRIBE "{view}"').fetchall()}
        replace, params = [], []
        for column in PATH_COLUMNS:
            if columns.get(column) != "VARCHAR" or not self.hide:
                continue
            expr = f'"{column}"'
            for prefix, replacement in sorted(self.hide, key=lambda p: -len(p[0])):
                expr = f'CASE WHEN starts_with("{column}", ?) THEN ? || substr("{column}", ?) ELSE {expr} END'
                params += [prefix, replacement, len(prefix) + 1]
            replace.append(f'{expr} AS "{column}"')
        replacing = f"REPLACE ({', '.join(replace)})" if replace else ""
        select = f'SELECT * {replacing} FROM "{view}"'
        reader = _relation(source, select, params).to_arrow_reader(_BATCH_ROWS)
        db.register("_tracklog_source", reader)
        try:
            db.execute(f'CREATE TABLE "{view}" AS SELECT * FROM _tracklog_source')
        finally:
            db.unregister("_tracklog_source")
            reader.close()


def _views_read(db: duckdb.DuckDBPyConnection, query: str) -> set[str]:
    """The catalog views `query` names as tables. A ``SHOW TABLES`` names none: every view then
    (it lists them; they are not read). A query naming a view some other way (``query_table``)
    finds no table of that name, and says so."""
    tree = json.loads(db.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0])
    if tree.get("error"):
        raise SqlError(f"SQL does not parse: {tree.get('error_message', tree)}")
    tables: set[str] = set()
    shows = _walk(tree, tables)
    named = {t for t in tables if t in VIEW_NAMES}
    return set(VIEW_NAMES) if shows and not named else named


def _walk(tree: Any, tables: set[str]) -> bool:
    """Collect the base-table names in a serialised statement; whether it holds a bare SHOW."""
    shows = False
    if isinstance(tree, dict):
        if tree.get("type") == "BASE_TABLE":
            tables.add(str(tree.get("table_name", "")).lower())
        if tree.get("type") == "SHOW_REF" and not tree.get("query"):
            shows = True
        for value in tree.values():
            shows |= _walk(value, tables)
    elif isinstance(tree, list):
        for value in tree:
            shows |= _walk(value, tables)
    return shows


def _first_rows(db: duckdb.DuckDBPyConnection, query: str, limit: int) -> SqlResult:
    """Up to `limit` rows, read batch by batch; the rest of the result is never computed."""
    import pyarrow as pa

    reader = _relation(db, query).to_arrow_reader(min(_BATCH_ROWS, limit + 1))
    batches, rows = [], 0
    try:
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > limit:
                break
    finally:
        reader.close()
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return SqlResult(table.slice(0, limit), truncated=rows > limit)


def _relation(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> duckdb.DuckDBPyRelation:
    rel = con.sql(query, params=params)
    if rel is None:  # DuckDB gives no relation for a statement without rows
        raise SqlError("the statement returns no rows")
    return rel


def _first_line(exc: BaseException) -> str:
    """DuckDB's message without its trailing hints (they suggest settings this caller cannot use)."""
    return str(exc).strip().split("\n\n", 1)[0]
