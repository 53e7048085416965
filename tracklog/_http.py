"""HTTP to a tracking server: keep-alive connections, credentials, MLflow's JSON errors raised typed.

Used by the REST tracking store (`tracklog.tracking.rest`) and by the artifact proxy's
filesystem (`tracklog.artifacts._proxy`). Credentials: ``TRACKLOG_TRACKING_TOKEN`` (or
MLflow's ``MLFLOW_TRACKING_TOKEN``) is sent as a bearer token;
``TRACKLOG_TRACKING_USERNAME``/``_PASSWORD`` (or MLflow's) as basic auth.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import urllib.parse
from typing import Any

from eventlog.errors import ApiError, StorageError, TracklogError, error_from_code

__all__ = ["API", "Http", "is_remote", "server_for"]

API = "/api/2.0/mlflow/"


def is_remote(uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith(("http://", "https://"))


class Http:
    """Keep-alive connections to one server (one per thread), JSON in and out, errors raised typed."""

    def __init__(self, base_url: str) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.base_url = f"{parsed.scheme}://{parsed.hostname}{f':{parsed.port}' if parsed.port else ''}{parsed.path.rstrip('/')}"
        self.netloc = parsed.netloc.rpartition("@")[2]
        self.scheme, self.host, self.port = parsed.scheme, parsed.hostname or "127.0.0.1", parsed.port
        self.prefix = parsed.path.rstrip("/")
        self.headers = _auth_headers(parsed)
        self._local = threading.local()
        self.timeout = float(os.environ.get("TRACKLOG_HTTP_TIMEOUT", "120"))

    def connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = None if fresh else getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = kind(self.host, self.port, timeout=self.timeout)
            if not fresh:
                self._local.conn = conn
        return conn

    def request(self, method: str, path: str, body: bytes | Any = None, headers: dict[str, str] | None = None,
                *, stream: bool = False, timeout: float | None = None) -> http.client.HTTPResponse:
        """One request; a keep-alive connection the server closed meanwhile is retried once.
        `timeout`: seconds this request may take (default `TRACKLOG_HTTP_TIMEOUT`)."""
        all_headers = {**self.headers, **(headers or {})}
        for attempt in (0, 1):
            conn = self.connection(fresh=stream)
            conn.timeout = self.timeout if timeout is None else timeout  # a new connection's
            if conn.sock is not None:  # a kept-alive one's
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request(method, self.prefix + path, body=body, headers=all_headers)
                resp = conn.getresponse()
                if not stream:
                    resp._tracklog_body = resp.read()  # type: ignore[attr-defined]  # read: the connection is reusable
                return resp
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                conn.close()
                self._local.conn = None
                rewindable = body is None or isinstance(body, bytes)
                if attempt or not rewindable or isinstance(exc, TimeoutError):
                    raise StorageError(f"cannot reach the tracking server at {self.base_url}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, endpoint: str, body: bytes | None = None, query: list[tuple[str, Any]] | None = None,
             *, errors: dict[str, type[TracklogError]] | None = None, timeout: float | None = None) -> bytes:
        """MLflow's API: `body` (JSON) or `query` to ``/api/2.0/mlflow/<endpoint>``; the reply's bytes."""
        path = API + endpoint
        if query:
            path += "?" + urllib.parse.urlencode([(k, v) for k, v in query if v is not None])
        headers = {"Content-Type": "application/json"} if body is not None else {}
        resp = self.request(method, path, body, headers, timeout=timeout)
        data = read(resp)
        if not 200 <= resp.status < 300:
            raise self.error(resp, data, endpoint, errors)
        return data

    def error(self, resp: http.client.HTTPResponse, data: bytes, what: str,
              errors: dict[str, type[TracklogError]] | None = None) -> TracklogError:
        """The error a failed reply stands for, with the reply's status as ``http_status``."""
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and "error_code" in decoded:
            code, message = str(decoded["error_code"]), str(decoded.get("message", ""))
            error = error_from_code(code, f"{message} ({code} from {self.base_url}, {what})", narrower=errors)
        else:
            error = ApiError("INTERNAL_ERROR", f"{what}: HTTP {resp.status} from {self.base_url}: {data[:300]!r}")
        error.http_status = resp.status  # type: ignore[attr-defined]  # tells a server that is away (502-504)
        return error

    def reply(self, resp: http.client.HTTPResponse, data: bytes, what: str) -> dict[str, Any]:
        """A reply's JSON object; raises the error a failed one stands for."""
        if not 200 <= resp.status < 300:
            raise self.error(resp, data, what)
        decoded = json.loads(data) if data else {}
        if not isinstance(decoded, dict):
            raise ApiError("INTERNAL_ERROR", f"{what}: {self.base_url} answered {data[:100]!r}, not a JSON object")
        return decoded


def read(resp: http.client.HTTPResponse) -> bytes:
    """The body `Http.request` already read (http.client keeps it)."""
    return getattr(resp, "_tracklog_body", b"") or b""


def _auth_headers(parsed: urllib.parse.SplitResult) -> dict[str, str]:
    env = os.environ.get
    token = env("TRACKLOG_TRACKING_TOKEN") or env("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = parsed.username or env("TRACKLOG_TRACKING_USERNAME") or env("MLFLOW_TRACKING_USERNAME")
    password = parsed.password or env("TRACKLOG_TRACKING_PASSWORD") or env("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        pair = base64.b64encode(f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


_servers: dict[str, Http] = {}  # netloc -> Http: how mlflow-artifacts://<netloc>/… URIs are reached
_servers_lock = threading.Lock()


def server_for(base_url: str) -> Http:
    """The process's `Http` for a server (shared, so its credentials serve artifact URIs too)."""
    netloc = urllib.parse.urlsplit(base_url).netloc.rpartition("@")[2]
    with _servers_lock:
        found = _servers.get(netloc)
        if found is None:
            found = _servers[netloc] = Http(base_url)
    return found
