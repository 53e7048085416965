"""A tracking server's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``) as an fsspec
filesystem, so ``mlflow-artifacts:`` URIs are read and written like any other.

``mlflow-artifacts://<netloc>/<path>`` names the server; ``mlflow-artifacts:/<path>`` the
current tracking server (an ``http(s)://`` tracking URI).
"""

from __future__ import annotations

import tempfile
import urllib.parse
from typing import Any

from fsspec import AbstractFileSystem

from eventlog.errors import UnsupportedStoreError
from tracklog._config import get_tracking_uri
from tracklog._http import Http, is_remote, read, server_for

__all__ = ["ArtifactsFileSystem", "artifacts_location"]

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


def artifacts_location(uri: str) -> tuple[Any, str]:
    """(filesystem, path) for ``mlflow-artifacts://<netloc>/<path>`` or ``mlflow-artifacts:/<path>``
    (the current tracking server)."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.netloc:
        server = server_for(f"http://{parsed.netloc}")
    else:
        current = get_tracking_uri()
        if not is_remote(current):
            raise UnsupportedStoreError(f"{uri!r} is served by a tracking server; set an http(s):// tracking URI first")
        server = server_for(current)
    return ArtifactsFileSystem(server), parsed.path.lstrip("/")


class ArtifactsFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """The artifact proxy of a tracking server (``/api/2.0/mlflow-artifacts/artifacts``) as a filesystem."""

    protocol = "mlflow-artifacts"
    cachable = False

    def __init__(self, server: Http, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.server = server

    def _path(self, path: str) -> str:
        return urllib.parse.quote(str(path).strip("/"))

    def _list(self, path: str) -> list[dict[str, Any]]:
        resp = self.server.request("GET", f"{PROXY}?{urllib.parse.urlencode({'path': str(path).strip('/')})}")
        reply = self.server.reply(resp, read(resp), f"list {path}")
        base = str(path).strip("/")
        return [{"name": f"{base}/{f['path']}" if base else f["path"], "type": "directory" if f.get("is_dir") else "file",
                 "size": int(f.get("file_size") or 0)} for f in reply.get("files", ())]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        entries = self._list(path)
        if not entries and self.info(path)["type"] == "file":
            raise NotADirectoryError(path)
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = str(path).strip("/")
        if not path:
            return {"name": "", "type": "directory", "size": 0}
        parent, _, name = path.rpartition("/")
        for entry in self._list(parent):
            if entry["name"] == path:
                return entry
        raise FileNotFoundError(path)

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False,
             **kwargs: Any) -> Any:
        found: dict[str, dict[str, Any]] = {}
        stack = [str(path).strip("/")]
        while stack:
            for entry in self._list(stack.pop()):
                if entry["type"] == "directory":
                    stack.append(entry["name"])
                    if withdirs:
                        found[entry["name"]] = entry
                else:
                    found[entry["name"]] = entry
        return found if detail else sorted(found)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        return None  # folders exist by holding files

    def rm(self, path: str, recursive: bool = False, maxdepth: int | None = None) -> None:
        resp = self.server.request("DELETE", f"{PROXY}/{self._path(path)}")
        self.server.reply(resp, read(resp), f"delete {path}")

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True, **kwargs: Any) -> Any:
        if "r" in mode:
            resp = self.server.request("GET", f"{PROXY}/{self._path(path)}", stream=True)
            if resp.status != 200:
                data = resp.read()
                if resp.status == 404:
                    raise FileNotFoundError(path)
                self.server.reply(resp, data, f"download {path}")
            return resp
        return _Upload(self, str(path), autocommit)

    def _strip_protocol(self, path: str) -> str:  # type: ignore[override]
        text = str(path)
        if text.startswith("mlflow-artifacts:"):
            text = urllib.parse.urlsplit(text).path
        return text.strip("/")


class _Upload:
    """A file being written: spooled locally, sent as one PUT on commit (whole or not at all)."""

    def __init__(self, fs: ArtifactsFileSystem, path: str, autocommit: bool) -> None:
        self.fs, self.path, self.autocommit = fs, path, autocommit
        self.spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed on commit or discard
        self.closed = False
        self.committed = False

    def write(self, data: Any) -> int:
        return self.spool.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.autocommit:
                self.commit()

    def commit(self) -> None:
        if self.committed:
            return
        self.committed = True
        size = self.spool.tell()
        self.spool.seek(0)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        resp = self.fs.server.request("PUT", f"{PROXY}/{self.fs._path(self.path)}", self.spool, headers)
        self.fs.server.reply(resp, read(resp), f"upload {self.path}")
        self.spool.close()

    def discard(self) -> None:
        self.committed = True
        self.spool.close()

    def __enter__(self) -> _Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
