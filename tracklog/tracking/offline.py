"""Logging through a tracking server that went away: the local WAL, published to the server.

A `RestStore` sends each logging call as one HTTP request. When a data call for an existing run
finds the server unreachable (connection refused or reset, a timeout, 502/503/504), the process
goes *offline* for that server (`OfflineLog`): from then on its data calls (metric points,
params, tags, tag deletes, run status and name changes, heartbeats) append to an
`eventlog.writer.Writer` with a WAL, exactly as a process logging to an ``s3://`` store does,
and the writer's flusher publishes each batch as Parquet segments to the server's
``PUT /api/2.0/tracklog/segments/<segment path>`` (`ServerSegments`). The server checks a
segment and stores it put-if-absent under its name, which depends only on its events, so a
retried or replayed segment lands once. ``TRACKLOG_PUBLISH_WAIT``, ``TRACKLOG_WAL_LIMIT`` and
the exit message apply unchanged.

The process stays offline for that server until it exits, even once the server is back: its
events keep one order (the writer's), and a call never waits again for a server that hangs.
The writer ids live in a namespace the server enforces (`namespace_for`): ``rest.`` and, when
the server signs users in, a digest of the user name, so one client cannot take another's
segment names.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import os
import re
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any, BinaryIO

from eventlog.errors import InvalidInputError, StorageError, TracklogError, UnsupportedStoreError
from eventlog.log import default_actor, local_cache, publish_settings
from eventlog.writer import Writer, _warm_up, _warn, recover_wal_events
from tracklog._http import Http, read

__all__ = ["OFFLINE_FLUSH_EVENTS", "OfflineLog", "ServerSegments", "checked_namespace", "local_namespace", "log_timeout",
           "namespace_for", "namespace_of", "publish_server_wal", "unreachable"]

SEGMENTS = "/api/2.0/tracklog/segments/"
NAMESPACE = "/api/2.0/tracklog/segments-namespace"
# events per published segment while offline: a segment is one request body, well under a
# server's --max-body-size (16 MB by default) even for long param and tag values
OFFLINE_FLUSH_EVENTS = 10_000
_AWAY = (502, 503, 504)  # a proxy without its server, a server that cannot take writes now, a gateway timeout


def log_timeout() -> float:
    """``TRACKLOG_LOG_TIMEOUT``: seconds a logging call waits for a server that does not answer
    (accepts, then hangs) before the process logs offline (default 10; at most the HTTP timeout)."""
    text = os.environ.get("TRACKLOG_LOG_TIMEOUT", "")
    try:
        seconds = float(text) if text else 10.0
    except ValueError:
        raise InvalidInputError(f"TRACKLOG_LOG_TIMEOUT: expected seconds such as 10 or 2.5, got {text!r}") from None
    if seconds <= 0:
        raise InvalidInputError(f"TRACKLOG_LOG_TIMEOUT: expected seconds > 0, got {text!r}")
    return min(seconds, float(os.environ.get("TRACKLOG_HTTP_TIMEOUT", "120")))


def namespace_for(username: str | None) -> str:
    """The writer-id prefix a server gives a caller: ``rest.`` for an open server (it knows no
    users), ``rest.<digest of the user name>.`` for a signed-in user."""
    if username is None:
        return "rest."
    return f"rest.{hashlib.sha256(username.encode()).hexdigest()[:16]}."


def checked_namespace(value: Any) -> str | None:
    """A namespace a server answered, if it is one `namespace_for` could have given."""
    text = str(value or "")
    return text if re.fullmatch(r"rest\.(?:[0-9a-f]{16}\.)?", text) else None


def unreachable(exc: BaseException) -> bool:
    """Whether a failed call means the server is away (worth waiting for), not that it refused."""
    status = getattr(exc, "http_status", None)
    if status is not None:
        return status in _AWAY
    return isinstance(exc, StorageError)  # Http raises it for connection errors and timeouts


class ServerSegments:
    """A tracking server as the `eventlog.storage.Store` a writer publishes to: `publish` PUTs
    one segment to the server, which stores it put-if-absent. Nothing else of the contract is
    served (the writer only publishes).

    A segment the server refuses (4xx: a run deleted meanwhile, a permission revoked) would stop
    every later one behind it: it is moved to ``<wal>/rejected/`` with one warning line naming it
    and the server's reason, and counts as done.
    """

    local_root = None

    def __init__(self, http: Http, rejected_dir: str | None = None) -> None:
        self.http = http
        self.uri = http.base_url
        self.rejected_dir = rejected_dir

    def publish(self, relpath: str, data: bytes, *, durable: bool = False) -> bool:
        path = SEGMENTS + urllib.parse.quote(relpath, safe="/=")
        resp = self.http.request("PUT", path, data, {"Content-Type": "application/vnd.apache.parquet"})
        body = read(resp)
        if 200 <= resp.status < 300:
            import json

            return bool(json.loads(body or b"{}").get("created", True))
        error = self.http.error(resp, body, "segments")
        if unreachable(error):
            raise StorageError(f"could not publish {relpath} to {self.uri}: {error}") from error
        self._reject(relpath, data, error)
        return False

    def _reject(self, relpath: str, data: bytes, error: TracklogError) -> None:
        where = "(not kept: no WAL)"
        if self.rejected_dir is not None:
            os.makedirs(self.rejected_dir, exist_ok=True)
            where = os.path.join(self.rejected_dir, relpath.rsplit("/", 1)[-1])
            with open(where, "wb") as fh:
                fh.write(data)
        _warn("tracklog: %s refused the segment %s of events logged while it was away: %s; it is kept at %s",
              self.uri, relpath, error, where)

    def publish_stream(self, relpath: str, chunks: Iterable[bytes]) -> bool:
        return self.publish(relpath, b"".join(chunks))

    def _no(self, what: str) -> UnsupportedStoreError:
        return UnsupportedStoreError(f"{what}: {self.uri} is a tracking server; its segments are only published to")

    def list_files(self, prefix: str) -> list[str]:
        raise self._no("list_files")

    def list_all(self, prefix: str) -> list[str]:
        raise self._no("list_all")

    def mtime(self, relpath: str) -> float:
        raise self._no("mtime")

    def read_bytes(self, relpath: str, *, limit: int | None = None) -> bytes:
        raise self._no("read_bytes")

    def open_read(self, relpath: str) -> BinaryIO:
        raise self._no("open_read")

    def exists(self, relpath: str) -> bool:
        raise self._no("exists")

    def delete(self, relpath: str) -> None:
        raise self._no("delete")


def local_namespace(http: Http) -> str | None:
    """The namespace the server gives this process's credentials, if it can be told without
    asking: none (an open server), or a basic-auth user name. None for a token."""
    header = http.headers.get("Authorization", "")
    if not header:
        return namespace_for(None)
    if header.startswith("Basic "):
        return namespace_for(base64.b64decode(header[6:]).decode().partition(":")[0])
    return None


def namespace_of(http: Http) -> str | None:
    """`local_namespace`, else the server's answer (``GET …/segments-namespace``); None if the
    server does not say (not a tracklog server, or away)."""
    found = local_namespace(http)
    if found is not None:
        return found
    try:
        resp = http.request("GET", NAMESPACE)
        return checked_namespace(http.reply(resp, read(resp), "segments-namespace").get("namespace"))
    except (TracklogError, ValueError):
        return None


def _segments(http: Http, namespace: str) -> tuple[ServerSegments, str]:
    """The server's segment target and this machine's WAL folder for it and one namespace: a
    process publishes only WALs of its own namespace (another user's would be refused)."""
    probe = ServerSegments(http)
    wal_dir = os.path.join(local_cache(probe, "wal", "_wal"), namespace.rstrip("."))  # type: ignore[arg-type]
    probe.rejected_dir = os.path.join(wal_dir, "rejected")
    return probe, wal_dir


def publish_server_wal(http: Http, namespace: str | None = None) -> tuple[int, int]:
    """Publish what waits in this machine's WAL for the server and the caller's namespace (left
    by processes that ended while it was away; ``tracklog sync http://…``): WAL segments and
    events published.

    Raises:
        StorageError: the server is away (nothing is lost: run it again later).
        UnsupportedStoreError: the server does not say which namespace the credentials have.
    """
    namespace = namespace or namespace_of(http)
    if namespace is None:
        raise UnsupportedStoreError(f"{http.base_url} did not say which writer ids these credentials have (GET "
                                    f"{NAMESPACE}): is it a tracklog server, and is it up?")
    store, wal_dir = _segments(http, namespace)
    return recover_wal_events(store, wal_dir)  # type: ignore[arg-type]


def has_waiting(http: Http, namespace: str) -> bool:
    """Whether this machine's WAL for the server and namespace holds anything (one listing)."""
    _, wal_dir = _segments(http, namespace)
    try:
        return any(name.endswith(".wal") for name in os.listdir(wal_dir))
    except FileNotFoundError:
        return False


class OfflineLog:
    """The writer this process's data calls go to once the server was found away."""

    def __init__(self, http: Http, namespace: str, cause: BaseException) -> None:
        store, wal_dir = _segments(http, namespace)
        wal_limit, publish_wait = publish_settings()
        durability: Any = os.environ.get("TRACKLOG_DURABILITY", "wal")
        self.writer = Writer(store, wal_dir, actor=default_actor(), durability=durability,  # type: ignore[arg-type]
                             flush_events=OFFLINE_FLUSH_EVENTS, wal_limit=wal_limit, publish_wait=publish_wait,
                             id_prefix=namespace)
        self.writer.recover_before_publishing()  # dead processes' WALs for this server go first
        self.writer.unreachable(cause)  # offline from the start: the one warning line, the backoff


_recovering: set[str] = set()
_recovering_lock = threading.Lock()


def recover_in_background(http: Http, namespace: str) -> None:
    """Publish dead processes' WALs for this server on a daemon thread (once per process and
    server), if there are any: the next process using the server picks them up."""
    with _recovering_lock:
        if http.base_url in _recovering or not has_waiting(http, namespace):
            return
        _recovering.add(http.base_url)

    # pyarrow imports modules that register exit hooks: import them now, not while the
    # interpreter exits (the join below may let the publish run then)
    import concurrent.futures.thread  # noqa: F401

    def run() -> None:
        try:
            _warm_up()
            publish_server_wal(http, namespace)
        except Exception as exc:  # noqa: BLE001 - the server away again: the next process tries
            _warn("tracklog: could not publish what waits in the local WAL for %s yet: %s", http.base_url, exc)

    thread = threading.Thread(target=run, name="tracklog-server-wal", daemon=True)
    thread.start()
    atexit.register(thread.join, publish_settings()[1])  # a short-lived process: give it TRACKLOG_PUBLISH_WAIT
