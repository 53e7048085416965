"""Events to Arrow tables to zstd Parquet, and back.

The ``metric`` stream is narrow and typed; the ``control`` stream is one wide sparse table with
a ``kind`` column (the event tag) and one column per field name across every control event.
A field name maps to one Arrow type forever; `control_schema` fails at import if two events
disagree, so a string and a double never share a column.
"""

from __future__ import annotations

import io
import re
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec

from eventlog.errors import CorruptFileError
from eventlog.events import CONTROL_EVENTS, Event, MetricLogged, event_kinds

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "METRIC_COLUMNS",
    "WRITER_ID",
    "control_schema",
    "control_table",
    "events_from_table",
    "metric_schema",
    "metric_table",
    "metric_table_from_columns",
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


def metric_table_from_columns(columns: dict[str, Any], names: list[str], writer_id: str, actor: str) -> pa.Table:
    """A metric table from a writer's NumPy columns (``seq, ts, run, key, value, step,
    timestamp``, as `eventlog.wal.RecordBuffer.metric_columns` gives them; ``run``/``key``
    index `names`), sorted by (run_id, key, step, writer_seq).

    Column by column, with no Python object per point; the string columns are dictionary arrays
    over `names` (`write_parquet` stores them as plain Parquet strings, dictionary-encoded).
    """
    import numpy as np
    import pyarrow as pa

    n = len(columns["seq"])
    order = _sort_order(columns, names) if n > 1 else None
    if order is not None:
        columns = {name: column[order] for name, column in columns.items()}
    dictionary = pa.array(names, pa.string())
    zeros = pa.array(np.zeros(n, dtype=np.int32))

    def strings(indices: Any) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), dictionary)

    arrays = [
        strings(columns["run"]), strings(columns["key"]), pa.array(columns["value"]), pa.array(columns["step"]),
        pa.array(columns["timestamp"]), pa.array(columns["ts"]),
        pa.DictionaryArray.from_arrays(zeros, pa.array([writer_id], pa.string())), pa.array(columns["seq"]),
        pa.DictionaryArray.from_arrays(zeros, pa.array([actor], pa.string())),
    ]
    return pa.Table.from_arrays(arrays, names=list(METRIC_COLUMNS))


def _sort_order(columns: dict[str, Any], names: list[str]) -> Any:
    """Row order by (run_id, key, step, seq), or None if already in it (one metric, step by step)."""
    import numpy as np

    rank = np.empty(len(names), dtype=np.int64)  # a name's place in string order (UTF-8 sorts as code points)
    rank[np.argsort(np.array(names, dtype=object))] = np.arange(len(names))
    group, step = (rank[columns["run"]] << 32) | rank[columns["key"]], columns["step"]
    if _ordered(group, step):  # appended in seq order: a tie on (run, key, step) is in seq order
        return None
    # metrics logged step by step: each one's steps ascend. Few (run, key) pairs (the usual
    # batch) rank as 16-bit codes, which NumPy's stable sort orders by radix: ~5x faster
    codes = group if len(names) > 255 else (rank[columns["run"]] * len(names) + rank[columns["key"]]).astype(np.uint16)
    order = np.argsort(codes, kind="stable")
    return order if _ordered(group[order], step[order]) else np.lexsort((columns["seq"], step, group))


def _ordered(group: Any, step: Any) -> bool:
    import numpy as np

    dgroup, dstep = np.diff(group), np.diff(step)
    return bool(((dgroup > 0) | ((dgroup == 0) & (dstep >= 0))).all())


def control_table(events: list[Event]) -> pa.Table:
    """The control table of `events`, in their order: one column per field of any event kind.

    Built kind by kind (each event's fields as one tuple), then put back in order with one take.
    """
    import pyarrow as pa

    schema = control_schema()
    if not events:
        return schema.empty_table()
    groups: dict[type[Event], list[int]] = {}
    for i, event in enumerate(events):
        groups.setdefault(type(event), []).append(i)
    tables = [_kind_table(cls, [events[i] for i in where], schema) for cls, where in groups.items()]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    if len(groups) == 1:
        return table
    order = [i for where in groups.values() for i in where]  # row r of `table` is event order[r]
    inverse = [0] * len(order)
    for row, i in enumerate(order):
        inverse[i] = row
    return table.take(pa.array(inverse, pa.int64()))


