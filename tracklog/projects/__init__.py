"""Projects: reproducible runs from MLflow's ``MLproject`` format.

A project is a folder (or a git repository) with an ``MLproject`` file naming its environment
(``python_env``, ``conda_env`` or ``docker_env``) and its entry points — command templates with
typed parameters. `run` fetches it, checks the parameters, builds (and caches) the environment,
starts a run that records how to reproduce it, and runs the command in a child process that
logs into that run; the run's status follows the child's exit code.

>>> import tracklog.projects as projects
>>> project = projects.load_project("examples/sklearn_project")
>>> sorted(project.entry_points)
['main', 'validate']
>>> project.entry_points["main"].parameters["alpha"].type
'float'

From the command line: ``tracklog run URI [-e ENTRY] [-v VERSION] [-P key=value …]
[--env-manager local|virtualenv|uv|conda] [--experiment-name N] [--run-name N] [--build-only]``.
See ``docs/projects.md``.
"""

from eventlog.errors import (
    EntryPointNotFoundError,
    EnvironmentBuildError,
    EnvironmentUnavailableError,
    InvalidParameterError,
    InvalidProjectError,
    ProjectError,
    ProjectFetchError,
    ProjectRunFailedError,
)
from tracklog.projects._build import cache_root, tracklog_requirement
from tracklog.projects._env import ENV_MANAGERS, Environment
from tracklog.projects._runner import PreparedProject, SubmittedRun, build, run, status_of
from tracklog.projects._spec import (
    PARAMETER_TYPES,
    DockerEnv,
    EntryPoint,
    Parameter,
    Project,
    PythonEnv,
    load_project,
)

__all__ = [
    "ENV_MANAGERS",
    "PARAMETER_TYPES",
    "DockerEnv",
    "EntryPoint",
    "EntryPointNotFoundError",
    "Environment",
    "EnvironmentBuildError",
    "EnvironmentUnavailableError",
    "InvalidParameterError",
    "InvalidProjectError",
    "Parameter",
    "PreparedProject",
    "Project",
    "ProjectError",
    "ProjectFetchError",
    "ProjectRunFailedError",
    "PythonEnv",
    "SubmittedRun",
    "build",
    "cache_root",
    "load_project",
    "run",
    "status_of",
    "tracklog_requirement",
]
