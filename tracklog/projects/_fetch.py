"""Getting a project's code: a local folder as it is, or a git checkout at a commit or branch.

URIs: a folder (``./proj``, ``file:///abs/proj``), or a git repository (``https://…``,
``ssh://…``, ``git://…``, ``git@host:org/repo.git``, or a local repository with a version),
each optionally followed by ``#sub/dir``. A local folder runs in place; with a version
(``-v``) it must be inside a git repository, which is cloned to a temporary folder and checked
out there — the user's working tree is never touched (MLflow checks out in place).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

import msgspec

from eventlog.errors import ProjectFetchError
from tracklog.tracking._source import GitInfo, git_info, strip_credentials

__all__ = ["FetchedProject", "fetch_project", "split_uri"]

_REMOTE = re.compile(r"^(https?|ssh|git|git\+ssh|git\+https)://|^[\w.\-]+@[\w.\-]+:")


class FetchedProject(msgspec.Struct, kw_only=True):
    """Where the project's code is on this machine, and where it came from."""

    uri: str                    # as given
    directory: str              # the project folder (with the #subdirectory)
    source_name: str            # mlflow.source.name: the repository URL#subdir, or the folder
    git: GitInfo | None         # commit, branch, remote and dirty flag of the checkout
    temporary: str | None = None  # a clone to delete when the run is over

    def cleanup(self) -> None:
        if self.temporary:
            shutil.rmtree(self.temporary, ignore_errors=True)
            self.temporary = None


def split_uri(uri: str) -> tuple[str, str]:
    """``"repo#sub/dir"`` → ``("repo", "sub/dir")``; the subdirectory may not climb out.

    >>> split_uri("https://github.com/org/repo.git#examples/sk")
    ('https://github.com/org/repo.git', 'examples/sk')
    """
    uri = uri.strip().strip("'\"")
    base, _, sub = uri.partition("#")
    sub = sub.strip("/")
    if sub and (os.path.isabs(sub) or os.pardir in sub.split("/")):
        raise ProjectFetchError(f"project URI {uri!r}: the #subdirectory must be a relative path inside the repository, got {sub!r}")
    return base, sub


def fetch_project(uri: str, version: str | None = None) -> FetchedProject:
    """Make the project at `uri` (at `version`, for git) available as a local folder.

    Raises:
        ProjectFetchError: no such folder, not a git repository, clone or checkout failed.
    """
    base, sub = split_uri(uri)
    local = _local_path(base)
    if local is not None and version is None:
        return _in_place(uri, local, sub)
    if local is None and not _REMOTE.match(base) and not os.path.isdir(urllib.parse.urlsplit(base).path):
        raise ProjectFetchError(
            f"project URI {uri!r} is neither an existing folder nor a git URL "
            "(https://…, ssh://…, git@host:org/repo.git, file:///path)"
        )
    if local is not None:
        info = git_info(local, dirty=False)
        if info is None:
            raise ProjectFetchError(f"a version (-v {version}) needs a git repository, but {local} is not inside one")
        rel = os.path.relpath(local, info.root)
        sub = os.path.normpath(os.path.join(rel, sub)).strip("/") if rel != "." else sub
        source, display = info.root, info.repo_url or info.root
    else:
        source, display = base, strip_credentials(base)
    return _clone(uri, source, display, version, sub)


def _local_path(base: str) -> str | None:
    """The folder `base` names, or None for a git URL (a bare repository on disk is one)."""
    path = urllib.parse.urlsplit(base).path if base.startswith("file:") else os.path.expanduser(base)
    if not os.path.exists(path):
        return None
    if not os.path.isdir(path):
        raise ProjectFetchError(f"project URI {base!r} is a file; expected the project's folder")
    if _is_bare_repository(path):
        return None
    return os.path.abspath(path)


def _is_bare_repository(path: str) -> bool:
    return all(os.path.exists(os.path.join(path, p)) for p in ("HEAD", "objects", "refs")) and not os.path.exists(os.path.join(path, ".git"))


def _in_place(uri: str, folder: str, sub: str) -> FetchedProject:
    directory = _subdirectory(folder, sub, uri)
    info = git_info(directory)
    source_name = directory
    if info is not None and info.repo_url:  # as MLflow: the remote, with the folder inside it
        rel = os.path.relpath(directory, info.root)
        source_name = info.repo_url if rel == "." else f"{info.repo_url}#{rel}"
    return FetchedProject(uri=uri, directory=directory, source_name=source_name, git=info)


def _clone(uri: str, source: str, display: str, version: str | None, sub: str) -> FetchedProject:
    target = tempfile.mkdtemp(prefix="tracklog-project-")
    try:
        no_checkout = ["--no-checkout"] if version else []
        _git("clone", "--quiet", *no_checkout, source, target, what=f"clone {display}", secret=source)
        if version:
            _git("-C", target, "checkout", "--quiet", version,
                 what=f"check out version {version!r} of {display} (is it a commit, branch or tag there?)")
        if os.path.exists(os.path.join(target, ".gitmodules")):
            _git("-C", target, "submodule", "update", "--init", "--recursive", "--quiet", what=f"fetch the submodules of {display}")
        directory = _subdirectory(target, sub, uri)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    info = git_info(directory)
    if info is not None:
        info = msgspec.structs.replace(info, repo_url=display)
    return FetchedProject(uri=uri, directory=directory, source_name=display + (f"#{sub}" if sub else ""), git=info, temporary=target)


def _subdirectory(root: str, sub: str, uri: str) -> str:
    directory = os.path.join(root, sub) if sub else root
    if not os.path.isdir(directory):
        raise ProjectFetchError(f"project URI {uri!r}: no subdirectory {sub!r} in the repository")
    return directory


def _git(*args: str, what: str, secret: str | None = None) -> None:
    if shutil.which("git") is None:
        raise ProjectFetchError(f"cannot {what}: the git executable is not on PATH")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # a private repository fails instead of prompting
    with contextlib.suppress(KeyError):
        del env["GIT_DIR"]
    proc = subprocess.run(["git", *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        if secret:  # git may echo the URL it was given, credentials included
            detail = detail.replace(secret, strip_credentials(secret))
        raise ProjectFetchError(f"could not {what}: git says: {detail}")
