"""`EventLog`: the append-only log of one store, its writer, its claims and its readers.

>>> from eventlog.events import ExperimentCreated
>>> log = EventLog.open("memory://doctest-log")
>>> _ = log.append(ExperimentCreated(experiment_id="1", name="demo"))
>>> [type(e).__name__ for e in log.scan()]
['ExperimentCreated']
>>> log.close()
"""

from __future__ import annotations

import functools
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from eventlog.codec import events_from_table, read_parquet, read_segment, stream_of
from eventlog.compaction import live_files
from eventlog.errors import (
    CorruptFileError,
    CorruptFileWarning,
    FileVanishedError,
    InvalidInputError,
    StoreNotFoundError,
)
from eventlog.events import Event
from eventlog.storage import Store, open_store
from eventlog.writer import Batch, Durability, Writer, recover_wal, recover_wal_events

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CorruptFileWarning", "EventLog", "Stream", "default_actor", "local_cache", "parse_size", "publish_settings",
           "publish_wal", "relisting"]

T = TypeVar("T")


def relisting(read: Callable[[], T], attempts: int = 5) -> T:
    """Run `read` (which lists files, then reads them) again if a listed file vanished meanwhile.

    Compaction deletes consumed files after their retention; a reader slower than that, or a
    store that lists an object before it serves it, sees `FileVanishedError` and lists again.
    """
    for attempt in range(attempts):
        try:
            return read()
        except FileVanishedError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")

Stream = Literal["metric", "control"]
STREAMS: tuple[Stream, ...] = ("control", "metric")
SEGMENT_LIMIT = 1 << 30  # bytes a data file may have: compaction outputs stay far below; a bigger one is not read
DEFAULT_WAL_LIMIT = 1 << 30  # bytes of unpublished events per writer (TRACKLOG_WAL_LIMIT)
DEFAULT_PUBLISH_WAIT = 5.0  # s end_run (store unreachable) and exit wait for it (TRACKLOG_PUBLISH_WAIT)
CONTACT_WAIT = 2.0  # s opening waits for a remote store to answer before logging starts offline
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 1024, "m": 1e6, "mb": 1e6, "mib": 1 << 20,
          "g": 1e9, "gb": 1e9, "gib": 1 << 30, "t": 1e12, "tb": 1e12, "tib": 1 << 40}


def parse_size(text: str, *, where: str) -> int:
    """``"512MB"``, ``"2GiB"``, ``"16k"``, ``"1000000"`` as bytes; raises `InvalidInputError` naming `where`.

    >>> parse_size("2 GB", where="TRACKLOG_WAL_LIMIT")
    2000000000
    """
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match is not None else ""
    if match is None or unit not in _UNITS:
        raise InvalidInputError(f"{where}: expected a size such as 500MB, 2GB or 1073741824, got {text!r}")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise InvalidInputError(f"{where}: expected a size above 0, got {text!r}")
    return value


def publish_settings() -> tuple[int, float]:
    """``(wal_limit, publish_wait)`` from ``TRACKLOG_WAL_LIMIT`` and ``TRACKLOG_PUBLISH_WAIT``."""
    limit = os.environ.get("TRACKLOG_WAL_LIMIT")
    wait = os.environ.get("TRACKLOG_PUBLISH_WAIT")
    try:
        seconds = DEFAULT_PUBLISH_WAIT if not wait else float(wait)
    except ValueError:
        raise InvalidInputError(f"TRACKLOG_PUBLISH_WAIT: expected seconds such as 5 or 0.5, got {wait!r}") from None
    if seconds < 0:
        raise InvalidInputError(f"TRACKLOG_PUBLISH_WAIT: expected seconds >= 0, got {wait!r}")
    return (parse_size(limit, where="TRACKLOG_WAL_LIMIT") if limit else DEFAULT_WAL_LIMIT), seconds


