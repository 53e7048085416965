"""`ReadOnlyConnection`: what ``tracklog.connect()`` hands out — DuckDB over the views, reading only.

A notebook wants DuckDB's own API on the views (``con.sql(…).df()``, relations, joins with its
own DataFrames), but a raw cursor on the persistent catalog could ``DROP`` or ``INSERT`` into it
and change what every later query answers. This wrapper passes through what reads and nothing
else: SQL goes through `query.sql.check_read_only` (DuckDB's parser says what a statement is),
and relations come back wrapped, without the methods that write (``create``, ``insert_into``,
``to_table``…). Registering the caller's own DataFrames or Arrow tables works, as it only adds
names to this one connection.

>>> import tempfile, tracklog
>>> tracklog.set_tracking_uri(tempfile.mkdtemp())
>>> con = tracklog.connect()
>>> con.sql("SELECT count(*) FROM runs").fetchall()
[(0,)]
>>> con.execute("DROP TABLE runs")
Traceback (most recent call last):
...
eventlog.errors.SqlError: SQL here is read-only: a DROP statement is not allowed (only SELECT queries)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from query.sql import SqlError, check_read_only

if TYPE_CHECKING:
    import duckdb

__all__ = ["ReadOnlyConnection", "ReadOnlyRelation"]

# connection methods that only read or only touch this connection's own names
_CONNECTION_READS = frozenset({
    "description", "rowcount", "fetchall", "fetchone", "fetchmany", "fetchdf", "fetch_df", "fetch_df_chunk", "df",
    "fetchnumpy", "fetch_arrow_table", "fetch_record_batch", "to_arrow_table", "to_arrow_reader", "arrow", "pl", "torch",
    "tf", "register", "unregister", "interrupt", "query_progress", "extract_statements", "get_table_names",
    "array_type", "decimal_type", "dtype", "enum_type", "list_type", "map_type", "row_type", "sqltype",
    "string_type", "struct_type", "type", "union_type",
})
# connection methods that build a relation from the caller's own data or files
_CONNECTION_RELATIONS = frozenset({"table", "view", "values", "from_arrow", "from_df", "read_csv", "read_json",
                                   "read_parquet", "from_csv_auto", "from_parquet"})
# relation methods that only read (the rest — create, insert, to_table, update… — are not offered)
_RELATION_READS = frozenset({
    "aggregate", "alias", "any_value", "apply", "arg_max", "arg_min", "arrow", "avg", "bit_and", "bit_or", "bit_xor",
    "bitstring_agg", "bool_and", "bool_or", "close", "columns", "count", "cross", "cume_dist", "dense_rank", "describe",
    "description", "df", "distinct", "drop", "dtypes", "except_", "explain", "favg", "fetch_arrow_reader",
    "fetch_arrow_table", "fetch_record_batch", "fetchall", "fetchdf", "fetchmany", "fetchnumpy", "fetchone", "filter",
    "first", "first_value", "fsum", "geomean", "group_by", "head", "histogram", "intersect", "iter_rows", "join", "lag",
    "last", "last_value", "lead", "limit", "list", "map", "materialize", "max", "mean", "median", "min", "mode", "n_tile",
    "nth_value", "offset", "order", "percent_rank", "pivot", "pl", "preview", "product", "project", "quantile",
    "quantile_cont", "quantile_disc", "rank", "rank_dense", "rename", "row_number", "sample", "select", "select_dtypes",
    "select_types", "set_alias", "shape", "show", "sort", "sql_query", "std", "stddev", "stddev_pop", "stddev_samp",
    "string_agg", "sum", "tf", "to_arrow_reader", "to_arrow_table", "to_csv", "to_df", "to_dicts", "to_parquet", "torch",
    "type", "types", "union", "union_by_name", "unique", "unnest", "unpivot", "value_counts", "var", "var_pop",
    "var_samp", "variance", "with_columns", "write_csv", "write_parquet",
})


def _wrap(value: Any, cur: duckdb.DuckDBPyConnection) -> Any:
    import duckdb

    return ReadOnlyRelation(value, cur) if isinstance(value, duckdb.DuckDBPyRelation) else value


class ReadOnlyRelation:
    """A DuckDB relation over the views without its writing methods; relational methods return
    read-only relations again. ``to_csv``/``to_parquet`` write the caller's own files."""

    __slots__ = ("_cur", "_rel")

    def __init__(self, rel: duckdb.DuckDBPyRelation, cur: duckdb.DuckDBPyConnection) -> None:
        self._rel = rel
        self._cur = cur

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in _RELATION_READS:
            raise SqlError(f"{name}() is not available on a tracklog relation: the views are read-only")
        attr = getattr(self._rel, name)
        if not callable(attr):
            return attr
        return lambda *args, **kwargs: _wrap(attr(*args, **kwargs), self._cur)

    def query(self, virtual_table_name: str, sql_query: str) -> ReadOnlyRelation:
        """Run read-only `sql_query` with this relation named `virtual_table_name`."""
        check_read_only(self._cur, sql_query)
        return _wrap(self._rel.query(virtual_table_name, sql_query), self._cur)  # type: ignore[no-any-return]

    def __len__(self) -> int:
        return len(self._rel)

    def __repr__(self) -> str:
        return repr(self._rel)

    def __str__(self) -> str:
        return str(self._rel)

    def __getitem__(self, name: str) -> Any:
        return _wrap(self._rel[name], self._cur)

    def __iter__(self) -> Any:
        return iter(self._rel.fetchall())


class ReadOnlyConnection:
    """DuckDB's connection API on a catalog cursor, for reading: see the module docstring."""

    __slots__ = ("_cur",)

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self._cur = cur

    def sql(self, query: str, *, alias: str = "", params: Any = None) -> ReadOnlyRelation | None:
        """A relation for read-only `query` (DuckDB's ``sql``)."""
        check_read_only(self._cur, query)
        rel = self._cur.sql(query, alias=alias, params=params)
        return None if rel is None else ReadOnlyRelation(rel, self._cur)

    query = sql
    from_query = sql

    def execute(self, query: str, parameters: Any = None) -> ReadOnlyConnection:
        """Run read-only `query`; fetch its rows from this connection (DuckDB's ``execute``)."""
        check_read_only(self._cur, query)
        self._cur.execute(query, parameters)
        return self

    def close(self) -> None:
        self._cur.close()

    def __enter__(self) -> ReadOnlyConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _CONNECTION_READS:
            return getattr(self._cur, name)
        if name in _CONNECTION_RELATIONS:
            method = getattr(self._cur, name)
            return lambda *args, **kwargs: _wrap(method(*args, **kwargs), self._cur)
        raise SqlError(f"{name}() is not available on a tracklog connection: the views are read-only "
                       "(tracklog.sql and this connection run SELECT queries)")

    def __repr__(self) -> str:
        return "<tracklog read-only DuckDB connection>"
