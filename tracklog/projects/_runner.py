"""Running an entry point as a child process inside a tracklog run.

The runner creates the run and records how to reproduce it (params; source URI, git commit,
branch, remote and dirty flag; entry point; environment and its file's hash; the command), then
starts the command in its own process group with ``TRACKLOG_RUN_ID``, ``TRACKLOG_TRACKING_URI``
and ``TRACKLOG_EXPERIMENT_ID`` set, so the fluent API inside it logs into the same run. The
run's status follows the exit: 0 → FINISHED, killed by a signal → KILLED (a shell reports
that as 128+N), anything else → FAILED. Ctrl-C or SIGTERM to the runner passes the signal to
the whole process group, escalates to SIGKILL after a grace period, and ends the run KILLED.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from eventlog.errors import (
    ExperimentAlreadyExistsError,
    InvalidInputError,
    ProjectError,
    ProjectRunFailedError,
)
from eventlog.log import default_actor
from projections import Param, RunStatus
from tracklog._config import get_tracking_uri
from tracklog.projects._env import Environment, prepare_environment
from tracklog.projects._fetch import FetchedProject, fetch_project
from tracklog.projects._params import ResolvedParameters, resolve_parameters
from tracklog.projects._spec import EntryPoint, Project, load_project
from tracklog.tracking import fluent
from tracklog.tracking.client import Client

__all__ = ["PreparedProject", "SubmittedRun", "build", "run", "status_of"]

_log = logging.getLogger("tracklog.projects")
_KILL_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGKILL, signal.SIGTERM)
# the run's environment variables; MLflow's are dropped so a script that picks its library by
# MLFLOW_RUN_ID (as examples/sklearn_project does) is not misled by an outer `mlflow run`
_DROPPED_ENV = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "TRACKLOG_EXPERIMENT_NAME")


class PreparedProject(msgspec.Struct, kw_only=True):
    """A project fetched, checked and with its environment built: everything but the run."""

    fetched: FetchedProject
    project: Project
    entry_point: EntryPoint
    parameters: ResolvedParameters
    environment: Environment


def status_of(returncode: int) -> RunStatus:
    """The run status an exit code means.

    >>> [status_of(c).value for c in (0, 1, -9, 137, 143, 2)]
    ['FINISHED', 'FAILED', 'KILLED', 'KILLED', 'KILLED', 'FAILED']
    """
    if returncode == 0:
        return RunStatus.FINISHED
    if returncode < 0 or returncode - 128 in _KILL_SIGNALS:
        return RunStatus.KILLED
    return RunStatus.FAILED


class SubmittedRun:
    """An entry point running in a child process; `wait` records how it ended on the run."""

    def __init__(self, run_id: str, process: subprocess.Popen[bytes], client: Client, fetched: FetchedProject, command: str) -> None:
        self.run_id = run_id
        self.command = command
        self._process = process
        self._client = client
        self._fetched = fetched
        self._lock = threading.Lock()
        self._status: RunStatus | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.poll()

    def get_status(self) -> RunStatus:
        """RUNNING while the child runs, then the status its exit recorded."""
        code = self._process.poll()
        if code is None:
            return RunStatus.RUNNING
        return self._finish(code)

    def wait(self) -> bool:
        """Wait for the child; record its status on the run; True if it FINISHED."""
        return self._finish(self._process.wait()) == RunStatus.FINISHED

    def cancel(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        """Send `sig` to the child's process group, SIGKILL it after `grace` seconds (or at a
        second Ctrl-C), and end the run KILLED (a child that already exited keeps its status)."""
        if self._process.poll() is not None:
            self._finish(self._process.returncode)
            return
        try:
            if self._process.poll() is None:
                self._signal(sig)
                try:
                    self._process.wait(grace)
                except subprocess.TimeoutExpired:
                    _log.warning("=== Run %s did not stop within %.0f s of %s; killing it ===",
                                 self.run_id, grace, signal.Signals(sig).name)
        finally:
            if self._process.poll() is None:
                self._signal(signal.SIGKILL)
                self._process.wait()
            self._finish(self._process.returncode, RunStatus.KILLED)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, sig)

    def _finish(self, returncode: int, status: RunStatus | None = None) -> RunStatus:
        with self._lock:
            if self._status is None:
                self._status = status or status_of(returncode)
                atexit.unregister(self._wait_at_exit)
                try:
                    self._client.set_tag(self.run_id, "tracklog.project.exitCode", str(returncode))
                    self._client.set_terminated(self.run_id, self._status)
                    self._client.flush()
                finally:
                    self._fetched.cleanup()
                level = logging.INFO if self._status == RunStatus.FINISHED else logging.ERROR
                _log.log(level, "=== Run %s %s (exit code %s) ===", self.run_id, self._status.value, returncode)
            return self._status

    def _wait_at_exit(self) -> None:
        # as MLflow's asynchronous local runs: the launching interpreter waits for them on exit
        if self._status is None:
            self.wait()

    def __repr__(self) -> str:
        return f"<SubmittedRun run_id={self.run_id!r} pid={self.pid} returncode={self.returncode}>"


def build(
    uri: str, entry_point: str = "main", version: str | None = None,
    parameters: Mapping[str, Any] | None = None, env_manager: str | None = None,
    storage_dir: str | None = None,
) -> PreparedProject:
    """Fetch the project, check the entry point and parameters, build the environment — no run.

    The git checkout of a remote project is deleted again; the environment stays cached.
    """
    prepared = _prepare(uri, entry_point, version, parameters, env_manager, storage_dir)
    prepared.fetched.cleanup()
    return prepared


def _prepare(uri: str, entry_point: str, version: str | None, parameters: Mapping[str, Any] | None,
             env_manager: str | None, storage_dir: str | None) -> PreparedProject:
    fetched = fetch_project(uri, version)
    try:
        project = load_project(fetched.directory)
        entry = project.entry_point(entry_point)
        resolved = resolve_parameters(entry, parameters, project_dir=fetched.directory, storage_dir=storage_dir)
        environment = prepare_environment(project, env_manager)
    except BaseException:
        fetched.cleanup()
        raise
    return PreparedProject(fetched=fetched, project=project, entry_point=entry, parameters=resolved, environment=environment)


def run(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    env_manager: str | None = None,
    run_name: str | None = None,
    synchronous: bool = True,
    storage_dir: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> SubmittedRun:
    """Run an entry point of the project at `uri` in a new run of the current tracking store.

    Args:
        uri: a project folder, or a git URL (``https://…``, ``git@…``, ``file://…``), with an
            optional ``#sub/dir``.
        entry_point: an entry point of the MLproject file, or a ``.py``/``.sh`` file of the project.
        version: a git commit, branch or tag, checked out in a temporary clone.
        parameters: values for the entry point's parameters; undeclared ones become ``--key value``.
        experiment_name: run in this experiment, created if missing (or give `experiment_id`).
        env_manager: ``local``, ``virtualenv``, ``uv`` or ``conda``; None follows the project.
        run_name: the run's name. tags: extra tags for the run.
        synchronous: wait for the entry point (default). If False, call `SubmittedRun.wait`;
            the interpreter also waits for it at exit.
        storage_dir: where remote ``path`` parameter values are downloaded.

    Returns:
        The `SubmittedRun`: ``run_id``, ``wait()``, ``get_status()``, ``cancel()``.

    Raises:
        ProjectRunFailedError: (synchronous runs) the entry point failed or was killed.
        InvalidProjectError, InvalidParameterError, EntryPointNotFoundError, ProjectFetchError,
        EnvironmentUnavailableError, EnvironmentBuildError: before anything runs.
    """
    if get_tracking_uri().startswith("memory://"):
        raise ProjectError(f"tracking URI {get_tracking_uri()}: a memory:// store lives in one process, "
                           "so an entry point's process cannot log into it; use a folder or a bucket")
    prepared = _prepare(uri, entry_point, version, parameters, env_manager, storage_dir)
    try:  # the store is opened only once the project is known to be runnable
        client = Client()
        exp_id = _experiment_id(client, experiment_name, experiment_id)
        run_id = _start_run(client, exp_id, prepared, entry_point, version, run_name, tags)
    except BaseException:
        prepared.fetched.cleanup()
        raise
    submitted = _launch(client, run_id, exp_id, prepared)
    if synchronous:
        _wait(submitted)
    else:
        atexit.register(submitted._wait_at_exit)
    return submitted


def _experiment_id(client: Client, name: str | None, experiment_id: str | None) -> str:
    if name is not None and experiment_id is not None:
        raise InvalidInputError("pass experiment_name or experiment_id, not both")
    if experiment_id is not None:
        return client.get_experiment(str(experiment_id)).experiment_id
    if name is not None:
        found = client.get_experiment_by_name(name)
        if found is None:
            with contextlib.suppress(ExperimentAlreadyExistsError):  # another runner won the race
                return client.create_experiment(name)
            found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
    return fluent._experiment_id()


def _run_tags(prepared: PreparedProject, entry_point: str, version: str | None) -> dict[str, str]:
    fetched, env = prepared.fetched, prepared.environment
    tags = {
        "mlflow.user": default_actor(),
        "mlflow.source.name": fetched.source_name,
        "mlflow.source.type": "PROJECT",
        "mlflow.project.entryPoint": entry_point,
        "mlflow.project.env": env.manager,
        "mlflow.project.backend": "local",
        "tracklog.project.command": prepared.parameters.command,
        **(fetched.git.tags() if fetched.git is not None else {}),
    }
    optional = {
        "tracklog.project.name": prepared.project.name,
        "tracklog.project.version": version,
        "tracklog.project.envFile": os.path.relpath(env.env_file, fetched.directory) if env.env_file else None,
        "tracklog.project.envHash": env.env_hash,
        "tracklog.project.envPrefix": env.prefix,
        "mlflow.docker.image.name": env.docker.image if env.docker else None,
    }
    tags.update({k: v for k, v in optional.items() if v})
    parent = fluent.active_run()  # a project run from inside a run is its child, as in MLflow
    if parent is not None:
        tags["mlflow.parentRunId"] = parent.run_id
    return tags


def _start_run(client: Client, exp_id: str, prepared: PreparedProject, entry_point: str, version: str | None,
               run_name: str | None, extra_tags: Mapping[str, Any] | None) -> str:
    tags = {**_run_tags(prepared, entry_point, version), **(extra_tags or {})}
    run_id = client.create_run(exp_id, tags=tags, run_name=run_name).info.run_id
    resolved = prepared.parameters
    params = [Param(key=k, value=v) for k, v in {**resolved.values, **resolved.extras}.items()]
    try:
        for start in range(0, len(params), 100):
            client.log_batch(run_id, params=params[start : start + 100])
    except BaseException:
        client.set_terminated(run_id, RunStatus.FAILED)
        client.flush()
        raise
    client.flush()  # the child reads the run from the store
    return run_id


def _launch(client: Client, run_id: str, exp_id: str, prepared: PreparedProject) -> SubmittedRun:
    run_env = {"TRACKLOG_RUN_ID": run_id, "TRACKLOG_TRACKING_URI": client.tracking_uri, "TRACKLOG_EXPERIMENT_ID": exp_id}
    base = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env = prepared.environment.environ({**base, **run_env})
    command = prepared.parameters.command
    argv = prepared.environment.argv(command, work_dir=prepared.fetched.directory, run_env=run_env, name=f"tracklog-{run_id}")
    _log.info("=== Running command %r in run %s (%s environment) ===", command, run_id, prepared.environment.manager)
    try:
        # its own session: cancel() reaches every process the command starts
        process = subprocess.Popen(argv, cwd=prepared.fetched.directory, env=env, start_new_session=True)
    except OSError as exc:
        client.set_terminated(run_id, RunStatus.FAILED)
        client.flush()
        prepared.fetched.cleanup()
        raise ProjectError(f"could not start {shlex.join(argv[:3])}: {exc}") from exc
    return SubmittedRun(run_id, process, client, prepared.fetched, command)


class _Terminated(BaseException):
    """SIGTERM arrived while the runner waited for its child."""


def _wait(submitted: SubmittedRun) -> None:
    """Wait in the foreground: Ctrl-C and SIGTERM cancel the child and end the run KILLED."""
    restore = _catch_sigterm()
    try:
        returncode = submitted._process.wait()
    except KeyboardInterrupt:
        restore()
        _log.error("=== Interrupted: stopping run %s ===", submitted.run_id)
        submitted.cancel(signal.SIGINT)
        raise
    except _Terminated:
        restore()
        _log.error("=== Terminated: stopping run %s ===", submitted.run_id)
        submitted.cancel(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)  # now the process's own SIGTERM behaviour (flush, exit)
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        restore()
    status = submitted._finish(returncode)
    if status != RunStatus.FINISHED:
        raise ProjectRunFailedError(
            f"run {submitted.run_id} {status.value}: `{submitted.command}` exited with {returncode}",
            run_id=submitted.run_id, status=status.value, returncode=returncode,
        )


def _catch_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into `_Terminated` while waiting (main thread only; an ignored SIGTERM stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is None:  # set outside Python: the default is the closest we can restore
        previous = signal.SIG_DFL
    if previous == signal.SIG_IGN:
        return lambda: None

    def on_sigterm(signum: int, frame: Any) -> None:
        raise _Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
