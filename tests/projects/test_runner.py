"""Running projects: what a run records, and how its status follows the child process."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tracklog
from tests.projects.conftest import git
from tracklog import projects
from tracklog.projects import (
    EnvironmentUnavailableError,
    InvalidParameterError,
    ProjectError,
    ProjectRunFailedError,
)


def _project(root: Path, mlproject: str, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "MLproject").write_text(mlproject)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def _tracklog(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracklog.cli", *args], capture_output=True, text=True, timeout=300, **kwargs)


def _wait_for(path: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# ---- the example project ------------------------------------------------------------------------


def test_example_from_a_folder(example_repo: Path, tracking_uri: str) -> None:
    folder = example_repo / "examples" / "sklearn_project"
    submitted = projects.run(str(folder), parameters={"alpha": "0.3"}, env_manager="local", run_name="from-folder")
    run = tracklog.get_run(submitted.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "from-folder"
    assert run.data.params == {"alpha": "0.3", "l1_ratio": "0.1", "test_size": "0.25"}
    assert set(run.data.metrics) == {"rmse", "mae", "r2"}  # logged by the child into the same run
    tags = run.data.tags
    assert tags["model"] == "ElasticNet"
    env_hash = "sha256:" + hashlib.sha256((folder / "python_env.yaml").read_bytes()).hexdigest()
    assert {k: v for k, v in tags.items() if k != "mlflow.user"} == {
        "mlflow.runName": "from-folder",
        "mlflow.source.name": str(folder),
        "mlflow.source.type": "PROJECT",
        "mlflow.source.git.commit": git(example_repo, "rev-parse", "HEAD"),
        "mlflow.source.git.branch": "main",
        "tracklog.source.git.dirty": "false",
        "mlflow.project.entryPoint": "main",
        "mlflow.project.env": "local",
        "mlflow.project.backend": "local",
        "tracklog.project.name": "sklearn_project",
        "tracklog.project.command": "python train.py --alpha 0.3 --l1-ratio 0.1 --test-size 0.25",
        "tracklog.project.envFile": "python_env.yaml",
        "tracklog.project.envHash": env_hash,
        "tracklog.project.exitCode": "0",
        "model": "ElasticNet",
    }


def test_example_from_a_git_repository_at_a_commit(example_repo: Path, tracking_uri: str) -> None:
    """-v checks out an older commit in a clone; its defaults apply, the working tree is untouched."""
    first = git(example_repo, "rev-parse", "HEAD")
    mlproject = example_repo / "examples" / "sklearn_project" / "MLproject"
    mlproject.write_text(mlproject.read_text().replace("folds: {type: int, default: 5}", "folds: {type: int, default: 4}"))
    git(example_repo, "commit", "--quiet", "-am", "four folds")
    submitted = projects.run(f"file://{example_repo}#examples/sklearn_project", "validate", version=first,
                             parameters={"alpha": 0.2}, env_manager="local", experiment_name="from-git")
    run = tracklog.get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == tracklog.get_experiment_by_name("from-git").experiment_id  # type: ignore[union-attr]
    assert run.data.params == {"alpha": "0.2", "folds": "5"}  # the first commit's default
    assert [m.step for m in tracklog.MlflowClient().get_metric_history(run.info.run_id, "fold_r2")] == [0, 1, 2, 3, 4]
    tags = run.data.tags
    assert tags["mlflow.source.git.commit"] == first and "mlflow.source.git.branch" not in tags
    assert tags["tracklog.project.version"] == first and tags["tracklog.source.git.dirty"] == "false"
    assert tags["mlflow.source.name"] == f"{example_repo}#examples/sklearn_project"
    assert tags["mlflow.project.entryPoint"] == "validate"
    assert "default: 4" in mlproject.read_text()


# ---- how runs end ----------------------------------------------------------------------------------


def test_a_failing_entry_point_yields_a_failed_run(tmp_path: Path, tracking_uri: str) -> None:
    proj = _project(tmp_path / "p", "entry_points:\n  main:\n    command: echo working; exit 3\n")
    with pytest.raises(ProjectRunFailedError, match=r"run \w+ FAILED: `echo working; exit 3` exited with 3") as caught:
        projects.run(str(proj), env_manager="local")
    assert (caught.value.status, caught.value.returncode) == ("FAILED", 3)
    run = tracklog.get_run(caught.value.run_id)
    assert run.info.status == "FAILED" and run.info.end_time
    assert run.data.tags["tracklog.project.exitCode"] == "3"


def test_a_child_killed_by_a_signal_yields_a_killed_run(tmp_path: Path, tracking_uri: str) -> None:
    proj = _project(tmp_path / "p", (
        "entry_points:\n"
        "  main: {command: 'exec sleep 60'}\n"
        "  shell: {command: \"sh -c 'kill -9 $$'; exit $?\"}\n"  # the shell reports its child's SIGKILL as 137
    ))
    submitted = projects.run(str(proj), env_manager="local", synchronous=False)
    assert submitted.get_status() == "RUNNING"
    os.killpg(submitted.pid, signal.SIGKILL)  # the OOM killer, or kill -9 from another terminal
    assert submitted.wait() is False
    assert submitted.get_status() == "KILLED" and submitted.returncode == -9
    run = tracklog.get_run(submitted.run_id)
    assert run.info.status == "KILLED" and run.data.tags["tracklog.project.exitCode"] == "-9"
    with pytest.raises(ProjectRunFailedError, match="KILLED") as caught:
        projects.run(str(proj), "shell", env_manager="local")
    assert caught.value.returncode == 137
    assert tracklog.get_run(caught.value.run_id).info.status == "KILLED"


def test_an_asynchronous_run_is_waited_for_at_exit(tmp_path: Path) -> None:
    """As in MLflow, the interpreter that launched a background run waits for it when it exits."""
    proj = _project(tmp_path / "p", "entry_points:\n  main: {command: 'sleep 0.5; exit 4'}\n")
    store = tmp_path / "store"
    script = (f"import tracklog; from tracklog import projects; tracklog.set_tracking_uri({str(store)!r}); "
              f"print(projects.run({str(proj)!r}, env_manager='local', synchronous=False).run_id)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    run = tracklog.Client(str(store)).get_run(out.stdout.strip())
    assert run.info.status == "FAILED" and run.data.tags["tracklog.project.exitCode"] == "4"


CHILD = """\
import os, sys, time
import tracklog
with tracklog.start_run() as run:
    tracklog.log_metric("started", 1.0)
    tracklog.flush()
    open("pid.tmp", "w").write(str(os.getpid()))
    os.rename("pid.tmp", "pid")
    time.sleep(120)
