"""Where code came from: git commit, branch, remote and dirty flag, read from real repositories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.projects.conftest import git
from tracklog.tracking._source import GitInfo, git_info, script_git_tags


def test_commit_branch_remote_and_dirty(make_repo) -> None:
    repo = make_repo({"train.py": "print(1)\n", "sub/x.txt": "x\n"})
    git(repo, "remote", "add", "origin", "https://user:s3cret@example.com/org/repo.git")
    head = git(repo, "rev-parse", "HEAD")
    info = git_info(str(repo / "sub" / "x.txt"))
    assert info == GitInfo(root=str(repo), commit=head, branch="main", repo_url="https://example.com/org/repo.git", dirty=False)
    (repo / "train.py").write_text("print(2)\n")
    assert git_info(str(repo)).dirty is True  # type: ignore[union-attr]
    (repo / "train.py").write_text("print(1)\n")
    (repo / "untracked.csv").write_text("data\n")  # untracked files do not make a checkout dirty
    assert git_info(str(repo)).dirty is False  # type: ignore[union-attr]


def test_detached_head_packed_refs_and_new_commits(make_repo) -> None:
    repo = make_repo({"a": "1\n"})
    first = git(repo, "rev-parse", "HEAD")
    (repo / "a").write_text("2\n")
    git(repo, "commit", "--quiet", "-am", "second")
    second = git(repo, "rev-parse", "HEAD")
    git(repo, "pack-refs", "--all")  # refs now live only in packed-refs
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert git_info(str(repo)).commit == second  # type: ignore[union-attr]
    git(repo, "checkout", "--quiet", first)
    info = git_info(str(repo))
    assert info is not None and (info.commit, info.branch) == (first, None)


def test_worktree_and_first_remote(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"a": "1\n"})
    git(repo, "remote", "add", "upstream", "git@github.com:org/repo.git")
    git(repo, "branch", "feature")
    git(repo, "worktree", "add", "--quiet", str(tmp_path / "wt"), "feature")
    info = git_info(str(tmp_path / "wt" / "a"))
    assert info is not None
    assert (info.root, info.branch, info.commit) == (str(tmp_path / "wt"), "feature", git(repo, "rev-parse", "HEAD"))
    assert info.repo_url == "git@github.com:org/repo.git"


def test_outside_git_and_unborn_branch(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    assert git_info(str(tmp_path / "plain")) is None
    git(tmp_path / "plain", "init", "--quiet", "--initial-branch=trunk")
    info = git_info(str(tmp_path / "plain"))  # no commit yet: only the branch is known
    assert info is not None and info.tags() == {"mlflow.source.git.branch": "trunk"}


def test_tags() -> None:
    info = GitInfo(root="/r", commit="a" * 40, branch="main", repo_url=None, dirty=True)
    assert info.tags() == {"mlflow.source.git.commit": "a" * 40, "mlflow.source.git.branch": "main", "tracklog.source.git.dirty": "true"}


def test_installed_tools_get_no_git_tags(make_repo) -> None:
    assert script_git_tags(sys.executable) == {}
    assert script_git_tags("<console>") == {}
    repo = make_repo({"s.py": ""})
    assert script_git_tags(str(repo / "s.py"))["mlflow.source.git.branch"] == "main"


def test_a_plain_script_records_its_git_source(make_repo, tracking_uri: str) -> None:
    """start_run outside a project tags the script's commit, branch, remote and dirty flag."""
    repo = make_repo({"train.py": (
        "import tracklog\n"
        f"tracklog.set_tracking_uri({tracking_uri!r})\n"
        "with tracklog.start_run() as run:\n"
        "    print(run.info.run_id)\n"
    )})
    git(repo, "remote", "add", "origin", "https://github.com/org/repo.git")
    (repo / "train.py").write_text((repo / "train.py").read_text() + "# edited\n")
    out = subprocess.run([sys.executable, "train.py"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import tracklog

    tags = tracklog.get_run(out.stdout.strip()).data.tags
    assert tags["mlflow.source.name"] == str(repo / "train.py") and tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.git.commit"] == git(repo, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlflow.source.git.repoURL"] == "https://github.com/org/repo.git"
    assert tags["tracklog.source.git.dirty"] == "true"
