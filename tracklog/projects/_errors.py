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

from eventlog.errors import (  # the one error tree
    EntryPointNotFoundError,
    EnvironmentBuildError,
    EnvironmentUnavailableError,
    InvalidParameterError,
    InvalidProjectError,
    ProjectError,
    ProjectFetchError,
    ProjectRunFailedError,
)

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
