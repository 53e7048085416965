"""A scoring server for any pyfunc model, speaking MLflow's protocol.

``POST /invocations`` takes JSON with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs`` (and optional ``params``), or CSV (``text/csv``), and answers
``{"predictions": …}``. Malformed bodies get HTTP 400 and MLflow's error JSON
(``{"error_code": "BAD_REQUEST", "message": …}``); an unsupported content type gets 415.
``/ping`` and ``/health`` answer 200 once the model is loaded; ``/version`` gives the version.
A body over the limit (``--max-body-size``, default 100 MB) gets 413 before it is read whole;
JSON nested deeper than 64 levels, ragged or null-holding tensors get 400; parsing and
predicting run on worker threads, so the server keeps answering while a big request is scored.

The app is a Starlette app served by uvicorn (`serve`); `parse_input` and `predictions_json`
are shared with ``tracklog models predict``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

import anyio
import msgspec

from eventlog.errors import (  # the one error tree
    InvalidInputError,
    ScoringError,
    TracklogError,
    UnsupportedContentType,
)
from tracklog._json import MAX_DEPTH, json_depth
from tracklog._version import __version__
from tracklog.models.pyfunc import load_model

__all__ = ["DEFAULT_MAX_BODY", "INPUT_KEYS", "ScoringError", "create_app", "default_max_body", "parse_input",
           "predictions_json", "serve"]

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
DEFAULT_MAX_BODY = 100 << 20  # bytes of one request body
CONTENT_TYPES = ("application/json", "text/csv")


def _frame_from_split(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, Mapping) or "data" not in value:
        raise ScoringError("dataframe_split must be an object with 'data' (and usually 'columns'), "
                           f"got {type(value).__name__}")
    try:
        return pd.DataFrame(value["data"], columns=value.get("columns"), index=value.get("index"))
    except (ValueError, TypeError) as exc:
        raise ScoringError(f"dataframe_split does not describe a table: {exc}") from exc


def _tensor_input(value: Any, schema: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(value, Mapping):
        try:
            return pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
        except ValueError as exc:
            raise ScoringError(f"the input columns have different lengths: {exc}") from exc
    if isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
        return pd.DataFrame(value)
    if not isinstance(value, list):
        raise ScoringError(f"instances/inputs must be a list or an object of columns, got {type(value).__name__}")
    _check_tensor(value)
    array = np.asarray(value)
    if schema is not None and not schema.is_tensor and schema.has_names and array.ndim == 2 \
            and array.shape[1] == len(schema.inputs):
        return pd.DataFrame(array, columns=schema.input_names())
    return array


def _check_tensor(value: list[Any]) -> None:
    """`value` is a rectangular nest of lists whose leaves are numbers, strings or booleans, or
    `ScoringError` saying where it is not (a ragged row, a null, an object in a tensor)."""
    shape: list[int] = []
    level: list[Any] = [value]
    while level:
        lists = [v for v in level if isinstance(v, list)]
        if not lists:
            break
        if len(lists) != len(level):
            raise ScoringError(f"instances/inputs is not a tensor: at depth {len(shape) + 1} some items are lists and "
                               "some are not (every row needs the same shape)")
        lengths = {len(v) for v in lists}
        if len(lengths) > 1:
            raise ScoringError(f"instances/inputs is not a tensor: the lists at depth {len(shape) + 1} have different "
                               f"lengths ({', '.join(map(str, sorted(lengths)[:5]))}); every row needs the same shape")
        shape.append(lengths.pop())
        level = [item for v in lists for item in v]
    bad = next((v for v in level if v is None or isinstance(v, dict)), _NOTHING)
    if bad is not _NOTHING:
        raise ScoringError(f"instances/inputs holds {'null' if bad is None else 'an object'} inside a tensor; its values "
                           "must be numbers, strings or booleans")


_NOTHING = object()


def parse_input(body: bytes, content_type: str, schema: Any = None) -> tuple[Any, dict[str, Any] | None]:
    """Model input and params from a request body; `ScoringError` naming what is wrong."""
    mime = content_type.split(";")[0].strip().lower() or "application/json"
    if mime == "text/csv":
        import pandas as pd

        try:
            return pd.read_csv(io.BytesIO(body)), None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ScoringError(f"the body is not readable CSV: {exc}") from exc
    if mime != "application/json":
        raise UnsupportedContentType(f"this server takes {' or '.join(CONTENT_TYPES)}; got {content_type!r}")
    if json_depth(body) > MAX_DEPTH:
        raise ScoringError(f"the body nests arrays or objects more than {MAX_DEPTH} levels deep")
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ScoringError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ScoringError(f"the body must be a JSON object with one of {', '.join(INPUT_KEYS)}; got {type(data).__name__}")
    keys = [k for k in INPUT_KEYS if k in data]
    unknown = sorted(set(data) - set(INPUT_KEYS) - {"params"})
    if len(keys) != 1 or unknown:
        raise ScoringError(
            f"the body must have exactly one of {', '.join(INPUT_KEYS)} (plus optional params); "
            f"got keys {sorted(data)}")
    params = data.get("params")
    if params is not None and not isinstance(params, dict):
        raise ScoringError(f"params must be a JSON object, got {type(params).__name__}")
    key = keys[0]
    value = data[key]
    if key == "dataframe_split":
        return _frame_from_split(value), params
    if key == "dataframe_records":
        import pandas as pd

        if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
            raise ScoringError("dataframe_records must be a list of objects (one per row)")
        return pd.DataFrame(value), params
    return _tensor_input(value, schema), params


def _jsonable(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    if isinstance(value, pd.Series):
        return value.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def predictions_json(predictions: Any) -> bytes:
    return msgspec.json.encode({"predictions": _jsonable(predictions)})


def _error_json(code: str, message: str) -> bytes:
    return msgspec.json.encode({"error_code": code, "message": message})


def _error(status: int, code: str, message: str) -> Any:
    from starlette.responses import Response

    return Response(_error_json(code, message), status_code=status, media_type="application/json")


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Any, limit: int) -> bytes:
    """The body, refused (413) by its declared length before any of it is read, else as soon as
    it passes `limit` while streaming in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _score(model: Any, schema: Any, body: bytes, content_type: str) -> tuple[int, bytes]:
    """(status, JSON) for one request: parse, predict, encode — on a worker thread."""
    try:
        data, params = parse_input(body, content_type, schema)
    except UnsupportedContentType as exc:
        return 415, _error_json("BAD_REQUEST", str(exc))
    except ScoringError as exc:
        return 400, _error_json("BAD_REQUEST", str(exc))
    try:
        predictions = model.predict(data, params=params)
    except InvalidInputError as exc:
        return 400, _error_json("BAD_REQUEST", f"Failed to predict: {exc}")
    except TracklogError as exc:
        return 500, _error_json("INTERNAL_ERROR", str(exc))
    except Exception as exc:  # noqa: BLE001 - the model's own failure, reported, not a crash
        return 400, _error_json("BAD_REQUEST", "Encountered an unexpected error while evaluating the model. Verify that "
                                               f"the input is compatible with the model: {type(exc).__name__}: {exc}")
    return 200, predictions_json(predictions)


