"""The live Parquet files of a store, for engines that read Parquet with no tracklog code.

Which files are live is the one thing a reader needs tracklog's rules for (compaction commits:
`eventlog.compaction.live_files`); after that, Polars, Spark, DuckDB, Dask or Ray read them as
plain Parquet. The ``metric`` stream's columns are ``run_id, key, value, step, timestamp`` plus the
envelope (``ts, writer_id, writer_seq, actor``); the ``control`` stream has a ``kind`` column
(the event's class name) and one column per event field.

>>> import polars as pl  # doctest: +SKIP
>>> pl.read_parquet(tracklog.dataset("./tracklog-runs").metric_files)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from eventlog.log import EventLog, Stream, relisting
from eventlog.storage import split_uri
from tracklog._config import get_tracking_uri

__all__ = ["StoreFiles", "dataset", "live_file_uris"]


@dataclass(frozen=True)
class StoreFiles:
    """The live files of a store at one moment, as URIs an engine opens (local paths for a folder)."""

    uri: str
    files: dict[str, list[str]]  # stream -> file URIs

    @property
    def metric_files(self) -> list[str]:
        return self.files["metric"]

    @property
    def control_files(self) -> list[str]:
        return self.files["control"]


def live_file_uris(log: EventLog, stream: Stream) -> list[str]:
    """The live files of `stream`: local paths for a local store, else full URIs (``s3://…``)."""
    root = log.store.local_root
    paths = relisting(lambda: log.files(stream))
    if root is not None:
        return [f"{root}/{p}" for p in paths]
    protocol, rest = split_uri(log.uri)
    return [f"{protocol}://{rest.rstrip('/')}/{p}" for p in paths]


def dataset(uri: str | None = None) -> StoreFiles:
    """The live Parquet files of the store at `uri` (default: the tracking URI), per stream.

    Raises:
        StoreNotFoundError: a local folder that does not exist.
    """
    log = EventLog.open(uri or get_tracking_uri(), durability="none")
    try:
        log.require_exists()
        return StoreFiles(uri=log.uri, files={s: live_file_uris(log, s) for s in ("metric", "control")})
    finally:
        log.close()
