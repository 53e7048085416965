"""The one error hierarchy of tracklog.

Every layer raises these; ``tracklog.exceptions`` re-exports them. Messages say what was
expected, what was found and where.

    TracklogError
    ├── InvalidInputError (ValueError)            bad input from a caller
    │   ├── InvalidKeyError                       a metric/param/tag key breaks MLflow's rules
    │   ├── InvalidValueError                     a value of the wrong type or range
    │   ├── ValueTooLongError                     a key or value over its length limit
    │   ├── BatchTooLargeError                    a log_batch over MLflow's batch limits
    │   ├── ParamChangedError                     a logged param given a different value
    │   └── InvalidArtifactPathError              an artifact path that would leave its run's folder
    ├── NotFoundError (LookupError)
    │   ├── ExperimentNotFoundError
    │   ├── RunNotFoundError
    │   └── ArtifactNotFoundError (FileNotFoundError)  nothing at an artifact path or URI
    ├── AlreadyExistsError
    │   └── ExperimentAlreadyExistsError
    ├── InvalidStateError                         an operation not allowed in the current state
    │   ├── RunNotActiveError                     logging to a deleted run
    │   └── ExperimentNotActiveError              creating runs in a deleted experiment
    └── StorageError (OSError)
        ├── CorruptFileError                      a file in the store that is not a valid segment
        ├── FileVanishedError (FileNotFoundError) a listed file removed before it was read
        ├── UnsupportedStoreError                 a filesystem without put-if-absent, or a bad URI
        └── WriterClosedError                     appending after close()

    CorruptFileWarning (UserWarning)              a file skipped by a reader because it is not a segment
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "ArtifactNotFoundError",
    "BatchTooLargeError",
    "CorruptFileError",
    "CorruptFileWarning",
    "ExperimentAlreadyExistsError",
    "ExperimentNotActiveError",
    "FileVanishedError",
    "ExperimentNotFoundError",
    "InvalidArtifactPathError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidStateError",
    "InvalidValueError",
    "NotFoundError",
    "ParamChangedError",
    "RunNotActiveError",
    "RunNotFoundError",
    "StorageError",
    "TracklogError",
    "UnsupportedStoreError",
    "ValueTooLongError",
    "WriterClosedError",
]


class TracklogError(Exception):
    """Root of every error tracklog raises on purpose."""


class InvalidInputError(TracklogError, ValueError):
    """Input that breaks a validation rule."""


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


class NotFoundError(TracklogError, LookupError):
    pass


class ExperimentNotFoundError(NotFoundError):
    pass


class RunNotFoundError(NotFoundError):
    pass


class ArtifactNotFoundError(NotFoundError, FileNotFoundError):
    """Nothing at an artifact path or URI; the message names it. Also a `FileNotFoundError`, so
    code written for local files catches it."""


class AlreadyExistsError(TracklogError):
    pass


class ExperimentAlreadyExistsError(AlreadyExistsError):
    pass


class InvalidStateError(TracklogError):
    pass


class RunNotActiveError(InvalidStateError):
    pass


class ExperimentNotActiveError(InvalidStateError):
    pass


class StorageError(TracklogError, OSError):
    pass


class CorruptFileError(StorageError):
    """A file inside the store that cannot be read as a segment; the message names its path."""


class CorruptFileWarning(UserWarning):
    """A file in the store was skipped because it is not a readable segment; the message names it."""


class FileVanishedError(StorageError, FileNotFoundError):
    """A file that was listed is gone (compaction consumed it and its retention ran out): list again."""


class UnsupportedStoreError(StorageError):
    pass


class WriterClosedError(StorageError):
    pass
