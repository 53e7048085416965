"""Artifacts: a run's files, kept under its artifact URI on any fsspec filesystem.

Two layers, top to bottom:

- MLflow's ``mlflow.artifacts`` module: `download_artifacts`, `list_artifacts`, `load_text`,
  `load_dict`, `load_image`, taking ``runs:/<run_id>/<path>`` URIs or run ids;
- the transfer layer: `upload`, `download`, `list_uri`, `resolve_artifact_uri`,
  `validate_artifact_path`, on a folder, ``file://…``, any fsspec URL, or a tracking server's
  artifact proxy (``mlflow-artifacts:``, `tracklog.artifacts._proxy`).

This package knows no tracking store: a ``runs:/`` URI is resolved by the `RUNS_URI_RESOLVERS`
that the layers above register (`tracklog.tracking` the run's artifact root, `tracklog.models`
a run's logged models by name). `tracklog.Client` logs a run's artifacts with `upload` and
records one `ArtifactLogged` event (path, size, sha256) per file.

Transfers stream in chunks of `CHUNK_SIZE` (a file is never read whole into memory) and hash
as they go; a progress bar (stderr) shows transfers over 64 MB. A file lands whole or not at
all: locally it is written under a hidden name and renamed, on object stores the upload is
committed only once complete. An artifact path that would leave its run's folder (``..``, an
absolute or drive path, a backslash, NUL, an empty segment) raises `InvalidArtifactPathError`.

>>> import tempfile, tracklog
>>> tracklog.set_tracking_uri(tempfile.mkdtemp())
>>> with tracklog.start_run() as run:
...     tracklog.log_text("hello", "notes/readme.txt")
>>> [f.path for f in tracklog.MlflowClient().list_artifacts(run.info.run_id, "notes")]
['notes/readme.txt']
>>> load_text(f"runs:/{run.info.run_id}/notes/readme.txt")
'hello'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from eventlog.errors import (
    ArtifactNotFoundError,
    InvalidArtifactPathError,
    InvalidInputError,
    InvalidValueError,
    StorageError,
    TracklogError,
    UnsupportedStoreError,
)
from eventlog.storage import split_uri
from projections.entities import FileInfo

__all__ = [
    "CHUNK_SIZE",
    "MODELS_URI_RESOLVERS",
    "RUNS_URI_RESOLVERS",
    "check_no_links",
    "download",
    "download_artifacts",
    "join_path",
    "join_uri",
    "list_artifacts",
    "list_uri",
    "load_dict",
    "load_image",
    "load_text",
    "resolve_artifact_uri",
    "run_artifact_path",
    "run_download",
    "split_models_uri",
    "upload",
    "validate_artifact_path",
]

CHUNK_SIZE = 8 << 20  # bytes per read and write while streaming
PROGRESS_THRESHOLD = 64 << 20  # a transfer larger than this shows a progress bar
_PARTIAL = ".tracklog-partial-"  # infix of a local file still being written; never listed

RunsUriResolver = Callable[[str, str, "str | None"], "str | None"]
RUNS_URI_RESOLVERS: list[RunsUriResolver] = []
"""Tried in order by `resolve_artifact_uri` on ``runs:/<run_id>/<path>``:
``resolver(run_id, path, tracking_uri)`` returns a URI, or None to pass. ``tracklog.models``
puts its logged-model resolver first; ``tracklog.tracking`` appends the last one, the run's
artifact URI + path."""

ModelsUriResolver = Callable[[str, "str | None"], "str | None"]
MODELS_URI_RESOLVERS: list[ModelsUriResolver] = []
"""Tried in order by `resolve_artifact_uri` on ``models:/<model>[/<path>]``:
``resolver("models:/<model>", tracking_uri)`` returns the model folder's URI, or None to pass.
``tracklog.tracking`` appends the one that asks the store (logged models and the registry)."""

Written = list[tuple[str, int, str]]  # (relative path, size in bytes, sha256 hex) per file
OnFile = Callable[[str, int, str], None]


# ---- paths --------------------------------------------------------------------------------

_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_artifact_path(path: str | None) -> str:
    """A run-relative artifact path, checked and normalised (``'a/./b/'`` → ``'a/b'``).

    None, ``''`` and ``'.'`` mean the run's artifact root and give ``''``. One trailing ``/`` is
    dropped. The percent-decoded form is checked too, for stores that decode.

    Raises:
        InvalidArtifactPathError: ``..`` segments, absolute paths, drive letters, backslashes,
            NUL and other control characters, empty segments (``a//b``), non-strings.

    >>> validate_artifact_path("plots/./loss.png")
    'plots/loss.png'
    >>> validate_artifact_path("../secrets")
    Traceback (most recent call last):
    ...
    eventlog.errors.InvalidArtifactPathError: artifact path '../secrets' has a '..' segment; expected a relative path with '/' between names that stays inside the run's artifact folder
    """
    if path is None or path == "":
        return ""
    if not isinstance(path, str):
        raise InvalidArtifactPathError(
            f"artifact path must be a string, got {type(path).__name__} {path!r}"
        )
    from urllib.parse import unquote

    problem = _path_problem(path) or _path_problem(unquote(path))
    if problem:
        raise InvalidArtifactPathError(
            f"artifact path {path!r} {problem}; expected a relative path with '/' between names "
            "that stays inside the run's artifact folder"
        )
    return "/".join(p for p in _drop_slash(path).split("/") if p != ".")


def _path_problem(path: str) -> str | None:
    if "\x00" in path:
        return "contains a NUL character"
    if _CONTROL.search(path):
        return "contains a control character"
    if "\\" in path:
        return "contains a backslash (separate folders with '/')"
    if path.startswith("/"):
        return "is absolute"
    if _DRIVE.match(path):
        return "starts with a drive letter"
    segments = _drop_slash(path).split("/")
    if ".." in segments:
        return "has a '..' segment"
    if "" in segments:
        return "has an empty segment ('//')"
    return None


def _drop_slash(path: str) -> str:
    return path[:-1] if path.endswith("/") else path


def join_uri(uri: str, rel: str) -> str:
    """A URI and a relative path joined with one slash."""
    return f"{uri.rstrip('/')}/{rel}" if rel else uri


def join_path(prefix: str, rel: str) -> str:
    """Two relative artifact paths joined (either may be empty)."""
    return f"{prefix}/{rel}" if prefix and rel else prefix or rel


def check_no_links(root_uri: str, rel: str, *, root_may_link: bool = False) -> None:
    """Raise `InvalidArtifactPathError` if the path `rel` under the local folder `root_uri` passes
    through a symbolic link (or `root_uri` is one, unless `root_may_link`: an operator may make
    the artifact destination a link). A link in a run's artifact folder could lead anywhere — the
    filesystem, another run's files — so artifacts are never read, listed or written through one.
    Object stores have no links: nothing to check there."""
    protocol, root = split_uri(root_uri)
    if protocol != "file":
        return
    if not root_may_link and os.path.islink(root.rstrip("/")):
        raise InvalidArtifactPathError(f"the artifact folder {root_uri} is a symbolic link; artifacts are never read "
                                       "through links")
    path = root
    for part in rel.split("/") if rel else ():
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise InvalidArtifactPathError(
                f"artifact path {rel!r} passes through a symbolic link ({part!r}); artifacts are never read through links")


def resolve_artifact_uri(uri: str, tracking_uri: str | None = None) -> str:
    """The concrete URI behind `uri`.

    ``runs:/<run_id>/<path>`` becomes the run's artifact URI + path (the `RUNS_URI_RESOLVERS`
    are asked first); a plain local path becomes an absolute path; other URIs are returned as
    they are.

    Raises:
        InvalidInputError: a malformed ``runs:`` URI (`InvalidArtifactPathError` for its path).
        RunNotFoundError: no such run in the tracking store.
    """
    uri = os.fspath(uri)
    if uri.startswith("runs:"):
        return _resolve_runs_uri(uri, tracking_uri)
    if uri.startswith("models:"):
        return _resolve_models_uri(uri, tracking_uri)
    if "://" not in uri:
        return os.path.abspath(os.path.expanduser(uri.removeprefix("file:")))
    return uri


_RUNS_URI = re.compile(r"runs:/([^/]+)(?:/(.*))?")


def _resolve_runs_uri(uri: str, tracking_uri: str | None) -> str:
    match = _RUNS_URI.fullmatch(uri)
    if match is None:
        raise InvalidInputError(f"{uri!r} is not a runs URI: expected runs:/<run_id>/<path>")
    run_id, path = match.group(1), validate_artifact_path(match.group(2))
    for resolver in list(RUNS_URI_RESOLVERS):
        found = resolver(run_id, path, tracking_uri)
        if found is not None:
            return found
    raise UnsupportedStoreError(f"{uri!r}: no resolver for runs:/ URIs is registered (import tracklog first)")


_LOGGED_MODEL = re.compile(r"m-[0-9a-f]{32}")


def split_models_uri(uri: str) -> tuple[str, str]:
    """``models:/m-<id>/a/b`` → (``models:/m-<id>``, ``a/b``); ``models:/name/3/a`` and
    ``models:/name@alias/a`` → the model part and ``a`` (MLflow's reading)."""
    if not uri.startswith("models:/"):
        raise InvalidInputError(f"{uri!r} is not a models URI: expected models:/<model_id>[/<path>]")
    parts = uri[len("models:/"):].strip("/").split("/")
    head = 1 if _LOGGED_MODEL.fullmatch(parts[0]) or "@" in parts[0] else 2
    if not parts[0] or len(parts) < head:
        raise InvalidInputError(f"{uri!r}: expected models:/<model_id>, models:/<name>/<version> or models:/<name>@<alias>")
    return "models:/" + "/".join(parts[:head]), "/".join(parts[head:])


def _resolve_models_uri(uri: str, tracking_uri: str | None) -> str:
    model, path = split_models_uri(uri)
    path = validate_artifact_path(path) if path else ""
    for resolver in list(MODELS_URI_RESOLVERS):
        found = resolver(model, tracking_uri)
        if found is not None:
            return join_uri(found, path) if path else found
    raise UnsupportedStoreError(f"{uri!r}: no resolver for models:/ URIs is registered (import tracklog first)")


# ---- filesystems ----------------------------------------------------------------------------


class _Location(NamedTuple):
    """A place on a filesystem: the fsspec filesystem, its path there, and the URI for messages."""

    fs: Any
    path: str
    uri: str
    local: bool

    def child(self, rel: str) -> _Location:
        if not rel:
            return self
        sep = os.sep if self.local else "/"
        return self._replace(path=f"{self.path.rstrip(sep)}{sep}{rel.replace('/', sep)}", uri=join_uri(self.uri, rel))


def _locate(uri: str) -> _Location:
    import fsspec

    uri = os.fspath(uri)
    if uri.startswith("runs:"):
        uri = resolve_artifact_uri(uri)
    if uri.startswith("mlflow-artifacts:"):  # a tracking server's artifact proxy
        from tracklog.artifacts._proxy import (
            artifacts_location,  # fsspec's filesystem base: heavy, loaded here
        )

        fs, path = artifacts_location(uri)
        return _Location(fs, path, uri, False)
    if uri.startswith("models:"):
        raise InvalidInputError(f"{uri!r} is a model URI; resolve it with tracklog.models first")
    protocol, rest = split_uri(uri)
    if protocol == "file":
        return _Location(fsspec.filesystem("file"), rest, uri, True)
    if protocol in ("http", "https", "mlflow-artifacts"):
        raise UnsupportedStoreError(
            f"artifact URI {uri!r} needs a tracking server or model resolver; tracklog reads "
            "artifacts from a folder, file://… or an fsspec URL (s3://…, memory://…)"
        )
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        raise UnsupportedStoreError(
            f"no filesystem for {protocol!r} in artifact URI {uri!r}: {exc} (for s3:// install tracklog[s3])"
        ) from exc
    return _Location(fs, path, uri, False)


@contextlib.contextmanager
def _io_errors(what: str) -> Iterator[None]:
    """Filesystem failures as `StorageError` naming what was being done (the cause chained)."""
    try:
        yield
    except TracklogError:
        raise
    except OSError as exc:
        raise StorageError(f"{what}: {type(exc).__name__}: {exc}") from exc


def _fresh(loc: _Location) -> None:
    """Drop fsspec's cached listings (s3fs answers from them): an artifact may have just landed."""
    with contextlib.suppress(Exception):
        loc.fs.invalidate_cache(loc.path)


# ---- progress -------------------------------------------------------------------------------


def _show_progress(total: int, progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    env = os.environ.get("TRACKLOG_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    return env in ("1", "true", "yes", "on") or total > PROGRESS_THRESHOLD


@contextlib.contextmanager
def _progress(total: int, desc: str, progress: bool | None) -> Iterator[Callable[[int], object]]:
    """A callback taking byte counts: a tqdm bar on stderr for large transfers, else a no-op."""
    if not _show_progress(total, progress):
        yield _ignore
        return
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety; tqdm is optional
        yield _ignore
        return
    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
              file=sys.stderr, mininterval=0.5, dynamic_ncols=True) as bar:
        yield bar.update


def _ignore(n: int) -> None:
    return None


# ---- streaming ------------------------------------------------------------------------------


def _stream(read_into: Callable[[Any], int | None], write: Callable[[Any], object],
            tick: Callable[[int], object], *, hashed: bool = True) -> tuple[int, str]:
    """Copy chunk by chunk through one reused buffer, hashing on the way; (size, sha256 or '')."""
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    digest = hashlib.sha256() if hashed else None
    size = 0
    while n := read_into(buf):
        chunk = view[:n]
        if digest is not None:
            digest.update(chunk)
        write(chunk)
        size += n
        tick(n)
    return size, digest.hexdigest() if digest is not None else ""


def _stream_hashing_aside(read_into: Callable[[Any], int | None], write: Callable[[Any], object],
                          tick: Callable[[int], object]) -> tuple[int, str]:
    """`_stream` for large files: chunk i is hashed on a second thread while chunk i+1 is read
    and written (hashlib and file I/O release the GIL), so sha256 costs little wall time.

    Two buffers take turns; at most one hash is in flight, on the buffer not being filled.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    views = [memoryview(bytearray(CHUNK_SIZE)), memoryview(bytearray(CHUNK_SIZE))]
    digest = hashlib.sha256()
    size = 0
    pending: Future[None] | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="tracklog-sha256") as pool:
        try:
            while n := read_into(views[0]):
                chunk = views[0][:n]
                write(chunk)
                if pending is not None:
                    pending.result()
                views.reverse()  # the next read fills the other buffer while this one is hashed
                pending = pool.submit(digest.update, chunk)
                size += n
                tick(n)
        finally:
            if pending is not None:
                pending.result()
    return size, digest.hexdigest()


def _kernel_copy(fin: Any, out: Any, tick: Callable[[int], object]) -> tuple[int, str]:
    """Local to local without the bytes passing through Python (as ``shutil.copyfile`` on Linux);
    no hash: a download needs none."""
    size = 0
    while True:
        try:
            n = os.sendfile(out.fileno(), fin.fileno(), None, _SENDFILE_CHUNK)
        except OSError:
            if size:
                raise
            return _stream(fin.readinto, out.write, tick, hashed=False)  # a filesystem without sendfile
        if not n:
            return size, ""
        size += n
        tick(n)


_SENDFILE_CHUNK = 64 << 20


def _write_local(path: str, copy: Callable[[Any], tuple[int, str]]) -> tuple[int, str]:
    """Write under a hidden partial name in the same folder, then rename: whole or nothing."""
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name}{_PARTIAL}{uuid.uuid4().hex[:12]}")
    try:
        with open(tmp, "wb") as out:
            result = copy(out)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return result


def _write_remote(dest: _Location, copy: Callable[[Any], tuple[int, str]]) -> tuple[int, str]:
    """One upload committed at the end (S3: a multipart upload completed, or aborted on error)."""
    fs = dest.fs
    if not _flat(fs):
        fs.makedirs(posixpath.dirname(dest.path), exist_ok=True)
    out = fs.open(dest.path, "wb", autocommit=False)
    try:
        result = copy(out)
        out.close()
        out.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            out.discard()  # S3: aborts the multipart upload
        with contextlib.suppress(Exception):
            out.closed = True  # a discarded file must not commit when garbage-collected
        if getattr(out, "autocommit", True):  # a file that was live from the start (memory://)
            with contextlib.suppress(Exception):
                fs.rm_file(dest.path)
        raise
    return result


def _flat(fs: Any) -> bool:
    """Object stores have no folders to create (and s3fs's makedirs would create buckets)."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return bool({"s3", "s3a", "gs", "gcs", "abfs", "az", "adl", "memory"} & set(protocols))


def _put_file(src: Path, size: int, dest: _Location, tick: Callable[[int], object]) -> tuple[int, str]:
    stream = _stream_hashing_aside if size > 2 * CHUNK_SIZE else _stream
    with open(src, "rb") as fin:
        def copy(out: Any) -> tuple[int, str]:
            return stream(fin.readinto, out.write, tick)

        return _write_local(dest.path, copy) if dest.local else _write_remote(dest, copy)


def _get_file(src: _Location, dst: Path, tick: Callable[[int], object]) -> None:
    if src.local and hasattr(os, "sendfile"):
        with open(src.path, "rb") as fin:
            _write_local(str(dst), lambda out: _kernel_copy(fin, out, tick))
        return
    with src.fs.open(src.path, "rb", block_size=CHUNK_SIZE) as fin:
        _write_local(str(dst), lambda out: _stream(fin.readinto, out.write, tick, hashed=False))


# ---- the transfer layer ---------------------------------------------------------------------


def _local_files(src: Path) -> list[tuple[Path, str, int]]:
    """(file, path relative to `src`, size) for a file (its name) or every file under a folder."""
    if src.is_file():
        return [(src, src.name, src.stat().st_size)]
    if not src.is_dir():
        what = "is not a file or a folder" if src.exists() else "does not exist"
        raise InvalidInputError(f"cannot upload {str(src)!r}: it {what}")
    out = []
    for dirpath, _dirnames, filenames in os.walk(src):
        for name in filenames:
            full = Path(dirpath, name)
            rel = full.relative_to(src).as_posix()
            validate_artifact_path(rel)
            out.append((full, rel, full.stat().st_size))
    return sorted(out, key=lambda f: f[1])


def upload(local_path: str | os.PathLike[str], dest_uri: str, *, progress: bool | None = None,
           on_file: OnFile | None = None) -> Written:
    """Copy a local file, or every file under a local folder, to `dest_uri`, streaming.

    A file lands at ``<dest_uri>/<its name>``; a folder's files at ``<dest_uri>/<path inside
    it>``. Existing files are replaced.

    Args:
        local_path: the file or folder to copy.
        dest_uri: a folder, ``file://…`` or fsspec URL (``s3://bucket/x``, ``memory://x``).
        progress: show a progress bar (stderr); None: only above 64 MB in total, or as
            ``TRACKLOG_PROGRESS`` says.
        on_file: called with ``(relative_path, size, sha256)`` as each file lands.

    Returns:
        ``(relative_path, size, sha256)`` of every file written, relative to `dest_uri`.

    Raises:
        InvalidInputError: `local_path` does not exist.
        InvalidArtifactPathError: a file name inside the folder is not a safe artifact path.
        StorageError: reading or writing failed (the message names the file).
    """
    src = Path(os.fspath(local_path)).expanduser()
    files = _local_files(src)
    dest = _locate(dest_uri)
    written: Written = []
    with _progress(sum(size for *_, size in files), f"upload {src.name}", progress) as tick:
        for path, rel, expected in files:
            target = dest.child(rel)
            with _io_errors(f"cannot upload {str(path)!r} to {target.uri}"):
                size, digest = _put_file(path, expected, target, tick)
            written.append((rel, size, digest))
            if on_file is not None:
                on_file(rel, size, digest)
    return written


def download(src_uri: str, dst_path: str | os.PathLike[str], *, progress: bool | None = None) -> Path:
    """Copy the file or folder at `src_uri` into the local folder `dst_path`, streaming.

    It lands at ``<dst_path>/<its name>`` (the folder is created if needed); ``runs:/`` URIs are
    resolved against the current tracking URI.

    Returns:
        The local path of what was downloaded.

    Raises:
        ArtifactNotFoundError: nothing at `src_uri`.
        InvalidArtifactPathError: a remote name that would land outside `dst_path`.
        StorageError: reading or writing failed.
    """
    src = _locate(src_uri)
    name = posixpath.basename(src.path.replace(os.sep, "/").rstrip("/"))
    if not name:
        raise InvalidInputError(f"cannot download {src_uri!r}: it names no file or folder (a bucket or filesystem root)")
    target = Path(os.fspath(dst_path)).expanduser().absolute() / name
    _fetch(src, target, progress)
    return target


def _fetch(src: _Location, target: Path, progress: bool | None) -> None:
    """Copy the file or tree at `src` to exactly `target`."""
    files = _remote_files(src)
    if files is None:
        with _io_errors(f"cannot create {str(target)!r}"):
            target.mkdir(parents=True, exist_ok=True)
        return
    with _progress(sum(size for *_, size in files), f"download {target.name}", progress) as tick:
        for loc, rel, _size in files:
            dst = target.joinpath(*rel.split("/")) if rel else target
            with _io_errors(f"cannot download {loc.uri} to {str(dst)!r}"):
                _get_file(loc, dst, tick)


def _remote_files(src: _Location) -> list[tuple[_Location, str, int]] | None:
    """[(file, path relative to `src`, size)]: one entry with path '' for a file; None for an
    empty folder."""
    fs = src.fs
    _fresh(src)
    with _io_errors(f"cannot read {src.uri}"):
        try:
            info = fs.info(src.path)
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"no artifact at {src.uri}") from None
        if info.get("islink"):
            raise InvalidArtifactPathError(f"{src.uri} is a symbolic link; artifacts are never read through links")
        if info.get("type") != "directory":
            return [(src, "", int(info.get("size") or 0))]
        found = fs.find(src.path, withdirs=False, detail=True)
    base = fs._strip_protocol(src.path).rstrip("/") + "/"
    out = []
    for name, entry in sorted(found.items()):
        if entry.get("islink"):  # a link in the tree is left out, never followed
            continue
        rel = name[len(base):] if name.startswith(base) else posixpath.basename(name)
        if _PARTIAL in rel.replace(os.sep, "/").rsplit("/", 1)[-1]:
            continue
        rel = validate_artifact_path(rel.replace(os.sep, "/") if src.local else rel)
        out.append((src.child(rel), rel, int(entry.get("size") or 0)))
    return out or None


def list_uri(uri: str) -> list[FileInfo]:
    """The files and folders directly inside the folder at `uri`, sorted by name; paths are
    relative to `uri`. A file, or nothing at `uri`, gives ``[]`` (as MLflow)."""
    loc = _locate(uri)
    _fresh(loc)
    with _io_errors(f"cannot list {loc.uri}"):
        try:
            entries = loc.fs.ls(loc.path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
    own = loc.fs._strip_protocol(loc.path).rstrip("/")
    out = []
    for entry in entries:
        name = entry["name"].rstrip("/")
        base = posixpath.basename(name.replace(os.sep, "/"))
        if name == own or _PARTIAL in base or entry.get("islink"):  # links are never listed (nor followed)
            continue
        is_dir = entry.get("type") == "directory"
        out.append(FileInfo(path=base, is_dir=is_dir, file_size=None if is_dir else int(entry.get("size") or 0)))
    return sorted(out, key=lambda f: f.path)


# ---- a run's artifacts, by its artifact root ---------------------------------------------------


def run_artifact_path(root: str, path: str | None) -> list[FileInfo]:
    """The files and folders directly under `path` of the artifact root `root`, with paths
    relative to the root (as MLflow lists a run's artifacts)."""
    rel = validate_artifact_path(path)
    check_no_links(root, rel)
    infos = list_uri(join_uri(root, rel))
    return [FileInfo(path=join_path(rel, f.path), is_dir=f.is_dir, file_size=f.file_size) for f in infos]


def run_download(root: str, path: str | None, dst_path: str | os.PathLike[str] | None, *, what: str = "the run") -> str:
    """MLflow's ``download_artifacts`` of a run: `path` under the artifact root `root` lands at
    ``<dst_path>/<path>`` (default: a new temporary folder); returns that local path."""
    import tempfile

    rel = validate_artifact_path(path)
    check_no_links(root, rel)
    src = _locate(join_uri(root, rel))
    dst = Path(os.fspath(dst_path)).expanduser().absolute() if dst_path is not None else Path(tempfile.mkdtemp(prefix="tracklog-download-"))
    if dst.exists() and not dst.is_dir():
        raise InvalidInputError(f"the download destination {str(dst)!r} is a file; expected a folder")
    target = dst.joinpath(*rel.split("/")) if rel else dst
    try:
        _fetch(src, target, None)
    except ArtifactNotFoundError:
        if rel:
            raise ArtifactNotFoundError(f"{what} has no artifact {rel!r} (looked in {src.uri})") from None
        target.mkdir(parents=True, exist_ok=True)  # a run that logged nothing: an empty folder, as MLflow
    return str(target)


def _run_root(run_id: str, tracking_uri: str | None) -> str:
    return _resolve_runs_uri(f"runs:/{run_id}", tracking_uri)


# ---- MLflow's mlflow.artifacts module ---------------------------------------------------------


def _source_uri(artifact_uri: str | None, run_id: str | None, artifact_path: str | None,
                tracking_uri: str | None) -> str:
    if (artifact_uri is None) == (run_id is None):
        raise InvalidInputError("pass exactly one of artifact_uri or run_id")
    if artifact_uri is not None:
        if artifact_path is not None:
            raise InvalidInputError("artifact_path goes with run_id; with artifact_uri, put the path in the URI")
        return resolve_artifact_uri(artifact_uri, tracking_uri)
    root, rel = _run_root(str(run_id), tracking_uri), validate_artifact_path(artifact_path)
    check_no_links(root, rel)
    return join_uri(root, rel)


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None,
                       dst_path: str | None = None, tracking_uri: str | None = None,
                       registry_uri: str | None = None) -> str:
    """Download an artifact file or folder to a local folder; returns its local path.

    Give `artifact_uri` (``runs:/<run_id>/<path>``, ``models:/<model_id>[/<path>]``,
    ``models:/<name>/<version>``, ``s3://…``, a folder…) or `run_id` with an optional
    `artifact_path`. With a run id the path is kept under `dst_path` (as MLflow); with a URI
    the file or folder lands at ``<dst_path>/<its name>``, except a whole model, whose files
    land in `dst_path` itself (as MLflow). Without `dst_path`, a new
    temporary folder.

    Raises:
        ArtifactNotFoundError: nothing there. InvalidInputError: both or neither of
            `artifact_uri`/`run_id`.
    """
    import tempfile

    if run_id is not None and artifact_uri is None:
        return run_download(_run_root(run_id, tracking_uri), artifact_path, dst_path, what=f"run {run_id}")
    uri = _source_uri(artifact_uri, run_id, artifact_path, tracking_uri)
    dst = dst_path if dst_path is not None else tempfile.mkdtemp(prefix="tracklog-download-")
    if artifact_uri is not None and str(artifact_uri).startswith("models:") and not split_models_uri(str(artifact_uri))[1]:
        target = Path(os.fspath(dst)).expanduser().absolute()  # a whole model: its files land in dst (as MLflow)
        _fetch(_locate(uri), target, None)
        return str(target)
    return str(download(uri, dst))


def list_artifacts(artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None,
                   tracking_uri: str | None = None) -> list[FileInfo]:
    """The files and folders directly under an artifact URI, or under a run's `artifact_path`
    (paths then relative to the run's artifact root, as MLflow)."""
    if run_id is not None and artifact_uri is None:
        return run_artifact_path(_run_root(run_id, tracking_uri), artifact_path)
    return list_uri(_source_uri(artifact_uri, run_id, artifact_path, tracking_uri))


@contextlib.contextmanager
def _opened(artifact_uri: str) -> Iterator[Any]:
    """The artifact file at `artifact_uri` opened for reading (binary), streamed from its store."""
    loc = _locate(resolve_artifact_uri(artifact_uri))
    _fresh(loc)
    with _io_errors(f"cannot read {artifact_uri}"):
        try:
            fh = loc.fs.open(loc.path, "rb", block_size=CHUNK_SIZE)
        except (FileNotFoundError, IsADirectoryError):
            raise ArtifactNotFoundError(f"no artifact file at {artifact_uri} ({loc.uri})") from None
        with fh:
            yield fh


def load_text(artifact_uri: str) -> str:
    """The text (UTF-8) of the artifact file at `artifact_uri`, e.g. ``runs:/<run_id>/notes.txt``."""
    with _opened(artifact_uri) as fh:
        data = fh.read()
    try:
        return str(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidValueError(f"{artifact_uri} is not UTF-8 text: {exc}") from exc


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """The dict in a JSON artifact (YAML for ``.yml``/``.yaml``), as `log_dict` wrote it."""
    text = load_text(artifact_uri)
    try:
        if posixpath.splitext(artifact_uri)[1].lower() in (".yml", ".yaml"):
            import yaml

            value = yaml.safe_load(text)
        else:
            value = json.loads(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise InvalidValueError(f"{artifact_uri} does not hold a JSON/YAML object: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidValueError(f"{artifact_uri} holds a {type(value).__name__}, expected an object (a dict)")
    return value


def load_image(artifact_uri: str) -> Any:
    """The image artifact at `artifact_uri` as a PIL image (fully loaded)."""
    from PIL import Image, UnidentifiedImageError

    with _opened(artifact_uri) as fh:
        try:
            image = Image.open(fh)
            image.load()
        except UnidentifiedImageError as exc:
            raise InvalidValueError(f"{artifact_uri} is not an image PIL can read: {exc}") from exc
    return image
