"""Parameters: type checks, ``path``/``uri`` resolution and safe substitution into the command.

Every value reaches the shell through `shlex.quote`, so ``-P name="x; rm -rf ~"`` is one
argument, never a second command. Parameters the entry point does not declare are passed on
as ``--key value``, as in MLflow.

Relative paths: a value the user gives is relative to the directory `tracklog run` was called
from (where the user typed it); a *default* from the MLproject file is relative to the project
folder (where its author wrote it). MLflow resolves both against the caller's directory.
"""

from __future__ import annotations

import os
import re
import shlex
import urllib.parse
from collections.abc import Mapping
from typing import Any

import msgspec

from eventlog.errors import InvalidParameterError
from tracklog.projects._spec import EntryPoint, Parameter, check_scalar

__all__ = ["ResolvedParameters", "check_scalar", "resolve_parameters"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


class ResolvedParameters(msgspec.Struct, frozen=True, kw_only=True):
    """The values an entry point runs with: declared ones (checked, paths made absolute) and
    undeclared extras; `command` is the shell command with every value quoted."""

    values: dict[str, str]
    extras: dict[str, str]
    command: str


def resolve_parameters(
    entry_point: EntryPoint, given: Mapping[str, Any] | None, *, project_dir: str,
    cwd: str | None = None, storage_dir: str | None = None,
) -> ResolvedParameters:
    """Check and resolve `given` against the entry point's declarations and render its command.

    Raises:
        InvalidParameterError: a value of the wrong type, a missing required parameter, a
            ``path`` that does not exist, a ``uri`` that is not one.
    """
    given = {str(k): _text(k, v) for k, v in (given or {}).items()}
    missing = [n for n, p in entry_point.parameters.items() if n not in given and p.default is None]
    if missing:
        raise InvalidParameterError(
            f"entry point {entry_point.name!r} needs a value for {', '.join(repr(m) for m in missing)}: "
            f"pass -P {missing[0]}=VALUE (no default is declared)"
        )
    values: dict[str, str] = {}
    for position, (name, param) in enumerate(entry_point.parameters.items()):
        if name in given:
            values[name] = _resolve(entry_point, param, given[name], cwd or os.getcwd(), storage_dir, position)
        else:
            values[name] = _resolve(entry_point, param, param.default or "", project_dir, storage_dir, position)
    extras = {k: v for k, v in given.items() if k not in entry_point.parameters}
    for key in extras:
        if not key or key.startswith("-"):
            raise InvalidParameterError(f"parameter name {key!r}: expected a name like 'alpha' (it becomes --alpha)")
    return ResolvedParameters(values=values, extras=extras, command=_render(entry_point.command, values, extras))


def _text(key: Any, value: Any) -> str:
    if value is None or isinstance(value, (dict, list, tuple, set)):
        raise InvalidParameterError(f"parameter {key!r}: expected a single value, got {value!r}")
    return value if isinstance(value, str) else str(value)


def _resolve(entry_point: EntryPoint, param: Parameter, value: str, base: str, storage_dir: str | None, position: int) -> str:
    where = f"parameter {param.name!r} of entry point {entry_point.name!r}"
    problem = check_scalar(param.type, value)
    if problem:
        raise InvalidParameterError(f"{where} {problem}")
    if param.type == "path":
        return _path(where, value, base, storage_dir, position)
    if param.type == "uri":
        return _uri(where, value, base)
    return value


def _path(where: str, value: str, base: str, storage_dir: str | None, position: int) -> str:
    scheme = _SCHEME.match(value)
    if scheme and len(scheme.group(1)) > 1 and scheme.group(1).lower() != "file":
        return _download(where, value, storage_dir, position)
    local = urllib.parse.urlsplit(value).path if value.startswith("file:") else value
    path = os.path.abspath(os.path.join(base, os.path.expanduser(local)))
    if not os.path.exists(path):
        raise InvalidParameterError(f"{where} is a path, but {value!r} does not exist (looked for {path})")
    return path


def _download(where: str, value: str, storage_dir: str | None, position: int) -> str:
    """A remote ``path`` value (``s3://…``, ``https://…``) is fetched with fsspec, as MLflow downloads it."""
    import tempfile

    import fsspec

    target = os.path.join(storage_dir or tempfile.mkdtemp(prefix="tracklog-params-"), f"param_{position}")
    try:
        fs, remote = fsspec.core.url_to_fs(value)
        os.makedirs(target, exist_ok=True)
        local = os.path.join(target, os.path.basename(remote.rstrip("/")) or "data")
        fs.get(remote, local, recursive=fs.isdir(remote))
    except Exception as exc:
        raise InvalidParameterError(f"{where} is a path; downloading {value!r} failed: {exc}") from exc
    return local


def _uri(where: str, value: str, base: str) -> str:
    scheme = _SCHEME.match(value)
    if scheme and len(scheme.group(1)) > 1:
        rest = value[scheme.end():]
        if not rest.strip("/") or any(c.isspace() for c in value):
            raise InvalidParameterError(f"{where} must be a URI like s3://bucket/key, got {value!r}")
        return value
    path = os.path.abspath(os.path.join(base, os.path.expanduser(value))) if value else ""
    if not value or not os.path.exists(path):
        raise InvalidParameterError(
            f"{where} must be a URI (scheme://…) or an existing local path, got {value!r}"
        )
    return path


def _render(command: str, values: dict[str, str], extras: dict[str, str]) -> str:
    rendered = command.format(**{k: shlex.quote(v) for k, v in values.items()})
    tail = [f"--{shlex.quote(k)} {shlex.quote(v)}" for k, v in extras.items()]
    return " ".join([rendered, *tail])
