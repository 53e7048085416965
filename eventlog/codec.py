"""Events to Arrow tables to zstd Parquet, and back.

The ``metric`` stream is narrow and typed; the ``control`` stream is one wide sparse table with
a ``kind`` column (the event tag) and one column per field name across every control event.
A field name maps to one Arrow type forever; `control_schema` fails at import if two events
disagree, so a string and a double never share a column.
"""

from __future__ import annotations

import io
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec

from eventlog.errors import CorruptFileError
from eventlog.events import CONTROL_EVENTS, Event, MetricLogged, event_kinds

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "METRIC_COLUMNS",
    "control_schema",
    "control_table",
    "events_from_table",
    "metric_schema",
    "metric_table",
    "check_segment",
    "read_parquet",
    "read_segment",
    "stream_of",
    "write_parquet",
]

METRIC_COLUMNS = ("run_id", "key", "value", "step", "timestamp", "ts", "writer_id", "writer_seq", "actor")
_SCALARS = {str: "string", int: "int64", float: "float64", bool: "bool"}


@cache
def metric_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("run_id", pa.string()),
            ("key", pa.string()),
            ("value", pa.float64()),
            ("step", pa.int64()),
            ("timestamp", pa.int64()),
            ("ts", pa.int64()),
            ("writer_id", pa.string()),
            ("writer_seq", pa.int64()),
            ("actor", pa.string()),
        ]
    )


def control_fields() -> dict[str, type]:
    """Every control column and its Python type, envelope first; raises on a type clash."""
    columns: dict[str, type] = {"kind": str}
    for cls in CONTROL_EVENTS:
        for field in msgspec.structs.fields(cls):
            if field.type not in _SCALARS:
                raise TypeError(f"{cls.__name__}.{field.name}: only str/int/float/bool fields are stored")
            seen = columns.setdefault(field.name, field.type)
            if seen is not field.type:
                raise TypeError(
                    f"column {field.name!r} is {seen.__name__} elsewhere but "
                    f"{field.type.__name__} in {cls.__name__}"
                )
    return columns


@cache
def control_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, _SCALARS[t])()) for name, t in control_fields().items()])


def metric_table(columns: dict[str, list[Any]]) -> pa.Table:
    """Build a metric table from column lists, sorted by (run_id, key, step) for compression."""
    import pyarrow as pa

    schema = metric_schema()
    # from_arrays: Table.from_pydict with a schema is ~10x slower on 100k-row lists
    table = pa.Table.from_arrays([pa.array(columns[f.name], f.type) for f in schema], schema=schema)
    return table.sort_by([("run_id", "ascending"), ("key", "ascending"), ("step", "ascending"), ("writer_seq", "ascending")])


