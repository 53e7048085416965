"""Read-only SQL over the views, with a sandbox for SQL from untrusted callers.

Every caller gets read-only SQL: only ``SELECT`` (and ``WITH … SELECT``, ``EXPLAIN``,
``DESCRIBE``, ``SHOW``) statements run. An untrusted caller (the server passes its users' SQL
this way) is also refused file-reading and environment functions (``read_parquet``,
``glob``, ``getenv``…), and its query is interrupted after a time limit.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from eventlog.errors import InvalidInputError, TracklogError
from projections.catalog import fetch_arrow

if TYPE_CHECKING:
    import duckdb
    import pandas
    import polars
    import pyarrow as pa

__all__ = ["QueryTimeoutError", "SqlError", "SqlResult", "run_sql"]

_READ_ONLY = {"SELECT", "EXPLAIN", "PRAGMA_SHOW", "SHOW", "DESCRIBE"}
_SAFE_TABLE_FUNCTIONS = {"unnest", "range", "generate_series", "json_each", "json_tree", "duckdb_functions"}
_UNSAFE_PREFIXES = ("read_", "parquet_", "sniff_", "glob", "getenv", "query", "sqlite", "postgres", "mysql",
                    "iceberg", "delta", "httpfs", "from_", "load_", "install_", "current_setting", "duckdb_secrets",
                    "duckdb_settings", "which_secret", "pragma")


class SqlError(InvalidInputError):
    """SQL that was refused or failed; the message says which and why."""


class QueryTimeoutError(TracklogError, TimeoutError):
    error_code = "DEADLINE_EXCEEDED"


class SqlResult:
    """The rows of a query, converting to Arrow, pandas or Polars."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def arrow(self) -> pa.Table:
        return self.table

    def df(self) -> pandas.DataFrame:
        return self.table.to_pandas()

    pandas = df

    def pl(self) -> polars.DataFrame:
        import polars as pl

        return pl.from_arrow(self.table)  # type: ignore[return-value]

    polars = pl

    def fetchall(self) -> list[tuple[Any, ...]]:
        columns = [c.to_pylist() for c in self.table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    @property
    def columns(self) -> list[str]:
        return self.table.column_names

    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        return f"<SqlResult {self.table.num_rows} rows × {self.table.num_columns} columns: {', '.join(self.columns)}>"


def _functions(tree: Any, out: set[tuple[str, str]]) -> set[tuple[str, str]]:
    if isinstance(tree, dict):
        if tree.get("type") == "TABLE_FUNCTION":
            out.add(("table", str(tree.get("function", {}).get("function_name", "")).lower()))
        if tree.get("class") == "FUNCTION":
            out.add(("scalar", str(tree.get("function_name", "")).lower()))
        for value in tree.values():
            _functions(value, out)
    elif isinstance(tree, list):
        for value in tree:
            _functions(value, out)
    return out


def check_sql(cur: duckdb.DuckDBPyConnection, query: str, *, trusted: bool) -> None:
    """Raise `SqlError` unless `query` is read-only (and, untrusted, touches no files)."""
    import duckdb

    try:
        statements = cur.extract_statements(query)
    except duckdb.Error as exc:
        raise SqlError(f"SQL does not parse: {exc}") from exc
    if not statements:
        raise SqlError("no SQL statement given")
    if len(statements) > 1:
        raise SqlError(f"one statement at a time, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in _READ_ONLY:
        raise SqlError(f"SQL here is read-only: a {kind} statement is not allowed (only SELECT queries)")
    if trusted:
        return
    if kind != "SELECT":
        raise SqlError(f"only SELECT queries are allowed here, got {kind}")
    tree = json.loads(cur.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0])
    if tree.get("error"):
        raise SqlError(f"SQL does not parse: {tree.get('error_message', tree)}")
    for where, name in sorted(_functions(tree, set())):
        if (where == "table" and name not in _SAFE_TABLE_FUNCTIONS) or name.startswith(_UNSAFE_PREFIXES):
            raise SqlError(f"the function {name}() is not allowed in SQL from this caller: it reads files or settings")


def run_sql(cur: duckdb.DuckDBPyConnection, query: str, *, trusted: bool = True, timeout: float | None = None) -> SqlResult:
    """Run read-only `query` on `cur` (a catalog cursor); `timeout` seconds interrupts it."""
    import duckdb

    check_sql(cur, query, trusted=trusted)
    timer = None
    fired = threading.Event()
    if timeout is not None:
        def interrupt() -> None:
            fired.set()
            cur.interrupt()

        timer = threading.Timer(timeout, interrupt)
        timer.start()
    try:
        return SqlResult(fetch_arrow(cur, query))
    except duckdb.InterruptException as exc:
        raise QueryTimeoutError(f"the query ran longer than its {timeout} s limit and was stopped") from exc
    except duckdb.Error as exc:
        if fired.is_set():
            raise QueryTimeoutError(f"the query ran longer than its {timeout} s limit and was stopped") from exc
        raise SqlError(f"SQL failed: {exc}") from exc
    finally:
        if timer is not None:
            timer.cancel()