"""


def test_sigterm_to_the_runner_kills_the_child_and_ends_the_run_killed(tmp_path: Path) -> None:
    proj = _project(tmp_path / "p", "entry_points:\n  main: {command: 'python child.py'}\n", **{"child.py": CHILD})
    store = str(tmp_path / "store")
    runner = subprocess.Popen([sys.executable, "-m", "tracklog.cli", "run", str(proj), "--env-manager", "local", "--store", store],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child = int(_wait_for(proj / "pid"))
        runner.send_signal(signal.SIGTERM)
        _, err = runner.communicate(timeout=60)
    finally:
        runner.kill()
    assert runner.returncode == -signal.SIGTERM, err  # it dies of the SIGTERM, after cleaning up
    assert _gone(child)
    run = tracklog.Client(store).search_runs(["0"])[0]
    assert run.info.status == "KILLED"
    assert run.data.metrics == {"started": 1.0}  # what the child logged before is kept
    assert "Terminated: stopping run" in err


def test_ctrl_c_to_the_runner_kills_the_child_and_ends_the_run_killed(tmp_path: Path) -> None:
    proj = _project(tmp_path / "p", "entry_points:\n  main: {command: 'echo $$ > pid; exec sleep 120'}\n")
    store = str(tmp_path / "store")
    runner = subprocess.Popen([sys.executable, "-m", "tracklog.cli", "run", str(proj), "--env-manager", "local", "--store", store],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child = int(_wait_for(proj / "pid"))
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=60)
    finally:
        runner.kill()
    assert runner.returncode == 130 and "aborted" in err
    assert _gone(child)
    run = tracklog.Client(store).search_runs(["0"])[0]
    assert run.info.status == "KILLED" and run.data.tags["tracklog.project.exitCode"] == str(-signal.SIGINT)


# ---- the command line ------------------------------------------------------------------------------


def test_cli_parameter_type_error_is_one_line_and_starts_no_run(tmp_path: Path) -> None:
    store = tmp_path / "store"
    out = _tracklog("run", "examples/sklearn_project", "-P", "alpha=fast", "--env-manager", "local", "--store", str(store),
                    cwd=Path(__file__).parents[2])
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "error: parameter 'alpha' of entry point 'main' must be a float (like 0.5 or 1e-3), got 'fast'")
    assert "Traceback" not in out.stderr and not store.exists()
    bad = _tracklog("run", ".", "-P", "novalue", "--store", str(store))
    assert bad.returncode == 2 and "expected KEY=VALUE, got 'novalue'" in bad.stderr


def test_cli_scripts_without_mlproject_and_extra_parameters(tmp_path: Path) -> None:
    proj = tmp_path / "scripts"
    proj.mkdir()
    (proj / "prep.sh").write_text('printf "%s|" "$@" > args.txt\n')
    store = tmp_path / "store"
    out = _tracklog("run", str(proj), "-e", "prep.sh", "-P", "greeting=hello world", "-P", "n=2", "--store", str(store))
    assert out.returncode == 0, out.stderr
    assert (proj / "args.txt").read_text() == "--greeting|hello world|--n|2|"
    run = tracklog.Client(str(store)).search_runs(["0"])[0]
    assert run.info.status == "FINISHED" and run.data.params == {"greeting": "hello world", "n": "2"}
    assert run.data.tags["mlflow.project.entryPoint"] == "prep.sh" and run.data.tags["mlflow.project.env"] == "local"


def test_cli_build_only_starts_no_run(tmp_path: Path) -> None:
    store = tmp_path / "store"
    out = _tracklog("run", "examples/sklearn_project", "-e", "validate", "--env-manager", "local", "--build-only",
                    "--store", str(store), cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr
    assert "environment  local" in out.stdout and "command      python validate.py --alpha 0.5 --folds 5" in out.stdout
    assert not store.exists()


# ---- where runs go -----------------------------------------------------------------------------------


def test_a_project_run_inside_a_run_is_its_child(tmp_path: Path, tracking_uri: str) -> None:
    proj = _project(tmp_path / "p", "entry_points:\n  main: {command: 'true'}\n")
    with tracklog.start_run() as parent:
        child = projects.run(str(proj), env_manager="local", tags={"team": "vision"})
    tags = tracklog.get_run(child.run_id).data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id and tags["team"] == "vision"


def test_a_memory_store_is_refused(tmp_path: Path, tracking_uri: str) -> None:
    proj = _project(tmp_path / "p", "entry_points:\n  main: {command: 'true'}\n")
    tracklog.set_tracking_uri("memory://projects-test")
    with pytest.raises(ProjectError, match=r"a memory:// store lives in one process"):
        projects.run(str(proj), env_manager="local")


# ---- environments that need tools ------------------------------------------------------------------


def _fake_tool(bin_dir: Path, name: str, script: str) -> Path:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    return tool


def test_conda_env_builds_once_and_runs_in_the_prefix(tmp_path: Path, tracking_uri: str, cache_dir: Path, monkeypatch) -> None:
    """With a stand-in conda: the environment is created once (cached by the file's hash) and
    the command runs with its bin/ first on PATH."""
    log = tmp_path / "conda.log"
    _fake_tool(tmp_path / "bin", "conda", f"""echo "$@" >> {log}
prefix=$4; mkdir -p "$prefix/bin"
cat > "$prefix/bin/python" <<'EOF'
#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> "$(dirname "$0")/../pip.log"; exit 0; fi
exec {sys.executable} "$@"
EOF
chmod +x "$prefix/bin/python"
""")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.delenv("CONDA_EXE", raising=False)
    proj = _project(tmp_path / "p", "conda_env: env.yaml\nentry_points:\n  main: {command: 'echo $CONDA_PREFIX > prefix.txt; which python > which.txt'}\n",
                    **{"env.yaml": "dependencies: [python=3.11, {pip: [numpy]}]\n"})
    first = projects.run(str(proj))
    second = projects.run(str(proj))
    prefix = (proj / "prefix.txt").read_text().strip()
    assert prefix.startswith(str(cache_dir / "projects" / "envs" / "conda-"))
    assert (proj / "which.txt").read_text().strip() == f"{prefix}/bin/python"
    assert log.read_text().splitlines() == [f"env create --prefix {prefix} --file {proj / 'env.yaml'}"]  # built once
    assert "-m pip install --disable-pip-version-check -e" in Path(prefix, "pip.log").read_text()  # tracklog goes in
    for submitted in (first, second):
        tags = tracklog.get_run(submitted.run_id).data.tags
        assert tags["mlflow.project.env"] == "conda" and tags["tracklog.project.envPrefix"] == prefix


def test_docker_env_runs_the_image_with_the_run_in_its_environment(tmp_path: Path, tracking_uri: str, monkeypatch) -> None:
    log = tmp_path / "docker.log"
    _fake_tool(tmp_path / "bin", "docker", f"""if [ "$1" = info ]; then echo 27.0.1; exit 0; fi
for a in "$@"; do echo "$a" >> {log}; done
""")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("FROM_HOST", "copied")
    proj = _project(tmp_path / "p", (
        "docker_env:\n  image: python:3.11-slim\n  volumes: ['/data:/data']\n  environment: [[STAGE, test], FROM_HOST]\n"
        "entry_points:\n  main:\n    parameters: {n: {type: int, default: 2}}\n    command: python train.py --n {n}\n"
    ))
    submitted = projects.run(str(proj))
    argv = log.read_text().splitlines()
    run_id = submitted.run_id
    assert argv[:5] == ["run", "--rm", "--name", f"tracklog-{run_id}", "-v"]
    assert f"{proj}:/mlflow/projects/code" in argv and f"{tracking_uri}:{tracking_uri}" in argv and "/data:/data" in argv
    assert {f"TRACKLOG_RUN_ID={run_id}", f"TRACKLOG_TRACKING_URI={tracking_uri}", "STAGE=test", "FROM_HOST=copied"} <= set(argv)
    assert argv[-4:] == ["python:3.11-slim", "bash", "-c", "python train.py --n 2"]
    tags = tracklog.get_run(run_id).data.tags
    assert tags["mlflow.project.env"] == "docker" and tags["mlflow.docker.image.name"] == "python:3.11-slim"


def test_missing_tools_get_clear_errors(tmp_path: Path, tracking_uri: str, monkeypatch) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.delenv("CONDA_EXE", raising=False)
    conda = _project(tmp_path / "c", "conda_env: conda.yaml\nentry_points:\n  main: {command: 'true'}\n", **{"conda.yaml": "dependencies: []\n"})
    with pytest.raises(EnvironmentUnavailableError, match=r"conda_env needs conda, which is not on PATH \(nor \$CONDA_EXE\)"):
        projects.run(str(conda))
    with pytest.raises(EnvironmentUnavailableError, match=r"--env-manager uv needs the uv executable"):
        projects.run(str(conda), env_manager="uv")
    old = _project(tmp_path / "o", "python_env: env.yaml\nentry_points:\n  main: {command: 'true'}\n", **{"env.yaml": "python: '2.7'\n"})
    with pytest.raises(EnvironmentUnavailableError, match=r"the environment asks for Python 2.7, but this machine has .*install python2.7"):
        projects.run(str(old))
    with pytest.raises(InvalidParameterError, match=r"--env-manager conda needs a conda_env project; .* has python_env"):
        projects.run(str(old), env_manager="conda")
    _fake_tool(tmp_path / "bin", "docker", "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2; exit 1\n")
    docker = _project(tmp_path / "d", "docker_env: {image: busybox}\nentry_points:\n  main: {command: 'true'}\n")
    with pytest.raises(EnvironmentUnavailableError, match=r"docker_env needs a running Docker daemon; `docker info` says: Cannot connect"):
        projects.run(str(docker))
    (tmp_path / "bin" / "docker").unlink()
    with pytest.raises(EnvironmentUnavailableError, match=r"docker_env needs docker, which is not on PATH"):
        projects.run(str(docker))
    assert tracklog.search_runs(output_format="list") == []  # nothing started
