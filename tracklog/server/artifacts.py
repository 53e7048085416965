"""The artifact proxy: ``mlflow-artifacts:/…`` URIs, served from the artifact destination.

As ``mlflow server --serve-artifacts``: experiments created through the server keep their
artifacts under the destination (``<destination>/<experiment_id>``), the events record that
real location, and clients are shown ``mlflow-artifacts:/<experiment_id>/…``, which they read
and write through ``/api/2.0/mlflow-artifacts/artifacts/<path>`` (GET, PUT, DELETE, and GET
with ``?path=`` to list). Every path is checked (`validate_artifact_path`) before it is joined
to the destination, so no request reaches outside it. A file landing under a run's artifact
folder appends an `ArtifactLogged` event, as ``log_artifact`` does in process.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import posixpath
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio

from eventlog.errors import (
    ArtifactNotFoundError,
    InvalidArtifactPathError,
    InvalidInputError,
    RequestLimitError,
    RunNotFoundError,
)
from eventlog.storage import split_uri
from projections.entities import FileInfo
from tracklog.artifacts import check_no_links, list_uri, upload, validate_artifact_path
from tracklog.server.errors import ApiError
from tracklog.server.routing import Call
from tracklog.tracking import messages as m

__all__ = ["PROXY_SCHEME", "ArtifactDestination", "as_uri", "delete", "download", "filesystem", "list_files",
           "run_files", "serve_file", "served_root", "upload_stream"]

PROXY_SCHEME = "mlflow-artifacts:"
_CHUNK = 1 << 20


def as_uri(location: str) -> str:
    """A location as a URI: a bare path becomes ``file://<absolute path>``; no trailing slash."""
    protocol, rest = split_uri(location)
    if protocol == "file":
        return "file://" + rest.rstrip("/") if rest != "/" else "file:///"
    return location.rstrip("/")


class ArtifactDestination:
    """Where proxied artifacts live, the mapping between real and ``mlflow-artifacts:`` URIs, and
    which locations the server reads and writes artifacts at: the destination, and the `allowed`
    roots its operator named (the store's own ``artifacts/`` folder, ``--allowed-artifact-root``).
    Nothing else — no other folder, bucket or URL — is ever opened for a caller."""

    def __init__(self, destination: str, allowed: Sequence[str] = (), *, serving: bool = True) -> None:
        self.uri = as_uri(destination)
        self.serving = serving  # False (--no-serve-artifacts): no proxy, clients are shown real URIs
        protocol, rest = split_uri(self.uri)
        self.local_root = rest if protocol == "file" else None
        if self.local_root is not None:
            os.makedirs(self.local_root, exist_ok=True)
        self.roots = [self.uri, *(as_uri(a) for a in allowed)]

    def allows(self, location: str) -> bool:
        """Whether `location` (a real URI or path) is one of the roots or inside one."""
        if not location or location.startswith(PROXY_SCHEME):
            return False
        uri = as_uri(location)
        scheme, sep, path = uri.partition("://")
        if not sep or any(part in (".", "..") for part in path.split("/")):
            return False
        return any(uri == root or uri.startswith(root.rstrip("/") + "/") for root in self.roots)

    def check(self, location: str, what: str) -> str:
        """`location` if the server may use it, else `InvalidInputError` naming what was asked for."""
        if not self.allows(location):
            raise InvalidInputError(
                f"{what} {location!r} is not a location this server keeps artifacts at: use a path under "
                f"{PROXY_SCHEME}/ (its --artifacts-destination), or ask its operator to allow it (--allowed-artifact-root)")
        return location

    def present(self, location: str | None) -> str:
        """The URI a client is shown: ``mlflow-artifacts:/<rel>`` for what lies in the destination
        (without the proxy: the location as recorded)."""
        if not location or location.startswith(PROXY_SCHEME) or not self.serving:
            return location or ""
        uri = as_uri(location) if "://" in location or location.startswith("/") else location
        if uri == self.uri:
            return f"{PROXY_SCHEME}/"
        if uri.startswith(self.uri + "/"):
            return f"{PROXY_SCHEME}/{uri[len(self.uri) + 1:]}"
        return location

    def real(self, location: str) -> str:
        """The real URI behind a location (``mlflow-artifacts:/x`` → ``<destination>/x``)."""
        if location.startswith(PROXY_SCHEME):
            from urllib.parse import urlparse

            return self.join(urlparse(location).path.lstrip("/"))  # mlflow-artifacts://host:port/x too
        return location

    def join(self, rel: str) -> str:
        """``<destination>/<rel>`` for a checked relative path (raises `InvalidArtifactPathError`)."""
        rel = validate_artifact_path(rel)
        return f"{self.uri}/{rel}" if rel else self.uri


