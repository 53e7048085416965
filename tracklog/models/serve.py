"""A scoring server for any pyfunc model, speaking MLflow's protocol.

``POST /invocations`` takes JSON with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs`` (and optional ``params``), or CSV (``text/csv``), and answers
``{"predictions": …}``. Malformed bodies get HTTP 400 and MLflow's error JSON
(``{"error_code": "BAD_REQUEST", "message": …}``); an unsupported content type gets 415.
``/ping`` and ``/health`` answer 200 once the model is loaded; ``/version`` gives the version.

The app is a Starlette app served by uvicorn (`serve`); `parse_input` and `predictions_json`
are shared with ``tracklog models predict``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

import msgspec

from eventlog.errors import InvalidInputError, TracklogError

__all__ = ["INPUT_KEYS", "ScoringError", "create_app", "parse_input", "predictions_json", "serve"]

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CONTENT_TYPES = ("application/json", "text/csv")


class ScoringError(InvalidInputError):
    """A request body the scoring protocol cannot read (HTTP 400, ``BAD_REQUEST``)."""


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
    array = np.asarray(value)
    if array.dtype == object and array.ndim > 1:
        raise ScoringError("instances/inputs rows have different lengths")
    if schema is not None and not schema.is_tensor and schema.has_names and array.ndim == 2 \
            and array.shape[1] == len(schema.inputs):
        return pd.DataFrame(array, columns=schema.input_names())
    return array


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


class UnsupportedContentType(ScoringError):
    """HTTP 415."""


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


def _error(status: int, code: str, message: str) -> Any:
    from starlette.responses import Response

    return Response(msgspec.json.encode({"error_code": code, "message": message}), status_code=status,
                    media_type="application/json")


def create_app(model: Any) -> Any:
    """The Starlette app serving `model` (a `PyFuncModel`)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tracklog import __version__

    signature = model.metadata.signature
    schema = signature.inputs if signature is not None else None

    async def ping(request: Request) -> Response:
        return Response("\n", media_type="application/json")

    async def version(request: Request) -> Response:
        return Response(__version__, media_type="application/json")

    async def invocations(request: Request) -> Response:
        body = await request.body()
        try:
            data, params = parse_input(body, request.headers.get("content-type", "application/json"), schema)
        except UnsupportedContentType as exc:
            return _error(415, "BAD_REQUEST", str(exc))
        except ScoringError as exc:
            return _error(400, "BAD_REQUEST", str(exc))
        try:
            predictions = model.predict(data, params=params)
        except InvalidInputError as exc:
            return _error(400, "BAD_REQUEST", f"Failed to predict: {exc}")
        except TracklogError as exc:
            return _error(500, "INTERNAL_ERROR", str(exc))
        except Exception as exc:  # noqa: BLE001 - the model's own failure, reported, not a crash
            return _error(400, "BAD_REQUEST",
                          "Encountered an unexpected error while evaluating the model. Verify that the input is "
                          f"compatible with the model: {type(exc).__name__}: {exc}")
        return Response(predictions_json(predictions), media_type="application/json")

    return Starlette(routes=[
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
    ])


def _app_from_env() -> Any:  # uvicorn factory for --workers > 1
    from tracklog.models.pyfunc import load_model

    return create_app(load_model(os.environ["TRACKLOG_SERVE_MODEL_URI"]))


def serve(model_uri: str, host: str = "127.0.0.1", port: int = 5000, workers: int = 1, log_level: str = "info") -> None:
    """Load the model and serve it until interrupted."""
    import uvicorn

    from tracklog.models.pyfunc import load_model

    model = load_model(model_uri)  # load before binding: a broken model fails here, clearly
    if workers > 1:
        os.environ["TRACKLOG_SERVE_MODEL_URI"] = model_uri
        uvicorn.run("tracklog.models.serve:_app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level)
    else:
        uvicorn.run(create_app(model), host=host, port=port, log_level=log_level)