def control_table(events: list[Event]) -> pa.Table:
    import pyarrow as pa

    schema = control_schema()
    n = len(events)
    cols: dict[str, list[Any]] = {"kind": [type(e).__struct_config__.tag for e in events]}
    for i, event in enumerate(events):
        for name in event.__struct_fields__:
            column = cols.get(name)
            if column is None:
                column = cols[name] = [None] * n
            column[i] = getattr(event, name)
    # columns no event in the batch has are all-null arrays, built without Python lists
    return pa.Table.from_arrays(
        [pa.array(cols[f.name], f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema], schema=schema
    )


_FIELDS_BY_KIND: dict[str, tuple[type[Event], tuple[str, ...]]] = {
    tag: (cls, cls.__struct_fields__) for tag, cls in event_kinds().items()
}


def events_from_table(table: pa.Table, *, where: str = "<memory>") -> list[Event]:
    """Decode a control or metric table back into events."""
    names = set(table.column_names)
    if "kind" not in names:
        rows = table.to_pydict()
        return [
            MetricLogged(**{k: rows[k][i] for k in METRIC_COLUMNS})
            for i in range(table.num_rows)
        ]
    out: list[Event] = []
    for row in table.to_pylist():
        kind = row.get("kind")
        if kind not in _FIELDS_BY_KIND:
            raise CorruptFileError(f"{where}: unknown event kind {kind!r}")
        cls, fields = _FIELDS_BY_KIND[kind]
        try:
            out.append(cls(**{f: row[f] for f in fields if row.get(f) is not None}))
        except TypeError as exc:
            raise CorruptFileError(f"{where}: a {kind} row is missing fields: {exc}") from exc
    return out


def write_parquet(table: pa.Table, *, level: int = 6) -> bytes:
    """zstd Parquet; metric columns get byte-stream-split and delta encodings (compaction uses a higher `level`)."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    if "kind" in table.column_names:
        pq.write_table(table, sink, compression="zstd", compression_level=level)
    else:
        pq.write_table(
            table,
            sink,
            compression="zstd",
            compression_level=level,
            use_dictionary=["run_id", "key", "writer_id", "actor"],
            column_encoding={
                "value": "BYTE_STREAM_SPLIT",
                "step": "DELTA_BINARY_PACKED",
                "timestamp": "DELTA_BINARY_PACKED",
                "ts": "DELTA_BINARY_PACKED",
                "writer_seq": "DELTA_BINARY_PACKED",
            },
        )
    return sink.getvalue()


def read_parquet(data: bytes, *, where: str) -> pa.Table:
    """Read one segment; a file that is not a tracklog segment raises `CorruptFileError` naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # parse the footer first, on this thread: a foreign file fails here, before pyarrow's
        # thread pool starts (a threaded read that fails can abort the interpreter at exit)
        parsed = pq.ParquetFile(pa.BufferReader(data))
        return parsed.read()
    except (pa.ArrowException, OSError) as exc:
        raise CorruptFileError(f"{where} is not a readable Parquet segment: {exc}") from exc



_REQUIRED = {"metric": METRIC_COLUMNS,
             "control": ("kind", "ts", "writer_id", "writer_seq")}


def stream_of(relpath: str) -> str | None:
    """The stream a data file belongs to, from its partition folder (``…/stream=metric/…``)."""
    for stream in ("metric", "control"):
        if f"stream={stream}/" in relpath:
            return stream
    return None


def check_segment(table: pa.Table, stream: str, *, where: str) -> pa.Table:
    """`table` if it is a segment of `stream`; else `CorruptFileError` naming the file and the problem.

    A segment has the stream's envelope columns; every column the stream knows has the type it
    always has (all-null columns of an unknown type are cast); control rows are of known event
    kinds. Columns the stream does not know are left alone (a newer writer may add fields).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = metric_schema() if stream == "metric" else control_schema()
    missing = [name for name in _REQUIRED[stream] if name not in table.column_names]
    if missing:
        raise CorruptFileError(f"{where} is not a tracklog {stream} segment: it has no column(s) {', '.join(missing)} "
                               f"(its columns: {', '.join(table.column_names[:12]) or 'none'})")
    for i, name in enumerate(table.column_names):
        if name not in schema.names:
            continue
        expected, found = schema.field(name).type, table.schema.field(i).type
        if found == expected:
            continue
        if pa.types.is_null(found):
            table = table.set_column(i, name, pa.nulls(table.num_rows, expected))
            continue
        raise CorruptFileError(f"{where} is not a tracklog {stream} segment: column {name!r} is {found}, expected {expected}")
    if stream == "control" and table.num_rows:
        unknown = pc.filter(table["kind"], pc.invert(pc.fill_null(pc.is_in(table["kind"], pa.array(list(_FIELDS_BY_KIND))), False)))
        if len(unknown):
            raise CorruptFileError(f"{where}: unknown event kind {unknown[0].as_py()!r}")
    return table


def read_segment(data: bytes, stream: str, *, where: str) -> pa.Table:
    """`read_parquet` and `check_segment`: the rows of one segment of `stream`, or `CorruptFileError`."""
    return check_segment(read_parquet(data, where=where), stream, where=where)
