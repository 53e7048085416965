"""Building isolated environments (virtualenv, uv, conda), cached by the hash of their inputs.

An environment lives in ``<cache>/projects/envs/<manager>-<key>``, where ``<cache>`` is
``TRACKLOG_CACHE_DIR`` (default ``~/.cache/tracklog``) and ``<key>`` hashes everything that
decides its contents: the environment file, the requirement files it names (``-r …``), the
interpreter, and the tracklog that gets installed into it. Two runs of the same project share
one build; concurrent builders wait on a file lock, and a build that failed or was interrupted
is thrown away (it never gets its ready-marker) and redone next time.

tracklog itself is installed into every environment, so that the entry point can log into
its run: from the same place the running tracklog came from — the source checkout (editable)
when it runs from one, else the URL pip recorded (PEP 610), else ``tracklog==<version>`` from
the package index. ``TRACKLOG_PROJECT_REQUIREMENT`` overrides this (e.g. a wheel path).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from importlib import metadata

from eventlog.errors import EnvironmentBuildError, EnvironmentUnavailableError
from tracklog import _version
from tracklog.projects._spec import PythonEnv

__all__ = ["build_conda", "build_python_env", "cache_root", "file_hash", "find_python", "tracklog_requirement"]

_log = logging.getLogger("tracklog.projects")
_READY = ".tracklog-env.json"
_FORMAT = 1  # bump when the layout of a built environment changes
_CURRENT = ".".join(map(str, sys.version_info[:3]))


def cache_root() -> str:
    """``TRACKLOG_CACHE_DIR``, else ``$XDG_CACHE_HOME/tracklog``, else ``~/.cache/tracklog``
    (the rule `eventlog.log.local_cache` follows for remote stores)."""
    return os.environ.get("TRACKLOG_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tracklog"
    )


def file_hash(path: str) -> str:
    with open(path, "rb") as fh:
        return "sha256:" + hashlib.sha256(fh.read()).hexdigest()


def tracklog_requirement() -> tuple[str, ...]:
    """pip arguments that install the tracklog this process runs, from where it came from."""
    override = os.environ.get("TRACKLOG_PROJECT_REQUIREMENT")
    if override:
        return tuple(shlex.split(override))
    root = os.path.dirname(os.path.dirname(os.path.abspath(_version.__file__)))
    with contextlib.suppress(OSError), open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as fh:
        if re.search(r'(?m)^name\s*=\s*"tracklog"\s*$', fh.read()):
            return ("-e", root)  # a source checkout: the child sees the same code
    for dist in metadata.distributions(name="tracklog"):
        direct = dist.read_text("direct_url.json")
        if direct:
            info = json.loads(direct)
            if "vcs_info" in info:
                return (f"tracklog @ {info['vcs_info']['vcs']}+{info['url']}@{info['vcs_info']['commit_id']}",)
            return (f"tracklog @ {info['url']}",)
    return (f"tracklog=={_version.__version__}",)


def find_python(version: str | None) -> str:
    """An interpreter for `version` (``3.11`` matches any 3.11.x): this one if it fits, else
    ``pythonX.Y`` from PATH. A patch release not installed falls back to the same minor.

    Raises:
        EnvironmentUnavailableError: no installed Python has that major.minor version.
    """
    if not version or _fits(_version_of(sys.executable), version):
        return sys.executable
    minor = ".".join(version.split(".")[:2])
    seen: dict[str, str] = {}
    for name in (f"python{minor}", "python3", "python"):
        path = shutil.which(name)
        if path and path not in seen:
            seen[path] = _version_of(path)
            if _fits(seen[path], version):
                return path
    for path, found in [(sys.executable, _version_of(sys.executable)), *seen.items()]:
        if _fits(found, minor):
            _log.warning("python_env asks for Python %s; using %s (%s), the closest installed", version, found, path)
            return path
    have = ", ".join(sorted({_version_of(sys.executable), *seen.values()} - {""}))
    raise EnvironmentUnavailableError(
        f"the environment asks for Python {version}, but this machine has {have or 'no other Python'}; "
        f"install python{minor}, or use --env-manager uv (it can download Python versions)"
    )


def _version_of(python: str) -> str:
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return _CURRENT
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _fits(actual: str, wanted: str) -> bool:
    wanted_parts = wanted.strip().removesuffix(".*").split(".")
    return bool(actual) and actual.split(".")[: len(wanted_parts)] == wanted_parts


# ---- python environments (virtualenv, uv) ----------------------------------------------------


def build_python_env(manager: str, spec: PythonEnv, *, project_dir: str, env_file: str | None) -> str:
    """The folder of a virtualenv (``manager`` "virtualenv": stdlib venv + pip) or uv environment
    with `spec` and tracklog installed, built unless the cache has it. Returns the folder."""
    tool = _uv() if manager == "uv" else None
    python = find_python(spec.python) if manager == "virtualenv" else (spec.python or _CURRENT)
    requirement = tracklog_requirement()
    wants_tracklog = not any(re.match(r"^tracklog\b", d.strip()) for d in spec.dependencies)
    deps = [*spec.dependencies, *(requirement if wants_tracklog else ())]
    key = _key(manager, env_file, project_dir, deps, spec, python)
    with _cached(manager, key) as (path, build):
        if build is not None:
            bin_python = os.path.join(path, "bin", "python")
            if tool is None:
                build([python, "-m", "venv", path])
                pip = [bin_python, "-m", "pip", "install", "--disable-pip-version-check"]
            else:
                build([tool, "venv", "--quiet", "--python", python, path])
                pip = [tool, "pip", "install", "--python", bin_python]
            if spec.build_dependencies:
                build([*pip, *spec.build_dependencies], cwd=project_dir)
            if deps:
                build([*pip, *deps], cwd=project_dir)
    return path


def _uv() -> str:
    found = shutil.which("uv") or shutil.which("uv", path=os.path.dirname(sys.executable))
    if found is None:
        raise EnvironmentUnavailableError(
            "--env-manager uv needs the uv executable, which is not on PATH; install it "
            "(pip install uv) or use --env-manager virtualenv"
        )
    return found


def _key(manager: str, env_file: str | None, project_dir: str, deps: Sequence[str], spec: PythonEnv, python: str) -> str:
    material = {
        "format": _FORMAT, "manager": manager, "python": python,
        "python_version": _version_of(python) if os.path.isabs(python) else python,
        "env_file": file_hash(env_file) if env_file else None,
        "spec": [spec.python, list(spec.build_dependencies)], "deps": list(deps),
        "requirement_files": _requirement_files(deps, project_dir),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def _requirement_files(deps: Sequence[str], project_dir: str) -> dict[str, str]:
    """Hashes of the files that ``-r req.txt`` / ``-c constraints.txt`` entries name."""
    found = {}
    for dep in deps:
        match = re.match(r"^(?:-r|-c|--requirement|--constraint)[\s=]+(.+)$", dep.strip())
        if match:
            path = os.path.join(project_dir, match.group(1).strip())
            found[match.group(1)] = file_hash(path) if os.path.isfile(path) else "missing"
    return found


# ---- conda -------------------------------------------------------------------------------------


def build_conda(env_file: str, *, project_dir: str) -> str:
    """The prefix of a conda environment created from `env_file` (plus tracklog, with pip)."""
    conda = os.environ.get("CONDA_EXE") or shutil.which("conda")
    if not conda:
        raise EnvironmentUnavailableError(
            "conda_env needs conda, which is not on PATH (nor $CONDA_EXE); install Miniforge or "
            "Miniconda, or run with --env-manager virtualenv (builds from the file's python and pip entries)"
        )
    requirement = tracklog_requirement()
    key = hashlib.sha256(json.dumps([_FORMAT, file_hash(env_file), requirement, conda]).encode()).hexdigest()[:16]
    with _cached("conda", key) as (path, build):
        if build is not None:
            build([conda, "env", "create", "--prefix", path, "--file", env_file], cwd=project_dir)
            python = os.path.join(path, "bin", "python")
            if not os.path.exists(python):
                raise EnvironmentBuildError(f"{env_file}: the conda environment has no python; add python=X.Y to its dependencies")
            build([python, "-m", "pip", "install", "--disable-pip-version-check", *requirement], cwd=project_dir)
    return path


# ---- the cache ---------------------------------------------------------------------------------


class _Builder:
    """Runs the build commands of one environment, appending their output to its log."""

    def __init__(self, path: str, log_path: str) -> None:
        self.path = path
        self.log_path = log_path

    def __call__(self, argv: list[str], cwd: str | None = None) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"$ {shlex.join(argv)}\n")
            log.flush()
            env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "CONDA_PREFIX")}
            try:
                code = subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL).returncode
            except OSError as exc:
                raise EnvironmentBuildError(f"building {self.path} failed: cannot run {argv[0]}: {exc}") from exc
        if code != 0:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                tail = "".join(fh.readlines()[-15:])
            raise EnvironmentBuildError(
                f"building the environment failed: `{shlex.join(argv)}` exited with {code}; "
                f"full log in {self.log_path}; its end:\n{tail}"
            )


@contextlib.contextmanager
def _cached(manager: str, key: str) -> Iterator[tuple[str, _Builder | None]]:
    """Yield ``(path, builder)``; builder is None when a finished build is already cached."""
    envs = os.path.join(cache_root(), "projects", "envs")
    os.makedirs(envs, exist_ok=True)
    path = os.path.join(envs, f"{manager}-{key}")
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent builder of the same environment waits here
        try:
            if os.path.exists(os.path.join(path, _READY)):
                _log.info("=== Using the cached %s environment %s ===", manager, path)
                yield path, None
                return
            shutil.rmtree(path, ignore_errors=True)  # an unfinished build: start over
            with open(path + ".log", "w", encoding="utf-8"):
                pass
            _log.info("=== Building the %s environment %s (log: %s.log) ===", manager, path, path)
            try:
                yield path, _Builder(path, path + ".log")
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
            with open(os.path.join(path, _READY), "w", encoding="utf-8") as fh:
                json.dump({"manager": manager, "key": key}, fh)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
