"""Process-wide settings of the fluent API: the tracking URI and the active experiment.

Like MLflow's, these are per process (a worker thread sees what the main thread set); the
active *run* is per thread/task and lives in a ContextVar in `tracklog.tracking.fluent`.
"""

from __future__ import annotations

import os
import sys
import threading

from eventlog.storage import check_store_uri, split_uri

__all__ = ["DEFAULT_TRACKING_URI", "LEGACY_TRACKING_URI", "get_artifact_root", "get_tracking_uri", "set_artifact_root",
           "set_tracking_uri", "settings"]

# The default folder's name has a hyphen, so it can never be imported: a folder named like a
# module (the old default ./tracklog) beside a script is found by `import tracklog` as a
# namespace package, ahead of an editable install. It is not MLflow's ./mlruns either.
DEFAULT_TRACKING_URI = "./tracklog-runs"
LEGACY_TRACKING_URI = "./tracklog"  # the former default: still used, with a notice, where it holds a store
_STORE_ENTRIES = ("events", "compacted", "_claims", "_commits", "_wal")


class _Settings:
    def __init__(self) -> None:
        self.tracking_uri: str | None = None
        self.experiment_id: str | None = None
        self.artifact_root: str | None = None
        self.legacy_notice_shown = False
        self.system_metrics: bool | None = None  # enable_system_metrics_logging(); None: the environment
        self.system_metrics_interval: float | None = None
        self.system_metrics_samples: int | None = None
        self.lock = threading.RLock()


settings = _Settings()


def set_tracking_uri(uri: str) -> None:
    """Where runs are recorded: a folder (default ``./tracklog-runs``), ``file://…``, or an fsspec URL.

    A relative folder is resolved now, against the current directory.

    Raises:
        StoreURIError: `uri` looks mistyped (``s3:/bucket``, ``memroy://x``); the message suggests a fix.
    """
    check_store_uri(str(uri))
    protocol, rest = split_uri(str(uri))
    settings.tracking_uri = rest if protocol == "file" else str(uri)
    settings.experiment_id = None


def get_tracking_uri() -> str:
    """The tracking URI in force: `set_tracking_uri`, else ``TRACKLOG_TRACKING_URI``, else
    ``./tracklog-runs`` (or ``./tracklog``, the old default, where a store already sits there
    and none at ``./tracklog-runs``; a notice on stderr says so, once per process)."""
    if settings.tracking_uri is not None:
        return settings.tracking_uri
    uri = os.environ.get("TRACKLOG_TRACKING_URI")
    if not uri:
        return _default_folder()
    if "://" in uri:
        return uri
    return os.path.abspath(os.path.expanduser(uri.removeprefix("file:")))


def _default_folder() -> str:
    default = os.path.abspath(DEFAULT_TRACKING_URI)
    legacy = os.path.abspath(LEGACY_TRACKING_URI)
    if os.path.exists(default) or not _holds_store(legacy):
        return default
    if not settings.legacy_notice_shown:
        settings.legacy_notice_shown = True
        sys.stderr.write(
            f"tracklog: notice: using the store in {legacy}, the old default folder (the default is now "
            f"{DEFAULT_TRACKING_URI}). A folder named 'tracklog' beside your scripts can hide the tracklog "
            "package: `import tracklog` may find the folder instead (AttributeError: module 'tracklog' has "
            f"no attribute ...). Move it: `mv {LEGACY_TRACKING_URI} {DEFAULT_TRACKING_URI}`; or keep it and "
            f"silence this notice with TRACKLOG_TRACKING_URI={LEGACY_TRACKING_URI}.\n"
        )
    return legacy


def _holds_store(folder: str) -> bool:
    """A tracklog store's folder (not the tracklog package's own, in a source checkout)."""
    if os.path.exists(os.path.join(folder, "__init__.py")):
        return False
    return any(os.path.isdir(os.path.join(folder, entry)) for entry in _STORE_ENTRIES)


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
