"""``/api/2.0/tracklog/sql``: read-only SQL over the store's views, from an untrusted caller.

    POST /api/2.0/tracklog/sql     {"query", "as_of"?, "limit"?, "format"?: json|csv|parquet}
    GET  /api/2.0/tracklog/sql?query=…&format=csv

The query runs in `query.sandbox`: a throwaway DuckDB holding only the views it reads, with no
file, network, extension or setting access, under the server's time and memory limits, and
only the rows of experiments and models the caller may read. Every format answers at most
`limit` rows (the server's ``--sql-max-rows`` at most); ``truncated`` in the JSON (and the
``X-Tracklog-Truncated`` header) says when there were more.
"""

from __future__ import annotations

import io
from typing import Any

import anyio
import msgspec
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from starlette.responses import Response

from projections.entities import encode_hook, wire_float
from query.sql import SqlResult
from tracklog.server.errors import ApiError
from tracklog.server.routing import Call
from tracklog.tracking import messages as m

__all__ = ["sql"]


_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


async def sql(call: Call, body: m.SqlQuery) -> Any:
    """Read-only SQL over the store's views, as an untrusted caller (`query.sandbox`): only the
    views, only the rows the caller may read, at most `limit` rows (the server's
    ``--sql-max-rows`` at most), within the server's time and memory limits. The query, and the
    conversion of its rows to JSON, CSV or Parquet, run on a worker thread, a few at a time."""
    server = call.server
    if body.format not in _TYPES:
        raise ApiError("INVALID_PARAMETER_VALUE", f"format must be json, csv or parquet, got {body.format!r}")
    limit = body.limit if body.limit is not None else (10_000 if body.format == "json" else server.sql_max_rows)
    if not 1 <= limit <= server.sql_max_rows:
        raise ApiError("INVALID_PARAMETER_VALUE",
                       f"limit must be a number of rows from 1 to {server.sql_max_rows} (this server's --sql-max-rows), "
                       f"got {limit}")

    def run() -> tuple[bytes, bool]:
        call.require("sql", "", "READ")
        cur = server.store.cursor(body.as_of, fresh=body.as_of is None, scope=call.read_scope())
        try:
            result = server.sandbox.run(cur, body.query, limit)
        finally:
            cur.close()
        return _sql_bytes(result, body.format), result.truncated

    async with server.sql_slots:  # each query may hold its memory limit: a few at a time
        content, truncated = await anyio.to_thread.run_sync(run)
    headers = {"X-Tracklog-Truncated": "true" if truncated else "false"}
    if body.format != "json":
        headers["Content-Disposition"] = f'attachment; filename="query.{body.format}"'
    return Response(content, media_type=_TYPES[body.format], headers=headers)


def _sql_bytes(result: SqlResult, fmt: str) -> bytes:
    """The rows as the response body: JSON (non-finite doubles as MLflow writes them), CSV or Parquet."""
    table = result.table
    out = io.BytesIO()
    if fmt == "csv":
        pacsv.write_csv(table, out)
        return out.getvalue()
    if fmt == "parquet":
        pq.write_table(table, out)
        return out.getvalue()
    columns = [_json_values(table.column(i).to_pylist()) for i in range(table.num_columns)]
    reply = m.SqlReply(columns=table.column_names, types=[str(t) for t in table.schema.types],
                       rows=[list(r) for r in zip(*columns, strict=True)] if columns else [],
                       truncated=result.truncated)
    return _encode_sql(reply)


def _text(value: Any) -> Any:  # dates, decimals, bytes: as text
    return str(value)


def _json_values(values: list[Any]) -> list[Any]:
    """Non-finite doubles as MLflow's JSON writes them (``"NaN"``, ``"Infinity"``), at any depth:
    JSON has no NaN, and msgspec would write null — a value lost."""
    return [_json_value(v) for v in values]


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return wire_float(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def _hook(value: Any) -> Any:
    return encode_hook(value) if isinstance(value, float) else _text(value)


_encode_sql = msgspec.json.Encoder(enc_hook=_hook).encode
