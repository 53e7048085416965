"""Request bodies: read within a size limit, decoded as JSON within a nesting limit.

Every JSON endpoint (MLflow's API, the auth endpoints, tracklog's SQL, tokens and UI endpoints)
reads its body here: one over the server's ``--max-body-size`` is refused with 413 before it
is read whole (by its Content-Length, else while it streams in), and a body that does not
decode is a 400 naming what is wrong. Decoding is msgspec's, into the endpoint's typed Struct;
JSON nested deeper than `MAX_DEPTH` levels is refused before it is decoded, so no body can make
the decoder recurse out of stack (a RecursionError would be a 500).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from tracklog._json import MAX_DEPTH, json_depth
from tracklog.server.errors import ApiError

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["BodyTooLarge", "decode_json", "read_body", "read_request", "validation_message"]



class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__("RESOURCE_LIMIT_EXCEEDED", f"The request body is larger than this server's limit of {limit} bytes")


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


async def read_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes:
    """The whole request body, refusing one over `limit` bytes (checked before and while reading)."""
    declared = _header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError("BAD_REQUEST", "the client went away mid-request")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def read_request(request: Request, limit: int) -> bytes:
    """`read_body` for a Starlette request."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(decoder: Any, data: bytes, *, what: str = "The request body") -> Any:
    """`data` decoded by msgspec `decoder` (empty: ``{}``); 400 for JSON that does not decode,
    does not fit the endpoint's types, or nests deeper than `MAX_DEPTH`."""
    data = data or b"{}"
    if json_depth(data) > MAX_DEPTH:
        raise ApiError("MALFORMED_REQUEST", f"{what} nests arrays or objects more than {MAX_DEPTH} levels deep")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ApiError("INVALID_PARAMETER_VALUE", validation_message(exc, data)) from exc
    except msgspec.DecodeError as exc:
        raise ApiError("MALFORMED_REQUEST", f"{what} is not valid JSON: {exc}") from exc


def validation_message(exc: msgspec.ValidationError, data: bytes | dict[str, Any] | None = None) -> str:
    """MLflow's wording: "Missing value for required parameter 'metrics[0].timestamp'" for a field
    that is absent or null, "Invalid value 31 for parameter 'run_id' supplied" (the value as JSON)
    for one of the wrong type, with msgspec's own message as the hint."""
    text = str(exc)
    what, _, path = text.partition(" - at `")
    path = path.rstrip("`")
    name = path.removeprefix("$").removeprefix(".")
    if what.startswith("Object missing required field `"):
        field = what.split("`")[1]
        return _missing(f"{name}.{field}" if name else field)
    if not name:
        return f"Invalid value for a request parameter: {text}"
    if "got `null`" in what:
        return _missing(name)
    found, value = _value_at(data, path)
    shown = msgspec.json.encode(value).decode() if found else "of the wrong type"
    return (f"Invalid value {shown} for parameter '{name}' supplied. "
            f"Hint: {text}. See the API docs for more information about request parameters.")


def _missing(name: str) -> str:
    return f"Missing value for required parameter '{name}'. See the API docs for more information about request parameters."


def _value_at(data: bytes | dict[str, Any] | None, path: str) -> tuple[bool, Any]:
    """The value at msgspec's error path (``$.metrics[0].key``) in the raw request, if it is there."""
    try:
        value: Any = msgspec.json.decode(data) if isinstance(data, bytes) else data
        for part in re.findall(r"\.(\w+)|\[(\d+)\]", path):
            value = value[part[0]] if part[0] else value[int(part[1])]
    except (msgspec.DecodeError, LookupError, TypeError):
        return False, None
    return True, value