def _kind_table(cls: type[Event], events: list[Event], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    n = len(events)
    fields = cls.__struct_fields__
    columns = dict(zip(fields, zip(*map(msgspec.structs.astuple, events), strict=True), strict=True)) if n else {}
    columns["kind"] = (cls.__struct_config__.tag,) * n
    # columns this kind has not are all-null arrays, built without Python lists
    return pa.Table.from_arrays(
        [pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema], schema=schema
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


# Encodings of the metric columns: strings by dictionary (one value per run of rows), doubles by
# byte stream split (the exponent and high mantissa bytes of a curve compress, the rest cannot),
# integers by delta (step and writer_seq are nearly constant steps once sorted by run, key, step).
_METRIC_ENCODINGS = {
    "value": "BYTE_STREAM_SPLIT",
    "step": "DELTA_BINARY_PACKED",
    "timestamp": "DELTA_BINARY_PACKED",
    "ts": "DELTA_BINARY_PACKED",
    "writer_seq": "DELTA_BINARY_PACKED",
}
# zstd levels: segments are written on the hot path's flusher thread (3 is as small as 6 and
# faster); compaction writes once and is read many times: a higher level pays on ts (-9% from 9
# to 15) and, for float64 curves, on values (-13%), but costs float32-derived values 4%: the
# value column's level is chosen on a sample.
SEGMENT_LEVEL = 3
_COMPACT_LEVEL = 9
_HIGH_LEVEL = 15
_SAMPLE_ROWS = 1 << 17


def write_parquet(table: pa.Table, *, compacted: bool = False) -> bytes:
    """zstd Parquet, fast for a writer's segment or (`compacted`) small for a compaction output;
    metric columns get the encodings above."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    if "kind" in table.column_names:
        pq.write_table(table, sink, compression="zstd", compression_level=_COMPACT_LEVEL if compacted else SEGMENT_LEVEL)
        return sink.getvalue()
    level: int | dict[str, int] = SEGMENT_LEVEL
    if compacted:
        level = {name: _COMPACT_LEVEL for name in table.column_names}
        level["ts"] = _HIGH_LEVEL
        level["value"] = _value_level(table)
    pq.write_table(
        table, sink, compression="zstd", compression_level=level,
        use_dictionary=["run_id", "key", "writer_id", "actor"], column_encoding=_METRIC_ENCODINGS,
        store_schema=False,  # no Arrow types beyond Parquet's: dictionary columns read back as strings
    )
    return sink.getvalue()


def _value_level(table: pa.Table) -> int:
    """The zstd level that keeps a sample of the value column smaller (see the levels above)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sample = pa.table({"value": table["value"].slice(0, _SAMPLE_ROWS)})
    sizes = {}
    for level in (_COMPACT_LEVEL, _HIGH_LEVEL):
        sink = io.BytesIO()
        pq.write_table(sample, sink, compression="zstd", compression_level=level, use_dictionary=False,
                       column_encoding={"value": "BYTE_STREAM_SPLIT"}, write_statistics=False)
        sizes[level] = len(sink.getvalue())
    return min(sizes, key=lambda level: (sizes[level], level))


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
_NOT_NULL = {"metric": ("run_id", "key", "step", "timestamp", "ts", "writer_id", "writer_seq", "actor"),
             "control": ("kind", "ts", "writer_id", "writer_seq")}
# a writer id becomes part of a file name (`eventlog.writer.segment_path`): uuids, and nothing
# that could name another folder (``..``, ``/``) when a segment of another store is copied
WRITER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


def stream_of(relpath: str) -> str | None:
    """The stream a data file belongs to, from its partition folder (``…/stream=metric/…``)."""
    for stream in ("metric", "control"):
        if f"stream={stream}/" in relpath:
            return stream
    return None


def check_segment(table: pa.Table, stream: str, *, where: str) -> pa.Table:
    """`table` if it is a segment of `stream`; else `CorruptFileError` naming the file and the problem.

    A segment has the stream's envelope columns; every column the stream knows has the type it
    always has (all-null columns of an unknown type are cast); the envelope has no NULLs, writer
    ids are plain names (`WRITER_ID`) and sequence numbers are >= 0; control rows are of known
    event kinds. Columns the stream does not know are left alone (a newer writer may add fields).
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
    _check_envelope(table, stream, where)
    if stream == "control" and table.num_rows:
        unknown = pc.filter(table["kind"], pc.invert(pc.fill_null(pc.is_in(table["kind"], pa.array(list(_FIELDS_BY_KIND))), False)))
        if len(unknown):
            raise CorruptFileError(f"{where}: unknown event kind {unknown[0].as_py()!r}")
    return table


def _check_envelope(table: pa.Table, stream: str, where: str) -> None:
    import pyarrow.compute as pc

    for name in _NOT_NULL[stream]:
        if table[name].null_count:
            raise CorruptFileError(f"{where} is not a tracklog {stream} segment: column {name!r} has "
                                   f"{table[name].null_count} NULL(s), expected none")
    if table.num_rows and pc.min(table["writer_seq"]).as_py() < 0:
        raise CorruptFileError(f"{where} is not a tracklog {stream} segment: a writer_seq below 0 "
                               f"({pc.min(table['writer_seq']).as_py()})")
    for writer_id in pc.unique(table["writer_id"]).to_pylist():
        if not WRITER_ID.fullmatch(writer_id):
            raise CorruptFileError(f"{where} is not a tracklog {stream} segment: writer id {writer_id[:80]!r} is not "
                                   "a plain name (letters, digits, '_', '.', '-'; at most 128)")


def read_segment(data: bytes, stream: str, *, where: str) -> pa.Table:
    """`read_parquet` and `check_segment`: the rows of one segment of `stream`, or `CorruptFileError`."""
    return check_segment(read_parquet(data, where=where), stream, where=where)
