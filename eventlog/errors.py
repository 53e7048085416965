"""The one error hierarchy of tracklog.

Every layer raises these; ``tracklog.exceptions`` re-exports them. Messages say what was
expected, what was found and where. Each class names the MLflow error code it stands for
(`error_code`), so the REST server answers it as MLflow's would and the REST client raises the
same class from the server's answer; the HTTP status of each code is one table in
`tracklog.server.errors`.

    TracklogError                                  INTERNAL_ERROR
    ├── InvalidInputError (ValueError)             INVALID_PARAMETER_VALUE  bad input from a caller
    │   ├── InvalidKeyError                        a metric/param/tag key breaks MLflow's rules
    │   ├── InvalidValueError                      a value of the wrong type or range
    │   ├── ValueTooLongError                      a key or value over its length limit
    │   ├── BatchTooLargeError                     a log_batch over MLflow's batch limits
    │   ├── ParamChangedError                      a logged param given a different value
    │   ├── InvalidArtifactPathError               an artifact path that would leave its run's folder
    │   ├── FilterSyntaxError                      a search filter or order_by that does not parse (.pos)
    │   ├── SqlError, SqlResourceError             SQL refused or failed; a query over the sandbox's memory
    │   ├── InvalidModelError, SchemaEnforcementError  not a model folder; input that breaks its signature
    │   ├── ScoringError                           BAD_REQUEST  a scoring request body not readable (UnsupportedContentType: 415)
    │   ├── InvalidProjectError, InvalidParameterError  (also ProjectError) an MLproject file or parameter
    │   └── MalformedRequestError                  MALFORMED_REQUEST  a request body that is not the JSON asked for
    ├── NotFoundError (LookupError)                RESOURCE_DOES_NOT_EXIST
    │   ├── ExperimentNotFoundError
    │   ├── RunNotFoundError
    │   ├── StoreNotFoundError                     reading a store that does not exist (reads never create one)
    │   ├── ArtifactNotFoundError (FileNotFoundError)  nothing at an artifact path or URI
    │   ├── RegisteredModelNotFoundError, ModelVersionNotFoundError, ModelAliasNotFoundError
    │   ├── LoggedModelNotFoundError, ModelNotFoundError   a logged model; any model URI
    │   ├── TraceNotFoundError, AssessmentNotFoundError    a trace (MLflow 3 tracing); an assessment of one
    │   └── EndpointNotFoundError                  ENDPOINT_NOT_FOUND  no such REST endpoint
    ├── AlreadyExistsError                         RESOURCE_ALREADY_EXISTS
    │   ├── ExperimentAlreadyExistsError
    │   └── RegisteredModelAlreadyExistsError
    ├── InvalidStateError                          INVALID_PARAMETER_VALUE  not allowed in the current state
    │   ├── RunNotActiveError                      logging to a deleted run
    │   ├── ExperimentNotActiveError               creating runs in a deleted experiment
    │   └── CorruptEventError                      INVALID_STATE  an event in the store no writer of ours writes (names it)
    ├── UnauthenticatedError                       UNAUTHENTICATED  no or wrong credentials
    ├── PermissionDeniedError                      PERMISSION_DENIED
    ├── RequestLimitError                          RESOURCE_LIMIT_EXCEEDED  a request over a server's limits
    ├── ApiError                                   a server's answer with its own code (.error_code)
    ├── QueryTimeoutError (TimeoutError)           DEADLINE_EXCEEDED  a query over its time limit
    ├── ModelLoadError                             a model's files do not make a working model
    ├── ProjectError                               a project that cannot run (fetch, environment, entry point, exit)
    ├── MissingDependencyError (ImportError)       an optional package a feature needs is not installed
    ├── TransferError                              an import, export or sync that cannot go on (names the entity)
    │   ├── SourceNotFoundError (NotFoundError)    nothing to import or sync at the source URI
    │   └── UnsupportedSourceError (InvalidInputError)  a source or destination of a kind not handled
    └── StorageError (OSError)                     TEMPORARILY_UNAVAILABLE
        ├── CorruptFileError                       a file in the store that is not a valid segment
        ├── FileVanishedError (FileNotFoundError)  a listed file removed before it was read
        ├── UnsupportedStoreError                  a filesystem without put-if-absent, or a bad URI
        │   └── StoreURIError (InvalidInputError)  INVALID_PARAMETER_VALUE  a store URI that cannot be meant (a mistyped scheme)
        └── WriterClosedError                      appending after close()

    CorruptFileWarning (UserWarning)               a file skipped by a reader because it is not a segment
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CODE_CLASSES",
    "AlreadyExistsError",
    "ApiError",
    "ArtifactNotFoundError",
    "BatchTooLargeError",
    "CorruptEventError",
    "CorruptFileError",
    "EndpointNotFoundError",
    "CorruptFileWarning",
    "ExperimentAlreadyExistsError",
    "ExperimentNotActiveError",
    "ExperimentNotFoundError",
    "FileVanishedError",
    "FilterSyntaxError",
    "InvalidArtifactPathError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidStateError",
    "InvalidValueError",
    "LoggedModelNotFoundError",
    "MalformedRequestError",
    "MissingDependencyError",
    "ModelAliasNotFoundError",
    "ModelNotFoundError",
    "ModelVersionNotFoundError",
    "NotFoundError",
    "ParamChangedError",
    "PermissionDeniedError",
    "RegisteredModelAlreadyExistsError",
    "RegisteredModelNotFoundError",
    "RequestLimitError",
    "RunNotActiveError",
    "RunNotFoundError",
    "StorageError",
    "StoreNotFoundError",
    "StoreURIError",
    "TracklogError",
    "UnauthenticatedError",
    "UnsupportedStoreError",
    "ValueTooLongError",
    "WriterClosedError",
    "error_from_code",
    "SqlError",
    "QueryTimeoutError",
    "SqlResourceError",
    "InvalidModelError",
    "SchemaEnforcementError",
    "ModelLoadError",
    "ScoringError",
    "UnsupportedContentType",
    "ProjectError",
    "InvalidProjectError",
    "InvalidParameterError",
    "EntryPointNotFoundError",
    "ProjectFetchError",
    "EnvironmentUnavailableError",
    "EnvironmentBuildError",
    "ProjectRunFailedError",
    "TraceNotFoundError",
    "AssessmentNotFoundError",
    "TransferError",
    "SourceNotFoundError",
    "UnsupportedSourceError",
]


class TracklogError(Exception):
    """Root of every error tracklog raises on purpose."""

    error_code: str = "INTERNAL_ERROR"


class InvalidInputError(TracklogError, ValueError):
    """Input that breaks a validation rule."""

    error_code = "INVALID_PARAMETER_VALUE"


class InvalidKeyError(InvalidInputError):
    pass


class InvalidValueError(InvalidInputError):
    pass


class ValueTooLongError(InvalidInputError):
    pass


class BatchTooLargeError(InvalidInputError):
    pass


class ParamChangedError(InvalidInputError):
    """Params are immutable: a key logged once cannot take a different value."""


class InvalidArtifactPathError(InvalidInputError):
    """An artifact path with ``..``, an absolute or drive path, a backslash, NUL or an empty segment."""


class FilterSyntaxError(InvalidInputError):
    """A filter or order_by string that does not parse: `.pos` is the 0-based column, `.text` the string."""

    def __init__(self, text: str, pos: int, message: str) -> None:
        self.text, self.pos = text, pos
        super().__init__(f"col {pos + 1}: {message}\n  {text}\n  {' ' * pos}^")

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args, self.__dict__)


class MalformedRequestError(InvalidInputError):
    """A request body that is not the JSON (or form) an endpoint reads."""

    error_code = "MALFORMED_REQUEST"


class NotFoundError(TracklogError, LookupError):
    error_code = "RESOURCE_DOES_NOT_EXIST"


class ExperimentNotFoundError(NotFoundError):
    pass


class RunNotFoundError(NotFoundError):
    pass


class RegisteredModelNotFoundError(NotFoundError):
    pass


class ModelVersionNotFoundError(NotFoundError):
    pass


class ModelAliasNotFoundError(NotFoundError):
    pass


class LoggedModelNotFoundError(NotFoundError):
    pass


class ModelNotFoundError(NotFoundError):
    """A model URI that names no model (says which part was not found)."""


class TraceNotFoundError(NotFoundError):
    pass


class AssessmentNotFoundError(NotFoundError):
    pass


class EndpointNotFoundError(NotFoundError):
    error_code = "ENDPOINT_NOT_FOUND"


class StoreNotFoundError(NotFoundError):
    """A read of a store that is not there: reading never creates a store, writing does."""


class ArtifactNotFoundError(NotFoundError, FileNotFoundError):
    """Nothing at an artifact path or URI; the message names it. Also a `FileNotFoundError`, so
    code written for local files catches it."""


class AlreadyExistsError(TracklogError):
    error_code = "RESOURCE_ALREADY_EXISTS"


class ExperimentAlreadyExistsError(AlreadyExistsError):
    pass


class RegisteredModelAlreadyExistsError(AlreadyExistsError):
    pass


class InvalidStateError(TracklogError):
    error_code = "INVALID_PARAMETER_VALUE"  # MLflow: logging to a deleted run is a bad parameter


class RunNotActiveError(InvalidStateError):
    pass


class ExperimentNotActiveError(InvalidStateError):
    pass


class CorruptEventError(InvalidStateError):
    """An event read from the store whose fields break what tracklog's writers write (a span id
    that is not hex, attributes that are not a JSON object): a damaged or foreign segment. The
    message names the entity, the field and the value; the event is never guessed at."""

    error_code = "INVALID_STATE"


class UnauthenticatedError(TracklogError):
    error_code = "UNAUTHENTICATED"


class PermissionDeniedError(TracklogError):
    error_code = "PERMISSION_DENIED"


class RequestLimitError(TracklogError):
    """A request over one of a server's limits (body size, rate): says which and how to stay under."""

    error_code = "RESOURCE_LIMIT_EXCEEDED"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.error_code = code


