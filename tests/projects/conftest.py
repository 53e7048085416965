"""Fixtures for projects: real git repositories in temporary folders, a private cache folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sklearn_project"


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity; returns stdout."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull}
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """``make_repo(files, name=…)``: a git repository on branch ``main`` with `files` committed."""

    def make(files: dict[str, str], name: str = "repo") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch=main")
        for rel, text in files.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", "first")
        return repo

    return make


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """The sklearn example inside a git repository, under ``examples/sklearn_project``."""
    repo = tmp_path / "example-repo"
    shutil.copytree(EXAMPLE, repo / "examples" / "sklearn_project", ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "example")
    return repo


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environments and shims go to a private cache folder, never the user's ~/.cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRACKLOG_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the slow virtualenv tests, so they build each environment once."""
    return tmp_path_factory.mktemp("shared-cache")
