"""Where a run's code came from: the git commit, branch, remote and dirty flag of a folder.

Commit, branch and remote are read straight from the ``.git`` folder (``HEAD``, loose refs,
``packed-refs``, ``config``; worktrees and submodules included) — no GitPython, no process.
The dirty flag needs one ``git status`` with a short timeout. Nothing here raises: a folder
outside git, a missing ``git`` binary or a slow repository just yields fewer tags.

"Dirty" means a *tracked* file differs from the commit (``git status --untracked-files=no``):
untracked files are left out because a tracking store or data folder inside the repository
would otherwise make every run dirty.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import sys
import urllib.parse

import msgspec

__all__ = [
    "GIT_BRANCH",
    "GIT_COMMIT",
    "GIT_DIRTY",
    "GIT_REPO_URL",
    "GitInfo",
    "git_info",
    "script_git_tags",
    "script_source",
    "strip_credentials",
]

GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"
GIT_DIRTY = "tracklog.source.git.dirty"

_STATUS_TIMEOUT = 1.0  # seconds; a repository slower than this gets no dirty flag
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class GitInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The git state of the repository holding a path; any field is None when unknown."""

    root: str
    commit: str | None = None
    branch: str | None = None
    repo_url: str | None = None
    dirty: bool | None = None

    def tags(self) -> dict[str, str]:
        """MLflow's ``mlflow.source.git.*`` tags plus ``tracklog.source.git.dirty``."""
        tags = {GIT_COMMIT: self.commit, GIT_BRANCH: self.branch, GIT_REPO_URL: self.repo_url}
        out = {k: v for k, v in tags.items() if v}
        if self.dirty is not None:
            out[GIT_DIRTY] = "true" if self.dirty else "false"
        return out


def git_info(path: str, *, dirty: bool = True) -> GitInfo | None:
    """The git state of the repository that holds `path` (a file or folder), or None.

    >>> git_info("/") is None
    True
    """
    try:
        start = os.path.abspath(path)
        if not os.path.isdir(start):
            start = os.path.dirname(start)
        found = _find_git_dir(start)
        if found is None:
            return None
        root, git_dir = found
        common = _common_dir(git_dir)
        commit, branch = _head(git_dir, common)
        return GitInfo(
            root=root, commit=commit, branch=branch, repo_url=_remote_url(common),
            dirty=_is_dirty(root) if dirty and commit else None,
        )
    except Exception:  # provenance is best effort: never fail a run for it
        return None


def script_git_tags(source: str) -> dict[str, str]:
    """Git tags for a plain script `source` (``sys.argv[0]``); {} for installed tools and consoles.

    Cached per process: `start_run` calls this for every new run.
    """
    return dict(_script_tags_of(source))


@functools.lru_cache(maxsize=8)
def _script_tags_of(source: str) -> tuple[tuple[str, str], ...]:
    try:
        if not source or not os.path.isfile(source):
            return ()
        return _script_tags(os.path.realpath(source))
    except Exception:
        return ()


@functools.lru_cache(maxsize=8)
def script_source(argv0: str) -> str:
    """``mlflow.source.name`` for a process started as `argv0`: the script's absolute path, or
    `argv0` itself (a console, ``-c``); cached like `script_git_tags`."""
    if not argv0:
        return "<console>"
    return os.path.abspath(argv0) if os.path.isfile(argv0) else argv0


@functools.lru_cache(maxsize=8)
def _script_tags(source: str) -> tuple[tuple[str, str], ...]:
    if _installed(source):  # pytest, ipykernel, the tracklog CLI: not the user's project
        return ()
    info = git_info(source)
    return tuple(info.tags().items()) if info is not None else ()


def _installed(source: str) -> bool:
    if any(f"{os.sep}{d}{os.sep}" in source for d in ("site-packages", "dist-packages")):
        return True
    import sysconfig

    bases = {"base": sys.prefix, "platbase": sys.exec_prefix}, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    schemes = [sysconfig.get_paths(vars=b) for b in bases]
    with contextlib.suppress(KeyError):
        schemes.append(sysconfig.get_paths(f"{os.name}_user"))
    kinds = ("stdlib", "platstdlib", "purelib", "platlib", "scripts")  # not "data": for a system Python, all of /usr
    return any(source.startswith(os.path.realpath(paths[k]) + os.sep) for paths in schemes for k in kinds if k in paths)


def strip_credentials(url: str) -> str:
    """Drop a password (and, over http(s), the user, where tokens hide) from a remote URL.

    >>> strip_credentials("https://ghp_token@github.com/org/repo.git")
    'https://github.com/org/repo.git'
    >>> strip_credentials("git@github.com:org/repo.git")
    'git@github.com:org/repo.git'
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    keep_user = parts.scheme not in ("http", "https") and user
    netloc = f"{user}@{host}" if keep_user else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


# ---- reading .git ----------------------------------------------------------------------------


def _find_git_dir(start: str) -> tuple[str, str] | None:
    current = start
    while True:
        dot_git = os.path.join(current, ".git")
        if os.path.isdir(dot_git):
            return current, dot_git
        if os.path.isfile(dot_git):  # a worktree or submodule: "gitdir: <path>"
            text = _read(dot_git)
            if text and text.startswith("gitdir:"):
                return current, os.path.normpath(os.path.join(current, text[len("gitdir:"):].strip()))
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _common_dir(git_dir: str) -> str:
    common = _read(os.path.join(git_dir, "commondir"))
    return os.path.normpath(os.path.join(git_dir, common.strip())) if common else git_dir


def _head(git_dir: str, common: str) -> tuple[str | None, str | None]:
    head = (_read(os.path.join(git_dir, "HEAD")) or "").strip()
    if _SHA.match(head):
        return head, None  # detached
    if not head.startswith("ref:"):
        return None, None
    ref = head[len("ref:"):].strip()
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    return _resolve_ref(ref, git_dir, common), branch


def _resolve_ref(ref: str, git_dir: str, common: str) -> str | None:
    for base in (git_dir, common):
        value = (_read(os.path.join(base, *ref.split("/"))) or "").strip()
        if _SHA.match(value):
            return value
    for line in (_read(os.path.join(common, "packed-refs")) or "").splitlines():
        sha, _, name = line.partition(" ")
        if name.strip() == ref and _SHA.match(sha):
            return sha
    return None  # an unborn branch (no commit yet) or the reftable format


def _remote_url(common: str) -> str | None:
    """The URL of ``origin``, else of the first remote in ``config``, without credentials."""
    remotes: dict[str, str] = {}
    section = None
    for raw in (_read(os.path.join(common, "config")) or "").splitlines():
        line = raw.strip()
        header = re.match(r'^\[remote\s+"(.+)"\]$', line)
        if header:
            section = header.group(1)
        elif line.startswith("["):
            section = None
        elif section is not None and re.match(r"^url\s*=", line):
            remotes.setdefault(section, line.split("=", 1)[1].strip())
    url = remotes.get("origin") or next(iter(remotes.values()), None)
    return strip_credentials(url) if url else None


def _is_dirty(root: str) -> bool | None:
    try:
        out = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--ignore-submodules=dirty"],
            capture_output=True, text=True, timeout=_STATUS_TIMEOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None