def require_proxy(call: Call) -> None:
    """The proxy's endpoints answer only when the server serves artifacts (MLflow's 503 otherwise)."""
    if not call.server.destination.serving:
        raise ApiError("ENDPOINT_NOT_FOUND", f"Endpoint: {call.request.url.path if call.request else 'the artifact proxy'} "
                       "disabled due to the server running with `--no-serve-artifacts`. To enable artifacts server "
                       "functionality, run the server without `--no-serve-artifacts`", status=503)


def checked_path(path: str) -> str:
    """A proxy path, checked: MLflow's rules (no ``..``, no absolute path, no ``#``) and tracklog's."""
    if "#" in path:
        raise InvalidArtifactPathError(f"artifact path {path!r} contains '#'")
    return validate_artifact_path(path)


# ---- handlers ----------------------------------------------------------------------------------


def _experiment_of(path: str) -> str:
    return path.split("/", 1)[0]


def served_root(call: Call, location: str) -> str:
    """The real URI behind a run's or logged model's artifact location, if this server serves it
    (an experiment a local client created elsewhere is not read through the proxy: no SSRF)."""
    real = call.server.destination.real(location)
    if not call.server.destination.allows(real):
        raise InvalidInputError(f"artifacts at {call.server.destination.present(location)!r} are not served by this "
                                "server: that location is outside its --artifacts-destination and allowed roots")
    return real


def list_files(call: Call, body: m.ProxyList) -> m.FilesReply:
    """``GET /mlflow-artifacts/artifacts?path=…``: the entries directly under `path` (names only)."""
    require_proxy(call)
    call.require("artifact", _experiment_of(body.path), "READ")
    rel = checked_path(body.path)
    check_no_links(call.server.destination.uri, rel, root_may_link=True)
    files = list_uri(call.server.destination.join(rel))
    return m.FilesReply(files=files)


async def download(call: Call, body: Any) -> Any:
    """``GET /mlflow-artifacts/artifacts/<path>``: the file, streamed."""
    require_proxy(call)
    path = call.params["path"]
    await anyio.to_thread.run_sync(call.require, "artifact", _experiment_of(path), "READ")
    return await serve_file(call.server.destination.uri, checked_path(path), root_may_link=True)


async def logged_model_file(call: Call, body: m.LoggedModelFile) -> Any:
    """``GET /mlflow/logged-models/<id>/artifacts/files?artifact_file_path=…`` (MLflow's UI reads it)."""
    model = await anyio.to_thread.run_sync(call.client.get_logged_model, call.params["model_id"])
    return await serve_file(served_root(call, model.artifact_location), checked_path(body.artifact_file_path))


async def run_file(call: Call, body: m.RunFile) -> Any:
    """``GET /get-artifact?path=…&run_uuid=…``: one file of a run (MLflow's UI endpoint)."""
    run = await anyio.to_thread.run_sync(call.client.get_run, body.run_uuid or body.run_id)
    call.require("run", run.info.run_id, "READ")
    return await serve_file(served_root(call, run.info.artifact_uri), checked_path(body.path))


async def serve_file(root: str, rel: str, *, root_may_link: bool = False) -> Any:
    """The file `rel` under the folder URI `root` as a response: sent from disk, or streamed;
    never through a symbolic link (`check_no_links`)."""
    from starlette.responses import FileResponse, StreamingResponse

    if not rel:
        raise ApiError("INVALID_PARAMETER_VALUE", "a download needs a file path")
    media = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    if media.startswith("text/"):
        media += "; charset=utf-8"
    headers = {"Content-Disposition": f'attachment; filename="{posixpath.basename(rel)}"'}
    root = as_uri(root)
    protocol, local_root = split_uri(root)
    if protocol == "file":
        local = os.path.join(local_root, *rel.split("/"))
        check_no_links(root, rel, root_may_link=root_may_link)  # a link could lead to /etc, or another run's files
        if not os.path.isfile(local) or not _inside(local, local_root):
            raise ArtifactNotFoundError(f"no artifact file at {rel!r}")
        return FileResponse(local, media_type=media, headers=headers)
    fs, fs_path = filesystem(f"{root}/{rel}")
    try:
        info = await anyio.to_thread.run_sync(fs.info, fs_path)
    except FileNotFoundError:
        raise ArtifactNotFoundError(f"no artifact file at {rel!r}") from None
    if info.get("type") == "directory":
        raise ArtifactNotFoundError(f"{rel!r} is a folder, not an artifact file")
    return StreamingResponse(_remote_chunks(fs, fs_path), media_type=media, headers=headers)


