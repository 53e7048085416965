"""Errors of `tracklog.projects`: leaves of tracklog's one tree (`eventlog.errors`).

    TracklogError
    └── ProjectError                                  anything that stops a project from running
        ├── InvalidProjectError (InvalidInputError)   an MLproject / python_env.yaml / conda.yaml that
        │                                             breaks the format: names the file, line and field
        ├── InvalidParameterError (InvalidInputError) a parameter value of the wrong type, or missing
        ├── EntryPointNotFoundError (NotFoundError)   no such entry point, and no such .py/.sh file
        ├── ProjectFetchError                         the URI is no folder, or git could not clone / check out
        ├── EnvironmentUnavailableError               conda, docker, uv or a Python version is not installed
        ├── EnvironmentBuildError                     creating the environment or installing into it failed
        └── ProjectRunFailedError                     the entry point exited non-zero or was killed
"""

from __future__ import annotations

from eventlog.errors import InvalidInputError, NotFoundError, TracklogError

__all__ = [
    "EntryPointNotFoundError",
    "EnvironmentBuildError",
    "EnvironmentUnavailableError",
    "InvalidParameterError",
    "InvalidProjectError",
    "ProjectError",
    "ProjectFetchError",
    "ProjectRunFailedError",
]


class ProjectError(TracklogError):
    """Root of the errors that stop a project from running."""


class InvalidProjectError(ProjectError, InvalidInputError):
    """A project file that breaks the MLproject format.

    The message reads ``<path>:<line>: <field>: <what was expected, what was found>``; the
    parts are also attributes, for tools.
    """

    def __init__(self, message: str, *, path: str, line: int | None = None, field: str | None = None) -> None:
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")
        self.path = path
        self.line = line
        self.field = field


class InvalidParameterError(ProjectError, InvalidInputError):
    """A parameter value that does not fit its declared type, or a required one left out."""


class EntryPointNotFoundError(ProjectError, NotFoundError):
    pass


class ProjectFetchError(ProjectError):
    pass


class EnvironmentUnavailableError(ProjectError):
    """The environment needs a tool that is not installed (conda, docker, uv, a Python version)."""


class EnvironmentBuildError(ProjectError):
    """Creating an environment or installing into it failed; the message ends with the log's tail."""


class ProjectRunFailedError(ProjectError):
    """The entry point exited non-zero (run FAILED) or was killed by a signal (run KILLED)."""

    def __init__(self, message: str, *, run_id: str, status: str, returncode: int | None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.returncode = returncode