def default_actor() -> str:
    for var in ("TRACKLOG_USER", "MLFLOW_TRACKING_USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    return _login_name()


@functools.cache
def _login_name() -> str:
    """The login name, looked up once per process (`start_run` asks for every run)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def local_cache(store: Store, kind: str, local: str) -> str:
    """Where this machine keeps `kind` (``wal``, ``catalog``…) for `store`: inside a local store
    (as `local`), else under ``TRACKLOG_CACHE_DIR`` (default ``~/.cache/tracklog``), keyed by URI."""
    if store.local_root is not None:
        return os.path.join(store.local_root, local)
    import hashlib

    cache = os.environ.get("TRACKLOG_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tracklog"
    )
    return os.path.join(cache, kind, hashlib.sha256(store.uri.encode()).hexdigest()[:16])


def publish_wal(uri: str, **storage_options: Any) -> tuple[int, int]:
    """Publish what waits in this machine's WAL for the store at `uri` (left by processes that
    ended while it was unreachable; ``tracklog sync URI``). Returns how many WAL segments and
    events were published; segments of live writers are theirs to publish.

    Raises:
        StorageError: the store still does not answer (nothing is lost: run it again later).
    """
    store = open_store(uri, **storage_options)  # the self-test: fails at once if unreachable
    return recover_wal_events(store, local_cache(store, "wal", "_wal"))


class EventLog:
    """The event log of one store: append, flush, scan, claim."""

    def __init__(self, store: Store, writer: Writer) -> None:
        self.store = store
        self.writer = writer
        self.uri = store.uri

    @classmethod
    def open(
        cls,
        uri: str,
        *,
        durability: Durability | None = None,
        flush_events: int = 100_000,
        flush_interval: float = 3.0,
        actor: str | None = None,
        storage_options: dict[str, Any] | None = None,
        wal_limit: int | None = None,
        publish_wait: float | None = None,
    ) -> EventLog:
        """Open the log at `uri` and republish dead writers' WALs (a local folder is created by
        the first event published, not here).

        A remote store that does not answer within `CONTACT_WAIT` seconds (or fails) does not
        stop logging: the writer starts offline, its events wait in the local WAL, and the
        store's self-test and the republishing happen in the background once it answers.

        Args:
            uri: a folder, ``file://…`` or an fsspec URL such as ``s3://bucket/prefix``.
            durability: ``wal`` (default, survives kill -9), ``fsync`` (survives power loss)
                or ``none``; the env ``TRACKLOG_DURABILITY`` sets the default.
            flush_events: publish a segment once this many events are buffered.
            flush_interval: publish at least this often, in seconds.
            actor: the user recorded on every event (default: the login name).
            wal_limit: bytes of events that may wait for an unreachable store; at the limit
                appends wait for it (``TRACKLOG_WAL_LIMIT``, default 1 GiB).
            publish_wait: seconds `Writer.wait_or_warn` (end_run, exit) waits for the store
                (``TRACKLOG_PUBLISH_WAIT``, default 5).
        """
        durability = durability or os.environ.get("TRACKLOG_DURABILITY", "wal")  # type: ignore[assignment]
        if durability not in ("wal", "fsync", "none"):
            raise InvalidInputError(
                f"durability must be 'wal', 'fsync' or 'none', got {durability!r} (TRACKLOG_DURABILITY?)"
            )
        if flush_events < 1 or flush_interval <= 0:
            raise InvalidInputError(
                f"flush_events must be >= 1 and flush_interval > 0, got {flush_events} and {flush_interval}"
            )
        env_limit, env_wait = publish_settings()
        store = open_store(uri, verify=False, **(storage_options or {}))
        wal_dir = local_cache(store, "wal", "_wal")
        writer = Writer(
            store, wal_dir, actor=actor or default_actor(), durability=durability,  # type: ignore[arg-type]
            flush_events=flush_events, flush_interval=flush_interval,
            wal_limit=wal_limit if wal_limit is not None else env_limit,
            publish_wait=publish_wait if publish_wait is not None else env_wait,
        )
        writer.contact(CONTACT_WAIT)  # the self-test, then dead writers' WALs republished
        return cls(store, writer)

    def exists(self) -> bool:
        """False for a local store whose folder is not there (nothing was ever published to it);
        remote stores (object stores have no folders) always exist."""
        root = self.store.local_root
        return root is None or os.path.isdir(root)

    def require_exists(self) -> None:
        """Raise `StoreNotFoundError` unless `exists()`: reading never creates a store."""
        if not self.exists():
            raise StoreNotFoundError(
                f"no tracklog store at {self.uri}: the folder does not exist, so there is nothing to read; check "
                "the path (the tracking URI, --store or TRACKLOG_TRACKING_URI). Logging to it creates it."
            )

    # ---- writing ------------------------------------------------------------------------

    def append(self, event: Event) -> Event:
        """Record `event`; returns it stamped with its envelope."""
        return self.writer.append(event)

    def log_metric(self, run_id: str, key: str, value: float, step: int, timestamp: int | None) -> None:
        self.writer.log_metric(run_id, key, value, step, timestamp)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def recover(self) -> int:
        """Republish WAL segments left by dead writers; returns how many were found."""
        return recover_wal(self.store, self.writer.wal_dir)

    # ---- claims: unique names without a database ------------------------------------------

    def claim(self, namespace: str, key: str, value: str) -> str:
        """Claim `key` in `namespace` for `value`; returns the value that holds the claim."""
        path = self._claim_path(namespace, key)
        if self.store.publish(path, value.encode()):
            return value
        return self.store.read_bytes(path).decode()

    def read_claim(self, namespace: str, key: str) -> str | None:
        path = self._claim_path(namespace, key)
        try:
            return self.store.read_bytes(path).decode()
        except FileNotFoundError:
            return None

    def release_claim(self, namespace: str, key: str) -> None:
        self.store.delete(self._claim_path(namespace, key))

    @staticmethod
    def _claim_path(namespace: str, key: str) -> str:
        import hashlib

        return f"_claims/{namespace}/{hashlib.sha256(key.encode()).hexdigest()}"

    # ---- reading ------------------------------------------------------------------------

    def files(self, stream: Stream) -> list[str]:
        """The live data files of `stream`: segments no compaction consumed, and committed outputs."""
        return live_files(self.store, stream)

    def read(self, relpath: str) -> pa.Table:
        """One segment as an Arrow table; raises `CorruptFileError` naming a bad or foreign file
        (not Parquet, or Parquet that is not a segment of its stream)."""
        if not relpath.endswith(".parquet"):
            raise CorruptFileError(f"{self.uri}/{relpath} is not a tracklog segment (not .parquet)")
        try:
            data = self.store.read_bytes(relpath, limit=SEGMENT_LIMIT)
        except FileNotFoundError as exc:
            raise FileVanishedError(f"{self.uri}/{relpath} was listed but is gone; list the files again") from exc
        except CorruptFileError:
            raise
        except OSError as exc:
            raise CorruptFileError(f"{self.uri}/{relpath} cannot be read: {exc}") from exc
        stream = stream_of(relpath)
        where = f"{self.uri}/{relpath}"
        return read_segment(data, stream, where=where) if stream is not None else read_parquet(data, where=where)

    def read_events(self, relpath: str) -> list[Event]:
        return events_from_table(self.read(relpath), where=f"{self.uri}/{relpath}")

    def pending(self) -> Batch:
        """This process's appended but unpublished events, as one batch (read-your-writes)."""
        metrics, control = self.writer.pending()
        batch = Batch(self.writer.writer_id, self.writer.actor, 0)
        batch.metrics, batch.control = metrics, control
        return batch

    def scan(self, stream: Stream | None = None, *, include_pending: bool = True) -> Iterator[Event]:
        """Every event: published files first (corrupt ones skipped with a warning), then pending.

        The files are read before any event is yielded: if compaction removed a listed file
        meanwhile, the scan lists again, so it never yields an event twice or misses one.
        """
        for name in (stream,) if stream else STREAMS:
            yield from self._scan_files(name)
        if include_pending:
            pending = self.pending()
            if stream in (None, "control"):
                yield from pending.control
            if stream in (None, "metric"):
                yield from pending.metric_events()

    def _scan_files(self, stream: Stream) -> list[Event]:
        def read_all() -> list[Event]:
            events: list[Event] = []
            for relpath in self.files(stream):
                try:
                    events.extend(self.read_events(relpath))
                except CorruptFileError as exc:
                    warnings.warn(str(exc), CorruptFileWarning, stacklevel=4)
            return events

        return relisting(read_all)

    @property
    def artifact_root(self) -> str:
        """``<root>/artifacts`` as a URI: ``file://…`` for a local store."""
        root = self.store.local_root
        return f"file://{root}/artifacts" if root is not None else f"{self.uri.rstrip('/')}/artifacts"

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