def create_app(model: Any, max_body: int | None = None) -> Any:
    """The Starlette app serving `model` (a `PyFuncModel`); bodies over `max_body` bytes (default
    ``TRACKLOG_SERVE_MAX_BODY``, else 100 MB) get 413. Parsing and predicting run on worker
    threads, so ``/ping`` answers while a big request is scored."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    signature = model.metadata.signature
    schema = signature.inputs if signature is not None else None
    limit = max_body if max_body is not None else default_max_body()

    async def ping(request: Request) -> Response:
        return Response("\n", media_type="application/json")

    async def version(request: Request) -> Response:
        return Response(__version__, media_type="application/json")

    async def invocations(request: Request) -> Response:
        try:
            body = await _read_body(request, limit)
        except _BodyTooLarge:
            return _error(413, "RESOURCE_LIMIT_EXCEEDED", f"The request body is larger than this server's limit of "
                                                          f"{limit} bytes (--max-body-size, TRACKLOG_SERVE_MAX_BODY)")
        content_type = request.headers.get("content-type", "application/json")
        status, payload = await anyio.to_thread.run_sync(_score, model, schema, body, content_type)
        return Response(payload, status_code=status, media_type="application/json")

    async def failed(request: Request, exc: Exception) -> Response:  # a bug: MLflow's error JSON, not plain text
        return _error(500, "INTERNAL_ERROR", f"Internal error while scoring: {type(exc).__name__}")

    return Starlette(routes=[
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
    ], exception_handlers={Exception: failed})


def default_max_body() -> int:
    """``TRACKLOG_SERVE_MAX_BODY`` (bytes), else `DEFAULT_MAX_BODY`."""
    text = os.environ.get("TRACKLOG_SERVE_MAX_BODY", "")
    if not text:
        return DEFAULT_MAX_BODY
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"TRACKLOG_SERVE_MAX_BODY must be a positive number of bytes, got {text!r}")
    return int(text)


def _app_from_env() -> Any:  # uvicorn factory for --workers > 1
    return create_app(load_model(os.environ["TRACKLOG_SERVE_MODEL_URI"]))


def serve(model_uri: str, host: str = "127.0.0.1", port: int = 5000, workers: int = 1, log_level: str = "info",
          max_body: int | None = None) -> None:
    """Load the model and serve it until interrupted; `max_body` bytes at most per request."""
    import uvicorn

    model = load_model(model_uri)  # load before binding: a broken model fails here, clearly
    if max_body is not None:
        os.environ["TRACKLOG_SERVE_MAX_BODY"] = str(max_body)  # the workers read it too
    default_max_body()  # a bad TRACKLOG_SERVE_MAX_BODY fails here, before binding
    if workers > 1:
        os.environ["TRACKLOG_SERVE_MODEL_URI"] = model_uri
        uvicorn.run("tracklog.models.serve:_app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level)
    else:
        uvicorn.run(create_app(model), host=host, port=port, log_level=log_level)
