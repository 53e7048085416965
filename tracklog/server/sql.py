"""``/api/2.0/tracklog/sql``: read-only SQL over the store's views, from an untrusted caller.

    POST /api/2.0/tracklog/sql     {"query", "as_of"?, "limit"?, "format"?: json|csv|parquet}
    GET  /api/2.0/tracklog/sql?query=…&format=csv

The query runs sandboxed (`query.sql`: no file or setting functions) under a time limit; JSON
answers at most `limit` rows (``truncated`` says if there were more), CSV and Parquet the whole
result.
"""

from __future__ import annotations

import io
from typing import Any

import msgspec
from starlette.responses import Response

from projections.entities import encode_hook, wire_float
from query.sql import run_sql
from tracklog.server.errors import ApiError
from tracklog.server.routing import Call
from tracklog.tracking import messages as m

__all__ = ["sql"]


def sql(call: Call, body: m.SqlQuery) -> Any:
    call.require("sql", "", "READ")
    if body.format not in ("json", "csv", "parquet"):
        raise ApiError("INVALID_PARAMETER_VALUE", f"format must be json, csv or parquet, got {body.format!r}")
    if body.limit < 1:
        raise ApiError("INVALID_PARAMETER_VALUE", f"limit must be a positive integer, got {body.limit}")
    server = call.server
    cur = server.store.cursor(body.as_of, fresh=body.as_of is None)
    try:
        table = run_sql(cur, body.query, trusted=False, timeout=server.sql_timeout).table
    finally:
        cur.close()
    if body.format == "csv":
        import pyarrow.csv as pacsv

        out = io.BytesIO()
        pacsv.write_csv(table, out)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="query.csv"'})
    if body.format == "parquet":
        import pyarrow.parquet as pq

        out = io.BytesIO()
        pq.write_table(table, out)
        return Response(out.getvalue(), media_type="application/vnd.apache.parquet",
                        headers={"Content-Disposition": 'attachment; filename="query.parquet"'})
    shown = table.slice(0, body.limit)
    columns = [_json_values(shown.column(i).to_pylist()) for i in range(shown.num_columns)]
    reply = m.SqlReply(columns=shown.column_names, types=[str(t) for t in shown.schema.types],
                       rows=[list(r) for r in zip(*columns, strict=True)] if columns else [],
                       truncated=table.num_rows > body.limit)
    return Response(_encode_sql(reply), media_type="application/json")


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
