"""Fetching: folders in place, git repositories cloned at a version, #subdirectories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.projects.conftest import git
from tracklog.projects import ProjectFetchError
from tracklog.projects._fetch import fetch_project, split_uri


def test_local_folder_runs_in_place(make_repo) -> None:
    repo = make_repo({"proj/MLproject": "entry_points: {}\n"})
    git(repo, "remote", "add", "origin", "https://github.com/org/repo.git")
    fetched = fetch_project(f"{repo}#proj")
    assert fetched.directory == str(repo / "proj") and fetched.temporary is None
    assert fetched.source_name == "https://github.com/org/repo.git#proj"  # as MLflow names it
    assert fetched.git is not None and fetched.git.commit == git(repo, "rev-parse", "HEAD")
    assert fetch_project(f"file://{repo}/proj").directory == str(repo / "proj")


def test_folder_outside_git_is_named_by_its_path(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    fetched = fetch_project(str(tmp_path / "p"))
    assert (fetched.source_name, fetched.git) == (str(tmp_path / "p"), None)


def test_version_clones_without_touching_the_working_tree(make_repo) -> None:
    repo = make_repo({"proj/MLproject": "name: v1\n"})
    first = git(repo, "rev-parse", "HEAD")
    (repo / "proj" / "MLproject").write_text("name: v2\n")
    git(repo, "commit", "--quiet", "-am", "v2")
    (repo / "proj" / "MLproject").write_text("name: dirty\n")  # uncommitted edit
    fetched = fetch_project(str(repo / "proj"), version=first)
    try:
        assert fetched.temporary is not None and fetched.directory == str(Path(fetched.temporary) / "proj")
        assert (Path(fetched.directory) / "MLproject").read_text() == "name: v1\n"
        assert fetched.git is not None and (fetched.git.commit, fetched.git.branch, fetched.git.dirty) == (first, None, False)
        assert fetched.git.repo_url == str(repo) and fetched.source_name == f"{repo}#proj"
    finally:
        fetched.cleanup()
    assert not Path(fetched.directory).exists()
    assert (repo / "proj" / "MLproject").read_text() == "name: dirty\n"
    assert git(repo, "rev-parse", "HEAD") != first


def test_version_can_be_a_branch(make_repo) -> None:
    repo = make_repo({"MLproject": "name: main\n"})
    git(repo, "checkout", "--quiet", "-b", "exp")
    (repo / "MLproject").write_text("name: exp\n")
    git(repo, "commit", "--quiet", "-am", "exp")
    git(repo, "checkout", "--quiet", "main")
    fetched = fetch_project(str(repo), version="exp")
    try:
        assert (Path(fetched.directory) / "MLproject").read_text() == "name: exp\n"
        assert fetched.git is not None and fetched.git.branch == "exp"
    finally:
        fetched.cleanup()


def test_bare_repository_url_is_cloned(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"a/b/MLproject": "name: deep\n"})
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(bare))
    fetched = fetch_project(f"file://{bare}#a/b")
    try:
        assert (Path(fetched.directory) / "MLproject").read_text() == "name: deep\n"
        assert fetched.git is not None and fetched.git.branch == "main"
        assert fetched.source_name == f"file://{bare}#a/b"
    finally:
        fetched.cleanup()


@pytest.mark.parametrize(("uri", "version", "message"), [
    ("{tmp}/nowhere", None, r"is neither an existing folder nor a git URL"),
    ("{repo}#missing", None, r"no subdirectory 'missing' in the repository"),
    ("{repo}#../escape", None, r"the #subdirectory must be a relative path inside the repository"),
    ("{repo}/f.txt", None, r"is a file; expected the project's folder"),
    ("{repo}", "no-such-branch", r"could not check out version 'no-such-branch' of .*: git says: .*no-such-branch"),
    ("{tmp}/plain", "main", r"a version \(-v main\) needs a git repository, but .*/plain is not inside one"),
    ("file://{tmp}/gone.git", None, r"'file://.*/gone.git' is neither an existing folder nor a git URL"),
])
def test_fetch_errors(uri: str, version: str | None, message: str, make_repo, tmp_path: Path) -> None:
    repo = make_repo({"f.txt": "x\n"})
    (tmp_path / "plain").mkdir()
    with pytest.raises(ProjectFetchError, match=message):
        fetch_project(uri.format(tmp=tmp_path, repo=repo), version)


def test_unreachable_remote_fails_without_leaking_credentials() -> None:
    with pytest.raises(ProjectFetchError, match=r"could not clone https://127.0.0.1:9/none.git: git says: ") as caught:
        fetch_project("https://user:s3cret@127.0.0.1:9/none.git")
    assert "s3cret" not in str(caught.value)


def test_split_uri() -> None:
    assert split_uri("'git@github.com:org/repo.git#a/b/'") == ("git@github.com:org/repo.git", "a/b")
    assert split_uri("./proj") == ("./proj", "")
