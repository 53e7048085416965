"""Where the log's bytes live: a local folder or any fsspec filesystem.

A `Store` publishes immutable files atomically and idempotently, lists data files and reads
them back. Publishing never overwrites: a second publish of the same name reports "already
there" (so a retried flush that landed counts as done).

- `LocalStore` writes under ``_staging/``, fsyncs, then ``os.link``\\ s to the final name,
  which fails if it exists; the staging file is removed either way.
- `FsspecStore` makes one PUT with put-if-absent (fsspec mode ``"xb"``; S3 conditional
  writes). A self-test refuses a filesystem that overwrites silently: `open_store` runs it,
  or (``verify=False``, for a store that may be unreachable now) its first publish does.

Nothing whose name starts with ``_`` or ``.`` is ever data.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
import re
import stat
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any, BinaryIO, Protocol, runtime_checkable

from eventlog.errors import CorruptFileError, StorageError, StoreURIError, UnsupportedStoreError

__all__ = ["FsspecStore", "LocalStore", "Store", "check_store_uri", "is_data_path", "open_store", "split_uri"]


def is_data_path(relpath: str) -> bool:
    """True unless some part of the path starts with ``_`` or ``.``."""
    return not any(part[:1] in ("_", ".") for part in relpath.split("/") if part)


@runtime_checkable
class Store(Protocol):
    """The storage contract; ``tests/eventlog/test_storage.py`` runs it on every backend."""

    uri: str

    @property
    def local_root(self) -> str | None:
        """A local folder DuckDB can read directly, or None."""

    def publish(self, relpath: str, data: bytes, *, durable: bool = False) -> bool:
        """Create `relpath` with `data` unless it exists; True if this call created it."""

    def publish_stream(self, relpath: str, chunks: Iterable[bytes]) -> bool:
        """`publish` of a file written chunk by chunk (large artifacts); an exception from
        `chunks` leaves no file behind."""

    def list_files(self, prefix: str) -> list[str]:
        """Relative paths of the data files below `prefix`, sorted."""

    def list_all(self, prefix: str) -> list[str]:
        """Relative paths of every file below `prefix` (metadata such as ``_commits`` too), sorted."""

    def mtime(self, relpath: str) -> float:
        """Seconds since the epoch at which the file was last written."""

    def read_bytes(self, relpath: str, *, limit: int | None = None) -> bytes:
        """The whole file; `CorruptFileError` for one over `limit` bytes, or (local) for anything
        but a regular file: a FIFO would block, a device never end, a symlink lead out of the store."""

    def open_read(self, relpath: str) -> BinaryIO:
        """The file for reading in chunks (same refusals as `read_bytes`)."""

    def exists(self, relpath: str) -> bool: ...

    def delete(self, relpath: str) -> None: ...


class LocalStore:
    """A folder; created by the first publish, never by opening or reading."""

    def __init__(self, root: str) -> None:
        self.local_root = os.path.abspath(os.path.expanduser(root))
        self.uri = self.local_root
        if os.path.exists(self.local_root) and not os.path.isdir(self.local_root):
            raise UnsupportedStoreError(f"the store {self.local_root!r} is a file, not a folder; a tracklog store is a folder")
        self._listing: dict[str, tuple[int, list[str], list[str]]] = {}

    def _abs(self, relpath: str) -> str:
        parts = relpath.split("/")
        if ".." in parts or relpath.startswith("/"):  # a name listed by another store, say
            raise CorruptFileError(f"{relpath!r} would name a file outside the store {self.uri}: refused")
        return os.path.join(self.local_root, *parts)

    def publish(self, relpath: str, data: bytes, *, durable: bool = False) -> bool:
        return self._publish(relpath, (data,), durable=durable)

    def publish_stream(self, relpath: str, chunks: Iterable[bytes]) -> bool:
        return self._publish(relpath, chunks, durable=False)

    def _publish(self, relpath: str, chunks: Iterable[bytes], *, durable: bool) -> bool:
        final = self._abs(relpath)
        staging_dir = os.path.join(self.local_root, "_staging")
        os.makedirs(staging_dir, exist_ok=True)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = os.path.join(staging_dir, f"{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            try:
                os.link(tmp, final)
            except FileExistsError:
                return False
            if durable:
                _fsync_dir(os.path.dirname(final))
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def list_files(self, prefix: str) -> list[str]:
        out: list[str] = []
        pending = [self._abs(prefix)]
        while pending:
            dirs, files = self._scan(pending.pop())
            pending.extend(dirs)
            out.extend(files)
        out.sort()
        return out

    def _scan(self, path: str) -> tuple[list[str], list[str]]:
        """One folder's data subfolders and files, cached until the folder's mtime changes."""
        try:
            stamp = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return [], []
        cached = self._listing.get(path)
        # mtimes tick with a coarse clock: a folder changed within the last tick could change
        # again with the same mtime, so only an older mtime vouches for the cached listing
        if cached is not None and cached[0] == stamp and time.time_ns() - stamp > 200_000_000:
            return cached[1], cached[2]
        dirs, files = [], []
        rel = os.path.relpath(path, self.local_root).replace(os.sep, "/")
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name[:1] in ("_", "."):
                    continue
                if entry.is_dir():
                    dirs.append(entry.path)
                else:
                    files.append(f"{rel}/{entry.name}")
        self._listing[path] = (stamp, dirs, files)
        return dirs, files

    def list_all(self, prefix: str) -> list[str]:
        base = self._abs(prefix)
        out: list[str] = []
        for dirpath, _dirs, filenames in os.walk(base):
            rel = os.path.relpath(dirpath, self.local_root).replace(os.sep, "/")
            out.extend(f"{rel}/{f}" for f in filenames)
        return sorted(out)

    def mtime(self, relpath: str) -> float:
        return os.path.getmtime(self._abs(relpath))

    def read_bytes(self, relpath: str, *, limit: int | None = None) -> bytes:
        with self.open_read(relpath) as fh:
            data = fh.read() if limit is None else fh.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise CorruptFileError(f"{self.uri}/{relpath} is over {limit:,} bytes, more than such a file ever holds")
        return data

    def open_read(self, relpath: str) -> BinaryIO:
        path = self._abs(relpath)
        try:
            # no O_NOFOLLOW for the folders above: a store may live behind a symlinked folder
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CorruptFileError(f"{self.uri}/{relpath} is a symlink: a store's files are never "
                                       "followed elsewhere") from exc
            raise
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else "a device or socket"
            raise CorruptFileError(f"{self.uri}/{relpath} is {kind}, not a regular file: not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def exists(self, relpath: str) -> bool:
        return os.path.exists(self._abs(relpath))

    def delete(self, relpath: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._abs(relpath))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FsspecStore:
    def __init__(self, fs: Any, root: str, uri: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.uri = uri
        self.local_root = None
        self.verified = False  # the self-test passed: publishing is put-if-absent here
        self._verify_lock = threading.Lock()

    def _abs(self, relpath: str) -> str:
        return f"{self.root}/{relpath}"

    def publish(self, relpath: str, data: bytes, *, durable: bool = False) -> bool:
        if not self.verified:
            self.self_test()
        return self._put(relpath, data)

    def publish_stream(self, relpath: str, chunks: Iterable[bytes]) -> bool:
        if not self.verified:
            self.self_test()
        path = self._abs(relpath)
        try:
            out = self.fs.open(path, "xb", autocommit=False)  # S3: a multipart upload, conditional at the end
        except FileExistsError:
            return False
        try:
            for chunk in chunks:
                out.write(chunk)
            out.close()
            out.commit()
        except FileExistsError:
            return False
        except BaseException:
            with contextlib.suppress(Exception):
                out.discard()  # S3: aborts the multipart upload
            with contextlib.suppress(Exception):
                out.closed = True  # a discarded file must not commit when garbage-collected
            if getattr(out, "autocommit", True):  # a file visible from the start (memory://)
                with contextlib.suppress(Exception):
                    self.fs.rm_file(path)
            raise
        return True

    def _put(self, relpath: str, data: bytes) -> bool:
        try:
            with self.fs.open(self._abs(relpath), "xb") as fh:
                fh.write(data)
        except FileExistsError:
            return False
        return True

    def list_all(self, prefix: str) -> list[str]:
        base = self._abs(prefix).rstrip("/")
        self.fs.invalidate_cache(base)  # fsspec caches listings; a log's listing must be fresh
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        root = self.root.lstrip("/") + "/"
        return sorted(p.lstrip("/")[len(root):] for p in found if p.lstrip("/").startswith(root))

    def list_files(self, prefix: str) -> list[str]:
        return [rel for rel in self.list_all(prefix) if is_data_path(rel)]

    def mtime(self, relpath: str) -> float:
        info = self.fs.info(self._abs(relpath))
        stamp = info.get("LastModified") or info.get("mtime") or info.get("created")
        if hasattr(stamp, "timestamp"):
            return float(stamp.timestamp())
        return float(stamp or 0.0)

    def read_bytes(self, relpath: str, *, limit: int | None = None) -> bytes:
        path = self._abs(relpath)
        end = None if limit is None else limit + 1
        try:
            data = self.fs.cat_file(path, end=end)
        except FileNotFoundError:
            # s3fs answers "not found" from a cached listing of the folder: ask the store itself
            self.fs.invalidate_cache(path)
            data = self.fs.cat_file(path, end=end)
        if limit is not None and len(data) > limit:
            raise CorruptFileError(f"{self.uri}/{relpath} is over {limit:,} bytes, more than such a file ever holds")
        return data

    def open_read(self, relpath: str) -> BinaryIO:
        path = self._abs(relpath)
        self.fs.invalidate_cache(path)
        return self.fs.open(path, "rb")

    def exists(self, relpath: str) -> bool:
        self.fs.invalidate_cache(self._abs(relpath))
        return self.fs.exists(self._abs(relpath))

    def delete(self, relpath: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._abs(relpath))


    def self_test(self) -> None:
        """Refuse a filesystem whose ``"xb"`` mode silently overwrites: publishing would double-count.

        Raises:
            UnsupportedStoreError: a second exclusive create of one file succeeded.
            StorageError: the store could not be written (unreachable, no permission…).
        """
        with self._verify_lock:
            if not self.verified:
                self._self_test()
                self.verified = True

    def probe(self) -> None:
        """Write, re-create and delete a probe file: raises `StorageError` unless the store answers."""
        self._self_test()

    def _self_test(self) -> None:
        probe = f"_selftest/{uuid.uuid4().hex}"
        try:
            self._put(probe, b"1")
            if self._put(probe, b"2"):
                raise UnsupportedStoreError(
                    f"the store {self.uri!r} does not support put-if-absent: a second exclusive "
                    "create of the same file succeeded; tracklog needs it to publish exactly once "
                    "(on S3 this needs conditional writes, available on AWS S3, MinIO and moto)"
                )
        except UnsupportedStoreError:
            raise
        except Exception as exc:  # botocore and friends raise their own types for a dead endpoint
            raise StorageError(f"cannot write to the store {self.uri!r}: {type(exc).__name__}: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                self.delete(probe)


def split_uri(uri: str) -> tuple[str, str]:
    """``(protocol, rest)``; a bare path or ``file:`` URI gives ``("file", absolute path)``."""
    if "://" not in uri:
        if uri.startswith("file:"):
            uri = uri[5:]
        return "file", os.path.abspath(os.path.expanduser(uri))
    protocol, rest = uri.split("://", 1)
    if protocol == "file":
        return "file", os.path.abspath(rest or "/")
    return protocol, rest


# "s3:/bucket", "s3:bucket" (a scheme, then no "//"), or "s3//bucket" (a known scheme without its colon)
_SCHEME_TYPO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]+)(?P<sep>:/?|//)(?P<rest>[^/].*)?$")
_SERVER_SCHEMES = ("http", "https")


def _protocols() -> list[str]:
    import fsspec
    from fsspec.registry import registry  # implementations registered at run time, too

    return sorted({*fsspec.available_protocols(), *registry, *_SERVER_SCHEMES})


def check_store_uri(uri: str) -> None:
    """Refuse a store URI that looks mistyped, with a suggestion; a plain folder path passes.

    >>> check_store_uri("s3:/bucket/x")
    Traceback (most recent call last):
    ...
    eventlog.errors.StoreURIError: 's3:/bucket/x' looks like a URI with a mistyped scheme: did you mean s3://bucket/x? (a local folder of that name: write ./s3:/bucket/x)
    """
    if "://" in uri:
        scheme, rest = uri.split("://", 1)
        if scheme == "file" or scheme in _protocols():
            return
        guess = _guess_scheme(scheme)
        hint = f"did you mean {guess}://{rest}? A" if guess else "a"
        raise StoreURIError(
            f"{uri!r}: no filesystem for {scheme!r} is known; {hint} store is a folder, file://…, "
            f"an fsspec URL such as s3://bucket/prefix or memory://name, or a tracking server's http(s)://…"
        )
    match = _SCHEME_TYPO.match(uri)
    if match is None or match["scheme"] == "file":
        return
    guess = _guess_scheme(match["scheme"])
    if guess is None and match["sep"] == "//":
        return  # "runs//x" is just a relative folder with a doubled slash
    suggestion = f": did you mean {guess}://{(match['rest'] or '').lstrip('/')}?" if guess else ""
    raise StoreURIError(
        f"{uri!r} looks like a URI with a mistyped scheme{suggestion} (a local folder of that name: write ./{uri})"
    )


def _guess_scheme(scheme: str) -> str | None:
    known = _protocols()
    if scheme.lower() in known:
        return scheme.lower()
    close = difflib.get_close_matches(scheme.lower(), known, n=1, cutoff=0.75)
    return close[0] if close else None


def _missing_filesystem(uri: str, protocol: str, exc: Exception) -> UnsupportedStoreError:
    from fsspec.registry import known_implementations

    if protocol in ("s3", "s3a"):
        hint = "install the s3 extra: pip install 'tracklog[s3]' (s3fs)"
    else:
        hint = known_implementations.get(protocol, {}).get("err") or f"install the fsspec implementation of {protocol}://"
    return UnsupportedStoreError(f"no filesystem for {protocol}:// in {uri!r}: {hint} ({type(exc).__name__}: {exc})")


def open_store(uri: str, *, verify: bool = True, **storage_options: Any) -> Store:
    """Open a store at `uri`: a path, ``file://…``, or any fsspec URL (``s3://``, ``memory://``…).

    A local folder is not created here: the first publish creates it. With `verify` False an
    fsspec store is not contacted here: its self-test runs before its first publish.

    Raises:
        StoreURIError: `uri` looks mistyped (``s3:/bucket``, ``memroy://x``); the message suggests a fix.
        UnsupportedStoreError: a server URL, a protocol whose package is missing, or no put-if-absent.
    """
    check_store_uri(uri)
    protocol, rest = split_uri(uri)
    if protocol == "file":
        return LocalStore(rest)
    if protocol in _SERVER_SCHEMES:
        raise UnsupportedStoreError(
            f"{uri!r} is a tracking server URL, not an event store; open it with tracklog.Client"
        )
    try:
        import fsspec

        fs = fsspec.filesystem(protocol, **storage_options)
    except (ImportError, ValueError) as exc:
        raise _missing_filesystem(uri, protocol, exc) from exc
    root = fs._strip_protocol(uri)
    store = FsspecStore(fs, root, uri)
    if verify:
        store.self_test()
    return store
