"""The environment an entry point runs in, and how its command is launched there.

- ``local``: the interpreter running tracklog (its folder goes first on PATH, so ``python``
  in a command is this Python, with tracklog importable).
- ``virtualenv`` / ``uv``: an isolated environment built from ``python_env.yaml`` (or from a
  conda file's python and pip entries), cached — see `tracklog.projects._build`.
- ``conda``: ``conda env create`` from ``conda.yaml``, cached the same way.
- ``docker``: for ``docker_env`` projects: ``docker run`` of the image, with the project folder
  mounted at ``/mlflow/projects/code`` and a local tracking store mounted at its own path.

As in MLflow, the default manager follows the project: ``python_env`` → virtualenv,
``conda_env`` → conda, ``docker_env`` → docker; a folder with no environment file runs local.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import msgspec

from eventlog.errors import EnvironmentUnavailableError, InvalidParameterError
from tracklog.projects._build import build_conda, build_python_env, cache_root, file_hash
from tracklog.projects._spec import DockerEnv, Project, PythonEnv, read_conda_env, read_python_env

__all__ = ["ENV_MANAGERS", "Environment", "prepare_environment"]

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")
DOCKER_WORKDIR = "/mlflow/projects/code"  # MLflow's, so docker_env projects find their files
_log = logging.getLogger("tracklog.projects")


class Environment(msgspec.Struct, kw_only=True):
    """A ready environment: what to put first on PATH, or the docker image to run in."""

    manager: str                     # local | virtualenv | uv | conda | docker (tag mlflow.project.env)
    env_file: str | None = None      # the python_env.yaml / conda.yaml it was built from
    env_hash: str | None = None      # "sha256:…" of that file (of the image name, for docker)
    prefix: str | None = None        # the built environment's folder
    bin_dir: str | None = None
    docker: DockerEnv | None = None

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        if self.bin_dir:
            env["PATH"] = self.bin_dir + os.pathsep + env.get("PATH", os.defpath)
        if self.manager in ("virtualenv", "uv") and self.prefix:
            env["VIRTUAL_ENV"] = self.prefix
            env.pop("PYTHONHOME", None)
        elif self.manager == "conda" and self.prefix:
            env["CONDA_PREFIX"] = env["CONDA_DEFAULT_ENV"] = self.prefix
            env.pop("VIRTUAL_ENV", None)
        return env

    def argv(self, command: str, *, work_dir: str, run_env: dict[str, str], name: str) -> list[str]:
        """The process to start for `command`: ``bash -c`` here, or ``docker run … bash -c``."""
        if self.docker is None:
            return ["bash", "-c", command]
        return [*_docker_run(self.docker, work_dir, run_env, name), "bash", "-c", command]


def prepare_environment(project: Project, manager: str | None = None) -> Environment:
    """Get the environment for `project` ready (building and caching it if needed).

    Raises:
        InvalidParameterError: a manager that cannot run this kind of project.
        EnvironmentUnavailableError: conda, docker, uv or the Python version is missing.
        EnvironmentBuildError: creating the environment or installing into it failed.
    """
    if manager is not None and manager not in ENV_MANAGERS:
        raise InvalidParameterError(f"env manager must be one of {', '.join(ENV_MANAGERS)}, got {manager!r}")
    env_hash = file_hash(project.env_file) if project.env_file else None
    if project.docker_env is not None:
        _check_docker()
        image_hash = "sha256:" + hashlib.sha256(project.docker_env.image.encode()).hexdigest()
        return Environment(manager="docker", docker=project.docker_env, env_hash=image_hash)
    if manager is None:
        manager = {"python_env": "virtualenv", "conda_env": "conda"}.get(project.env_type or "", "local")
    if manager == "local":
        return Environment(manager="local", bin_dir=_local_bin(), env_file=project.env_file, env_hash=env_hash)
    if manager == "conda":
        if project.env_type != "conda_env" or project.env_file is None:
            raise InvalidParameterError(
                f"--env-manager conda needs a conda_env project; {project.directory} has "
                f"{project.env_type or 'no environment file'}: use virtualenv, uv or local"
            )
        prefix = build_conda(project.env_file, project_dir=project.directory)
    else:
        prefix = build_python_env(manager, _python_spec(project), project_dir=project.directory, env_file=project.env_file)
    return Environment(manager=manager, prefix=prefix, bin_dir=os.path.join(prefix, "bin"), env_file=project.env_file, env_hash=env_hash)


def _python_spec(project: Project) -> PythonEnv:
    if project.env_file is None:
        return PythonEnv()  # this Python, with nothing but tracklog
    if project.env_type == "conda_env":
        return read_conda_env(project.env_file)
    return read_python_env(project.env_file)


def _local_bin() -> str:
    """A folder whose ``python`` is this interpreter: its own, or a small shim."""
    here = os.path.dirname(sys.executable)
    candidate = os.path.join(here, "python")
    if os.path.exists(candidate) and os.path.samefile(candidate, sys.executable):
        return here
    shims = os.path.join(cache_root(), "projects", "shims", hashlib.sha256(sys.executable.encode()).hexdigest()[:16])
    shim = os.path.join(shims, "python")
    if not os.path.exists(shim):
        os.makedirs(shims, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=shims)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} \"$@\"\n")
        os.chmod(tmp, 0o755)
        os.replace(tmp, shim)
    return shims


# ---- docker ------------------------------------------------------------------------------------


def _check_docker() -> None:
    docker = shutil.which("docker")
    if docker is None:
        raise EnvironmentUnavailableError("docker_env needs docker, which is not on PATH; install Docker to run this project")
    try:
        out = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                             text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentUnavailableError(f"docker_env needs a running Docker daemon; `docker info` failed: {exc}") from exc
    if out.returncode != 0 or not out.stdout.strip():
        said = (out.stderr.strip().splitlines() or ["no answer"])[-1]
        raise EnvironmentUnavailableError(f"docker_env needs a running Docker daemon; `docker info` says: {said}")


def _docker_run(spec: DockerEnv, work_dir: str, run_env: dict[str, str], name: str) -> list[str]:
    argv = ["docker", "run", "--rm", "--name", name, "-v", f"{work_dir}:{DOCKER_WORKDIR}", "-w", DOCKER_WORKDIR]
    store = run_env.get("TRACKLOG_TRACKING_URI", "")
    if store and "://" not in store:
        argv += ["-v", f"{store}:{store}"]  # a local store is mounted where the run expects it
    for volume in spec.volumes:
        argv += ["-v", volume]
    env = dict(run_env)
    for entry in spec.environment:
        if isinstance(entry, tuple):
            env[entry[0]] = entry[1]
        elif entry in os.environ:
            env[entry] = os.environ[entry]
        else:
            raise EnvironmentUnavailableError(f"docker_env.environment copies {entry!r} from this machine, but it is not set")
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    return [*argv, spec.image]
