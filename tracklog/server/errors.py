"""Errors as MLflow's REST API answers them: ``{"error_code", "message"}`` with MLflow's status.

Every error of tracklog's tree (`eventlog.errors`) names its MLflow code (``error_code``); this
module holds the one table from codes to HTTP statuses (MLflow's ``ERROR_CODE_TO_HTTP_STATUS``)
and builds the reply. A filter that does not parse also says where (``details``: the filter and
the 0-based position). Anything that is not a `TracklogError` is a bug: 500 ``INTERNAL_ERROR``,
logged server-side with its traceback, never sent to the client.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from eventlog.errors import ApiError as _ApiError
from eventlog.errors import FilterSyntaxError, TracklogError

__all__ = ["STATUS_OF_CODE", "ApiError", "error_body", "status_and_code"]

_log = logging.getLogger("tracklog.server")
_encode = msgspec.json.Encoder().encode

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
    "INVALID_STATE": 400,
    "RESOURCE_LIMIT_EXCEEDED": 413,  # MLflow has no 413; the code names what happened
}


class ApiError(_ApiError):
    """An error with an explicit MLflow code, and (rarely) a status other than the code's own
    (405 for a method an endpoint does not take)."""

    def __init__(self, code: str, message: str, status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(code, message)
        self.status = status
        self.headers = headers or {}  # sent with the error (Retry-After on a 429)


def status_and_code(exc: BaseException) -> tuple[int, str] | None:
    """The HTTP status and MLflow error code of a known error, or None for a bug."""
    if not isinstance(exc, TracklogError):
        return None
    code = exc.error_code
    status = getattr(exc, "status", None) or STATUS_OF_CODE.get(code, 400 if code != "INTERNAL_ERROR" else 500)
    return status, code


def error_body(exc: BaseException, what: str, scrub: Any = None) -> tuple[int, bytes]:
    """(status, MLflow's error JSON) for a failed request; a bug is logged with its traceback and
    answered without it. `scrub` removes the server's own paths from messages."""
    known = status_and_code(exc)
    if known is None:
        _log.error("tracklog server: %s failed", what, exc_info=exc)
        return 500, _encode({"error_code": "INTERNAL_ERROR", "message": f"Internal error while handling {what}; "
                                                                          "see the server log"})
    status, code = known
    message = scrub(str(exc)) if scrub else str(exc)
    if status >= 500:
        _log.warning("tracklog server: %s: %s %s", what, code, message)
    body: dict[str, Any] = {"error_code": code, "message": message}
    if isinstance(exc, FilterSyntaxError):
        body["details"] = {"filter": exc.text, "position": exc.pos}
    return status, _encode(body)
