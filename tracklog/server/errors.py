"""Errors as MLflow's REST API answers them: one table from error types to HTTP statuses and codes.

Every handler raises; the app turns the exception into ``{"error_code": …, "message": …}`` with
the status MLflow uses for that code. tracklog's own error tree (`eventlog.errors`) maps by the
first matching row of `ERROR_TABLE`; `ApiError` carries a code of its own (malformed bodies,
unknown endpoints, auth). Anything else is a bug: 500 ``INTERNAL_ERROR``, logged server-side
with its traceback, never sent to the client.
"""

from __future__ import annotations

from eventlog.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    StorageError,
    TracklogError,
)

__all__ = ["ERROR_TABLE", "STATUS_OF_CODE", "ApiError", "status_and_code"]

# MLflow's ERROR_CODE_TO_HTTP_STATUS for the codes this server sends
STATUS_OF_CODE = {
    "INTERNAL_ERROR": 500,
    "TEMPORARILY_UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "NOT_IMPLEMENTED": 501,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "BAD_REQUEST": 400,
    "MALFORMED_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_LIMIT_EXCEEDED": 413,  # MLflow has no 413; the code names what happened
}


def _timeout_type() -> type[Exception]:
    from query.sql import QueryTimeoutError

    return QueryTimeoutError


# first match wins: specific rows before the ones they refine
ERROR_TABLE: list[tuple[type[Exception], str]] = [
    (NotFoundError, "RESOURCE_DOES_NOT_EXIST"),
    (AlreadyExistsError, "RESOURCE_ALREADY_EXISTS"),
    (_timeout_type(), "DEADLINE_EXCEEDED"),
    (InvalidInputError, "INVALID_PARAMETER_VALUE"),
    (InvalidStateError, "INVALID_PARAMETER_VALUE"),  # MLflow: logging to a deleted run is a bad parameter
    (StorageError, "TEMPORARILY_UNAVAILABLE"),  # the store refused or is unreachable: worth a retry
    (TracklogError, "INTERNAL_ERROR"),
]


class ApiError(Exception):
    """A request the API refuses, with MLflow's error code (and its HTTP status)."""

    def __init__(self, code: str, message: str, status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_OF_CODE.get(code, 400)
        self.headers = headers or {}  # sent with the error (Retry-After on a 429)


def status_and_code(exc: BaseException) -> tuple[int, str] | None:
    """The HTTP status and MLflow error code of a known error, or None for a bug."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code
    for kind, code in ERROR_TABLE:
        if isinstance(exc, kind):
            return STATUS_OF_CODE[code], code
    return None