def _existing(path: str) -> str:
    """The deepest existing folder on the way to `path`."""
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _inside(path: str, root: str) -> bool:
    """Whether `path`, symlinks resolved, is inside `root` (a link must not lead out of the store)."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


async def _remote_chunks(fs: Any, path: str) -> AsyncIterator[bytes]:
    fh = await anyio.to_thread.run_sync(lambda: fs.open(path, "rb", block_size=8 << 20))
    try:
        while chunk := await anyio.to_thread.run_sync(fh.read, 8 << 20):
            yield chunk
    finally:
        await anyio.to_thread.run_sync(fh.close)


def filesystem(uri: str) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(uri)  # type: ignore[no-any-return]


async def upload_stream(call: Call, body: Any) -> m.Empty:
    """``PUT /mlflow-artifacts/artifacts/<path>``: stream the body to a file that lands whole."""
    require_proxy(call)
    path = call.params["path"]
    await anyio.to_thread.run_sync(call.require, "artifact", _experiment_of(path), "EDIT")
    assert call.request is not None
    chunks, limit = call.request.stream(), call.server.max_upload
    rel = checked_path(path)
    if not rel:
        raise ApiError("INVALID_PARAMETER_VALUE", "an upload needs a file path")
    dest = call.server.destination
    folder, name = posixpath.split(rel)
    check_no_links(dest.uri, rel, root_may_link=True)
    if dest.local_root is not None:  # spool next to the target, then rename: whole or nothing
        target = os.path.join(dest.local_root, *folder.split("/")) if folder else dest.local_root
        if not _inside(_existing(target), dest.local_root):
            raise InvalidArtifactPathError(f"artifact path {rel!r} leads outside the artifact destination")
        await anyio.to_thread.run_sync(lambda: os.makedirs(target, exist_ok=True))
        size, digest, tmp = await _spool(chunks, target, name, limit)
        os.replace(tmp, os.path.join(target, name))
    else:  # spool locally, then one upload the store commits at the end (S3: multipart)
        with tempfile.TemporaryDirectory(prefix="tracklog-upload-") as spool:
            size, digest, tmp = await _spool(chunks, spool, name, limit)
            staged = os.path.join(spool, name)
            os.replace(tmp, staged)
            await anyio.to_thread.run_sync(lambda: upload(staged, dest.join(folder) if folder else dest.uri))
    await anyio.to_thread.run_sync(_record, call, rel, size, digest)
    return m.Empty()


async def _spool(chunks: AsyncIterator[bytes], folder: str, name: str,
                 limit: int | None) -> tuple[int, str, str]:
    """Write the body to a hidden file in `folder`; (size, sha256, its path)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.tracklog-partial-", dir=folder)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise RequestLimitError(f"the upload is larger than this server's limit of {limit} bytes "
                                            "(tracklog server --max-upload)")
                digest.update(chunk)
                if len(chunk) > _CHUNK:
                    await anyio.to_thread.run_sync(out.write, chunk)
                else:
                    out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return size, digest.hexdigest(), tmp


def _record(call: Call, rel: str, size: int, digest: str) -> None:
    """An upload into a run's artifact folder is an `ArtifactLogged` event of that run."""
    parts = rel.split("/")
    if len(parts) < 4 or parts[2] != "artifacts":
        return
    try:
        run = call.client.get_run(parts[1])
    except RunNotFoundError:
        return
    if call.server.destination.present(run.info.artifact_uri) != f"{PROXY_SCHEME}/{'/'.join(parts[:3])}":
        return
    call.client.store.record_artifacts(run.info.run_id, [("/".join(parts[3:]), size, digest)])


def delete(call: Call, body: Any) -> m.Empty:
    """``DELETE /mlflow-artifacts/artifacts/<path>``: a file or a folder with all it holds."""
    require_proxy(call)
    path = call.params["path"]
    call.require("artifact", _experiment_of(path), "MANAGE")
    rel = checked_path(path)
    if not rel:
        raise ApiError("INVALID_PARAMETER_VALUE", "refusing to delete the whole artifact destination")
    check_no_links(call.server.destination.uri, rel, root_may_link=True)
    fs, fs_path = filesystem(call.server.destination.join(rel))
    try:
        fs.rm(fs_path, recursive=True)
    except FileNotFoundError:
        raise ArtifactNotFoundError(f"no artifact at {rel!r}") from None
    return m.Empty()


def run_files(call: Call, artifact_uri: str, path: str) -> m.FilesReply:
    """``GET /mlflow/artifacts/list``: a run's artifacts under `path`, paths relative to the run."""
    rel = checked_path(path)
    root = served_root(call, artifact_uri)
    check_no_links(root, rel)
    base = f"{root.rstrip('/')}/{rel}" if rel else root
    files = list_uri(base)
    return m.FilesReply(
        root_uri=call.server.destination.present(artifact_uri),
        files=[FileInfo(path=f"{rel}/{f.path}" if rel else f.path, is_dir=f.is_dir, file_size=f.file_size)
               for f in files],
    )
