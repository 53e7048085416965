"""The public surface of tracklog.projects: pinned names, the error tree, the docstring examples."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import tracklog.projects as projects
from eventlog.errors import InvalidInputError, NotFoundError, TracklogError


def test_all_is_pinned() -> None:
    assert set(projects.__all__) == {
        "ENV_MANAGERS", "PARAMETER_TYPES", "DockerEnv", "EntryPoint", "EntryPointNotFoundError", "Environment",
        "EnvironmentBuildError", "EnvironmentUnavailableError", "InvalidParameterError", "InvalidProjectError",
        "Parameter", "PreparedProject", "Project", "ProjectError", "ProjectFetchError", "ProjectRunFailedError",
        "PythonEnv", "SubmittedRun", "build", "cache_root", "load_project", "run", "status_of", "tracklog_requirement",
    }
    assert all(hasattr(projects, name) for name in projects.__all__)


def test_errors_are_leaves_of_the_one_tree() -> None:
    assert issubclass(projects.ProjectError, TracklogError)
    assert issubclass(projects.InvalidProjectError, InvalidInputError) and issubclass(projects.InvalidProjectError, ValueError)
    assert issubclass(projects.InvalidParameterError, InvalidInputError)
    assert issubclass(projects.EntryPointNotFoundError, NotFoundError) and issubclass(projects.EntryPointNotFoundError, LookupError)
    for name in ("ProjectFetchError", "EnvironmentUnavailableError", "EnvironmentBuildError", "ProjectRunFailedError"):
        assert issubclass(getattr(projects, name), projects.ProjectError)


@pytest.mark.parametrize("name", ["tracklog.projects", "tracklog.tracking._source", "tracklog.projects._fetch", "tracklog.projects._runner"])
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).parents[2])  # examples/ is relative to the repository
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
