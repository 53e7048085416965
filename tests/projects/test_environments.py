"""Slow: real isolated environments built with pip, and the example under the real `mlflow run`."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tracklog
from tests.projects.conftest import EXAMPLE, git
from tracklog import projects
from tracklog.projects import EnvironmentBuildError

pytestmark = pytest.mark.slow


def test_virtualenv_builds_once_and_runs_the_example(example_repo: Path, tracking_uri: str, shared_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """From a folder, then from the git repository at a commit: one cached build, both FINISHED."""
    monkeypatch.setenv("TRACKLOG_CACHE_DIR", str(shared_cache))
    caplog.set_level(logging.INFO, logger="tracklog.projects")
    first = projects.run(str(example_repo / "examples" / "sklearn_project"), parameters={"alpha": 0.1})
    head = git(example_repo, "rev-parse", "HEAD")
    second = projects.run(f"{example_repo}#examples/sklearn_project", "validate", version=head, parameters={"folds": 3})
    runs = [tracklog.get_run(s.run_id) for s in (first, second)]
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    assert set(runs[0].data.metrics) == {"rmse", "mae", "r2"} and runs[1].data.metrics["mean_r2"] < 1
    prefix = runs[0].data.tags["tracklog.project.envPrefix"]
    assert runs[1].data.tags["tracklog.project.envPrefix"] == prefix and prefix.startswith(str(shared_cache))
    assert {r.data.tags["mlflow.project.env"] for r in runs} == {"virtualenv"}
    assert runs[1].data.tags["mlflow.source.git.commit"] == head
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Building the virtualenv environment" in m for m in messages) <= 1  # 0 if an earlier test built it
    assert any("Using the cached virtualenv environment" in m for m in messages)
    # isolated: its own interpreter, with the project's requirements and this checkout's tracklog
    probe = subprocess.run([f"{prefix}/bin/python", "-c", "import sys, sklearn, tracklog; print(sys.prefix, sklearn.__version__, tracklog.__file__)"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert probe == [prefix, "1.9.1", str(Path(tracklog.__file__))]


def test_a_failed_build_is_reported_and_not_cached(tmp_path: Path, tracking_uri: str, cache_dir: Path) -> None:
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "python_env.yaml").write_text("dependencies: [tracklog-test-no-such-package==0.0.1]\n")
    (proj / "MLproject").write_text("entry_points:\n  main: {command: 'true'}\n")
    with pytest.raises(EnvironmentBuildError, match=r"(?s)building the environment failed: `.*pip install .*` exited with 1; full log in .*\.log; its end:\n.*tracklog-test-no-such-package"):
        projects.run(str(proj))
    envs = cache_dir / "projects" / "envs"
    assert [p.name for p in envs.iterdir() if p.is_dir()] == []  # thrown away, rebuilt next time
    assert tracklog.search_runs(output_format="list") == []


def test_uv_environment(tmp_path: Path, tracking_uri: str) -> None:
    if shutil.which("uv") is None:
        pytest.skip("uv is not installed")
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "MLproject").write_text("python_env: python_env.yaml\nentry_points:\n  main: {command: 'python probe.py'}\n")
    (proj / "probe.py").write_text("import sys, tracklog\ntracklog.log_metric('x', 1)\nopen('prefix.txt', 'w').write(sys.prefix)\n")
    (proj / "python_env.yaml").write_text("dependencies: []\n")
    submitted = projects.run(str(proj), env_manager="uv")
    run = tracklog.get_run(submitted.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics == {"x": 1.0}
    assert (proj / "prefix.txt").read_text().strip() == run.data.tags["tracklog.project.envPrefix"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SQLAlchemy's, raised inside MLflow's store
def test_the_example_runs_unchanged_under_mlflow_run(tmp_path: Path) -> None:
    """The same MLproject and scripts, launched by MLflow's own `mlflow run`, log to MLflow."""
    mlflow = pytest.importorskip("mlflow")
    project = tmp_path / "proj"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKLOG_", "MLFLOW_"))}
    env.update(PATH=f"{Path(sys.executable).parent}:{env['PATH']}", MLFLOW_TRACKING_URI=db)
    for args in (["-P", "alpha=0.4"], ["-e", "validate", "-P", "folds=3"]):
        out = subprocess.run([sys.executable, "-m", "mlflow", "run", str(project), "--env-manager", "local",
                              "--experiment-name", "unchanged", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
    client = mlflow.MlflowClient(tracking_uri=db)
    experiment = client.get_experiment_by_name("unchanged")
    runs = {r.data.tags["mlflow.project.entryPoint"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"main", "validate"}
    assert runs["main"].info.status == "FINISHED" and set(runs["main"].data.metrics) == {"rmse", "mae", "r2"}
    assert runs["main"].data.params == {"alpha": "0.4", "l1_ratio": "0.1", "test_size": "0.25"}
    assert runs["validate"].data.metrics.keys() == {"fold_r2", "mean_r2"}
    assert runs["main"].data.tags["mlflow.source.type"] == "PROJECT"
    assert not (tmp_path / "tracklog").exists() and not (project / "tracklog").exists()  # nothing went to tracklog
