"""Which ``source`` a model version may be created from, as MLflow's server decides.

A local path (``/…``, ``file://…``) must name the folder of the run (``run_id``) or logged model
(``model_id``) the request gives, or a folder inside it: nobody registers the server's
``/etc`` as a model. Any other URI must be absolute, with no ``..`` segment (also
percent-encoded), no NUL and nothing that resolves elsewhere: ``mlflow-artifacts://host/models/../../``
is refused.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from collections.abc import Callable

from eventlog.errors import InvalidInputError

__all__ = ["check_model_version_source"]


def check_model_version_source(source: str, run_id: str, model_id: str,
                               location_of: Callable[[str, str], str]) -> None:
    """Raise `InvalidInputError` (400) unless `source` may back a model version. `location_of(kind,
    id)` is the real artifact location of a run or logged model (``kind``: run, logged_model)."""
    if _is_local(source):
        owner = ("run", run_id) if run_id else ("logged_model", model_id) if model_id else None
        if owner is not None and _within(_local_path(source), location_of(*owner)):
            return
        what = "run_id" if not model_id else "model_id"
        raise InvalidInputError(
            f"Invalid model version source: '{source}'. To use a local path as a model version source, the {what} "
            f"request parameter has to be specified and the local path has to be contained within the artifact "
            f"directory of the {'run' if what == 'run_id' else 'logged model'} specified by the {what}.")
    _check_no_relative_parts(source)


def _is_local(source: str) -> bool:
    scheme = urllib.parse.urlparse(source).scheme
    return scheme in ("", "file") or re.match(r"^[A-Za-z]:[\\/]", source) is not None


def _local_path(uri: str) -> str:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
        raise InvalidInputError(f"Invalid model version source: '{uri}': a file:// URI names a host "
                                f"({parsed.netloc!r}); only this server's own files can be a local source")
    return posixpath.normpath(urllib.parse.unquote(parsed.path if parsed.scheme == "file" else uri))


def _within(path: str, location: str) -> bool:
    if not _is_local(location):
        return False
    root = _local_path(location)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _check_no_relative_parts(source: str) -> None:
    text = source
    while (unquoted := urllib.parse.unquote_plus(text)) != text:
        text = unquoted
    path = re.sub(r"/+", "/", urllib.parse.urlparse(text).path.rstrip("/"))
    if "\x00" in path or ".." in text.split("/") or (path and posixpath.normpath(path) != path):
        raise InvalidInputError(
            f"Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, "
            "ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path "
            "references present. Please provide an absolute path.")
