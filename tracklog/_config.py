"""Process-wide settings of the fluent API: the tracking URI and the active experiment.

Like MLflow's, these are per process (a worker thread sees what the main thread set); the
active *run* is per thread/task and lives in a ContextVar in `tracklog.tracking.fluent`.
"""

from __future__ import annotations

import os
import threading

from eventlog.storage import split_uri

__all__ = ["DEFAULT_TRACKING_URI", "get_artifact_root", "get_tracking_uri", "set_artifact_root", "set_tracking_uri", "settings"]

DEFAULT_TRACKING_URI = "./tracklog"


class _Settings:
    def __init__(self) -> None:
        self.tracking_uri: str | None = None
        self.experiment_id: str | None = None
        self.artifact_root: str | None = None
        self.lock = threading.RLock()


settings = _Settings()


def set_tracking_uri(uri: str) -> None:
    """Where runs are recorded: a folder (default ``./tracklog``), ``file://…``, or an fsspec URL.

    A relative folder is resolved now, against the current directory.
    """
    protocol, rest = split_uri(str(uri))
    settings.tracking_uri = rest if protocol == "file" else str(uri)
    settings.experiment_id = None


def get_tracking_uri() -> str:
    """The tracking URI in force: `set_tracking_uri`, else ``TRACKLOG_TRACKING_URI``, else ``./tracklog``."""
    if settings.tracking_uri is not None:
        return settings.tracking_uri
    uri = os.environ.get("TRACKLOG_TRACKING_URI") or DEFAULT_TRACKING_URI
    if "://" in uri:
        return uri
    return os.path.abspath(os.path.expanduser(uri.removeprefix("file:")))


def set_artifact_root(uri: str | None) -> None:
    """Where experiments created from now on keep their artifacts (``<root>/<experiment_id>``),
    e.g. ``s3://bucket/artifacts`` while the events stay in a local folder; None: back to
    ``TRACKLOG_ARTIFACT_ROOT``, else the store's own ``artifacts/`` folder.

    A plain folder becomes a ``file://`` URI, resolved now against the current directory.
    """
    settings.artifact_root = None if uri is None else _root_uri(str(uri))


def get_artifact_root() -> str | None:
    """The artifact root in force: `set_artifact_root`, else ``TRACKLOG_ARTIFACT_ROOT``, else None
    (each store keeps artifacts in its own ``artifacts/`` folder)."""
    if settings.artifact_root is not None:
        return settings.artifact_root
    uri = os.environ.get("TRACKLOG_ARTIFACT_ROOT")
    return _root_uri(uri) if uri else None


def _root_uri(uri: str) -> str:
    if "://" in uri:
        stripped = uri.rstrip("/")
        return stripped if "://" in stripped else uri  # file:/// stays whole
    return "file://" + os.path.abspath(os.path.expanduser(uri.removeprefix("file:")))
