"""Read-only SQL over the views, for every caller.

Only statements that read run: one ``SELECT`` (DuckDB's SELECT type also covers ``WITH``,
``VALUES``, ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``), or an ``EXPLAIN [ANALYZE]`` of one. DuckDB's
own parser says what a statement is; nothing here is a list of forbidden words. A query also
runs inside a transaction that is rolled back, so even a statement DuckDB types as a read cannot
leave a change behind in the catalog.

A trusted caller (the local Python API, the CLI) may read its own files with DuckDB's functions.
SQL from untrusted callers goes to `query.sandbox` instead, which holds nothing but the views.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from eventlog.errors import (  # the one error tree
    QueryTimeoutError,
    SqlError,
)
from projections.catalog import fetch_arrow

if TYPE_CHECKING:
    import duckdb
    import pandas
    import polars
    import pyarrow as pa

__all__ = ["QueryTimeoutError", "SqlError", "SqlResult", "check_read_only", "one_statement", "run_sql"]

_READING = {"SELECT"}


class SqlResult:
    """The rows of a query, converting to Arrow, pandas or Polars; ``truncated`` when a row
    limit cut it short."""

    def __init__(self, table: pa.Table, truncated: bool = False) -> None:
        self.table = table
        self.truncated = truncated

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


def one_statement(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """The type of the one statement in `query` (``SELECT``, ``EXPLAIN``, ``DROP``…), by DuckDB's parser."""
    import duckdb

    if not isinstance(query, str):
        raise SqlError(f"SQL must be a string, got {type(query).__name__}")
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise SqlError(f"SQL does not parse: {exc}") from exc
    if not statements:
        raise SqlError("no SQL statement given")
    if len(statements) > 1:
        raise SqlError(f"one statement at a time, got {len(statements)}")
    return str(statements[0].type.name)


def check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise `SqlError` unless `query` is one statement that only reads (an EXPLAIN, of one)."""
    kind = one_statement(con, query)
    if kind == "EXPLAIN":
        kind = one_statement(con, _explained(query))
        if kind not in _READING:
            raise SqlError(f"SQL here is read-only: EXPLAIN of a {kind} statement is not allowed (EXPLAIN ANALYZE "
                           "runs it); explain a SELECT")
    if kind not in _READING:
        raise SqlError(f"SQL here is read-only: a {kind} statement is not allowed (only SELECT queries)")


def _explained(query: str) -> str:
    """The statement an ``EXPLAIN [(options)] [ANALYZE]`` statement explains, found with DuckDB's
    tokenizer (comments and spacing anywhere)."""
    import duckdb

    tokens = [(pos, kind) for pos, kind in duckdb.tokenize(query) if kind != duckdb.token_type.comment]
    ends = [pos for pos, _ in tokens[1:]] + [len(query)]
    words = [query[pos:end].strip().lower() for (pos, _), end in zip(tokens, ends, strict=True)]
    i, depth = 1, 0  # words[0] is EXPLAIN; options in parentheses and ANALYZE follow, in either order
    while i < len(words) and (depth or words[i] in ("(", "analyze", "analyse")):
        depth += {"(": 1, ")": -1}.get(words[i], 0)
        i += 1
    if i >= len(words):
        raise SqlError("EXPLAIN needs a statement to explain")
    return query[tokens[i][0]:]


def run_sql(cur: duckdb.DuckDBPyConnection, query: str, *, timeout: float | None = None) -> SqlResult:
    """Run read-only `query` on `cur` (a catalog cursor) inside a transaction that is rolled back;
    `timeout` seconds interrupts it.

    Raises:
        SqlError: the statement writes, does not parse, or fails (DuckDB's message).
        QueryTimeoutError: it ran longer than `timeout`.
    """
    import duckdb

    check_read_only(cur, query)
    cur.execute("BEGIN TRANSACTION")
    try:
        with deadline(timeout, cur):
            return SqlResult(fetch_arrow(cur, query))
    except duckdb.Error as exc:
        raise SqlError(f"SQL failed: {exc}") from exc
    finally:
        cur.execute("ROLLBACK")


@contextmanager
def deadline(timeout: float | None, *connections: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Interrupt `connections` after `timeout` seconds (None: never); what they raise once it
    fired is a `QueryTimeoutError`, anything else passes through."""
    import duckdb

    fired = threading.Event()
    timer = None
    if timeout is not None:
        def interrupt() -> None:
            fired.set()
            for con in connections:
                con.interrupt()

        timer = threading.Timer(timeout, interrupt)
        timer.start()
    try:
        yield
    except duckdb.Error as exc:
        if fired.is_set() or isinstance(exc, duckdb.InterruptException):
            raise QueryTimeoutError(f"the query ran longer than its {timeout} s limit and was stopped") from exc
        raise
    finally:
        if timer is not None:
            timer.cancel()