class ApiError(TracklogError):
    """An error with an explicit MLflow code: what a server answered when no more specific class
    fits, or what a server refuses with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[Exception], args: tuple[Any, ...], state: dict[str, Any]) -> Exception:
    """Unpickle an error whose __init__ takes other arguments than its message."""
    error = Exception.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class MissingDependencyError(TracklogError, ImportError):
    """An optional package a feature needs is not installed; the message names the extra to install."""


class StorageError(TracklogError, OSError):
    error_code = "TEMPORARILY_UNAVAILABLE"  # the store refused or is unreachable: worth a retry


class CorruptFileError(StorageError):
    """A file inside the store that cannot be read as a segment; the message names its path."""


class CorruptFileWarning(UserWarning):
    """A file in the store was skipped because it is not a readable segment; the message names it."""


class FileVanishedError(StorageError, FileNotFoundError):
    """A file that was listed is gone (compaction consumed it and its retention ran out): list again."""


class UnsupportedStoreError(StorageError):
    pass


class StoreURIError(UnsupportedStoreError, InvalidInputError):
    """A store URI that looks mistyped (``s3:/bucket``, ``memroy://x``); the message suggests a fix."""

    error_code = "INVALID_PARAMETER_VALUE"


class WriterClosedError(StorageError):
    pass


# The class a server's answer becomes, by its MLflow code (the most general class of that code;
# a caller that knows more — a run was asked for — narrows it, e.g. to `RunNotFoundError`).
# ---- errors of the upper layers (SQL, models, projects): here, so the tree is one ----------


class SqlError(InvalidInputError):
    """SQL that was refused or failed; the message says which and why."""


class QueryTimeoutError(TracklogError, TimeoutError):
    error_code = "DEADLINE_EXCEEDED"


class SqlResourceError(InvalidInputError):
    """A query that needs more memory (or temporary disk) than the sandbox allows."""


class InvalidModelError(InvalidInputError):
    """A folder that is not a readable model (no or a malformed ``MLmodel``)."""


class SchemaEnforcementError(InvalidInputError):
    """Model input that does not match the model's signature (names the column and the type)."""


class ModelLoadError(TracklogError):
    """A model whose files cannot be turned into a working model (names the file and why)."""


class ScoringError(InvalidInputError):
    """A request body the scoring protocol cannot read (HTTP 400, ``BAD_REQUEST``)."""

    error_code = "BAD_REQUEST"


class UnsupportedContentType(ScoringError):
    """HTTP 415."""


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


# ---- moving data (tracklog.transfer) ------------------------------------------------------------


class TransferError(TracklogError):
    """An import, export or sync that cannot go on; the message names the entity and both ends."""


class SourceNotFoundError(TransferError, NotFoundError):
    """Nothing to import or sync at the source URI (no folder, no database file, no store)."""


class UnsupportedSourceError(TransferError, InvalidInputError):
    """A source or destination of a kind the command does not handle."""


CODE_CLASSES: dict[str, type[TracklogError]] = {
    "INVALID_PARAMETER_VALUE": InvalidInputError,
    "BAD_REQUEST": InvalidInputError,
    "MALFORMED_REQUEST": MalformedRequestError,
    "RESOURCE_DOES_NOT_EXIST": NotFoundError,
    "ENDPOINT_NOT_FOUND": EndpointNotFoundError,
    "RESOURCE_ALREADY_EXISTS": AlreadyExistsError,
    "INVALID_STATE": InvalidStateError,
    "UNAUTHENTICATED": UnauthenticatedError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "RESOURCE_LIMIT_EXCEEDED": RequestLimitError,
    "REQUEST_LIMIT_EXCEEDED": RequestLimitError,
    "TEMPORARILY_UNAVAILABLE": StorageError,
}


def error_from_code(code: str, message: str, *, narrower: dict[str, type[TracklogError]] | None = None) -> TracklogError:
    """The error a server's ``{"error_code", "message"}`` stands for."""
    kind = (narrower or {}).get(code) or CODE_CLASSES.get(code)
    if kind is None or kind is RequestLimitError:
        return ApiError(code, message) if kind is None else RequestLimitError(message, code=code)
    return kind(message)
