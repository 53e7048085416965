"""Model signatures in MLflow's JSON form: inferred from examples, enforced at predict time.

A signature is the column (or tensor) schema of a model's inputs and outputs plus optional
inference params. It is stored in ``MLmodel`` exactly as MLflow stores it — each part a JSON
string — so either library reads the other's::

    signature:
      inputs: '[{"type": "double", "name": "a", "required": true}]'
      outputs: '[{"type": "long", "required": true}]'
      params: null

`enforce_schema` converts what can be converted without loss (an int column for a ``double``
input, a float32 for a ``double``) and refuses the rest with `SchemaEnforcementError`, naming
the column and the type it expected.

>>> import pandas as pd
>>> sig = infer_signature(pd.DataFrame({"a": [1.5], "b": ["x"]}))
>>> sig.inputs.to_json()
'[{"type": "double", "name": "a", "required": true}, {"type": "string", "name": "b", "required": true}]'
>>> enforce_schema(pd.DataFrame({"a": ["oops"], "b": ["x"]}), sig.inputs)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eventlog.errors.SchemaEnforcementError: input column 'a': expected double, got string values (dtype ...)
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventlog.errors import (
    InvalidInputError,
    SchemaEnforcementError,  # the one error tree
)

__all__ = [
    "ColSpec",
    "DATA_TYPES",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "SchemaEnforcementError",
    "TensorSpec",
    "enforce_params",
    "enforce_schema",
    "infer_signature",
]

# MLflow's scalar type names, with the numpy dtype each one means.
DATA_TYPES: dict[str, str] = {
    "boolean": "bool", "integer": "int32", "long": "int64", "float": "float32",
    "double": "float64", "string": "object", "binary": "object", "datetime": "datetime64[ns]",
}


_NESTED_TYPES = ("array", "object", "map")  # MLflow's composite types: kept as given, not enforced


@dataclass(frozen=True)
class ColSpec:
    """One column: a type from `DATA_TYPES`, an optional name, and whether it must be present.

    MLflow's composite types (``array`` with ``items``, ``object`` with ``properties``, ``map``
    with ``values``) keep their description in `detail` and pass through unchecked.
    """

    type: str
    name: str | None = None
    required: bool = True
    detail: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.type not in DATA_TYPES and self.type not in _NESTED_TYPES:
            raise InvalidInputError(f"unknown column type {self.type!r}; expected one of {', '.join(DATA_TYPES)}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, **dict(self.detail)}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    """A tensor: numpy dtype name and shape (``-1`` for a variable dimension)."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "tensor", "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)}}
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class Schema:
    """A list of `ColSpec` or of `TensorSpec` (not both)."""

    inputs: tuple[ColSpec | TensorSpec, ...]

    def __init__(self, inputs: Sequence[ColSpec | TensorSpec]) -> None:
        object.__setattr__(self, "inputs", tuple(inputs))
        kinds = {type(s) for s in self.inputs}
        if len(kinds) > 1:
            raise InvalidInputError("a schema holds columns or tensors, not both")

    def __iter__(self) -> Iterator[ColSpec | TensorSpec]:
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def is_tensor(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    @property
    def has_names(self) -> bool:
        return bool(self.inputs) and all(s.name is not None for s in self.inputs)

    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None]

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Schema:
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"a signature schema is not valid JSON: {exc}") from exc
        if not isinstance(items, list):
            raise InvalidInputError(f"a signature schema must be a JSON list, got {type(items).__name__}")
        specs: list[ColSpec | TensorSpec] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "type" not in item:
                raise InvalidInputError(f"signature schema entry {i} must be an object with a 'type', got {item!r}")
            if item["type"] == "tensor":
                spec = item.get("tensor-spec") or {}
                specs.append(TensorSpec(str(spec.get("dtype")), tuple(spec.get("shape") or ()), item.get("name")))
            elif item["type"] in DATA_TYPES or item["type"] in _NESTED_TYPES:
                detail = tuple((k, v) for k, v in item.items() if k not in ("type", "name", "required"))
                specs.append(ColSpec(item["type"], item.get("name"), bool(item.get("required", True)), detail))
            else:
                raise InvalidInputError(f"signature schema entry {i} has unknown type {item['type']!r}")
        return cls(specs)


@dataclass(frozen=True)
class ParamSpec:
    """An inference parameter: name, type, default, and ``shape`` (None or ``(-1,)`` for a list)."""

    name: str
    type: str
    default: Any = None
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": _jsonable(self.default),
                "shape": list(self.shape) if self.shape is not None else None}


@dataclass(frozen=True)
class ParamSchema:
    params: tuple[ParamSpec, ...]

    def __init__(self, params: Sequence[ParamSpec]) -> None:
        object.__setattr__(self, "params", tuple(params))

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.params)

    def to_json(self) -> str:
        return json.dumps([p.to_dict() for p in self.params])

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        items = json.loads(text)
        return cls([ParamSpec(p["name"], p["type"], p.get("default"), tuple(p["shape"]) if p.get("shape") else None)
                    for p in items])


@dataclass(frozen=True)
class ModelSignature:
    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = field(default=None)

    def to_dict(self) -> dict[str, str | None]:
        """MLflow's MLmodel form: each part a JSON string (or None)."""
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSignature:
        def part(key: str, kind: Any) -> Any:
            value = data.get(key)
            return kind.from_json(value) if value else None

        return cls(part("inputs", Schema), part("outputs", Schema), part("params", ParamSchema))


# ---- inference ----------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _dtype_type(dtype: Any, values: Any = None) -> str:
    """MLflow's type name for a numpy/pandas dtype (object columns: from their values)."""
    import numpy as np

    kind = np.dtype(dtype).kind if not hasattr(dtype, "na_value") or str(dtype) == "object" else None
    name = str(dtype)
    if kind == "b" or name == "boolean":
        return "boolean"
    if kind in ("i", "u") or name in ("Int64", "Int32", "Int16", "Int8"):
        return "integer" if name.lower() in ("int8", "int16", "int32", "uint8", "uint16") else "long"
    if kind == "f" or name in ("Float64", "Float32"):
        return "float" if name.lower() == "float32" else "double"
    if kind == "M" or name.startswith("datetime64"):
        return "datetime"
    if kind == "S":
        return "binary"
    if values is not None:
        return _python_type(values)
    return "string"


def _python_type(values: Any) -> str:
    found = {type(v) for v in values if v is not None}
    if not found or found <= {str}:
        return "string"
    if found <= {bytes, bytearray}:
        return "binary"
    if found <= {bool}:
        return "boolean"
    if found <= {int}:
        return "long"
    if found <= {int, float}:
        return "double"
    if found <= {_dt.date, _dt.datetime}:
        return "datetime"
    return "string"


def _infer_schema(data: Any) -> Schema:
    import numpy as np

    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a models dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return Schema([ColSpec(_dtype_type(data[c].dtype, data[c].tolist()), str(c)) for c in data.columns])
    if pd is not None and isinstance(data, pd.Series):
        return Schema([ColSpec(_dtype_type(data.dtype, data.tolist()), None if data.name is None else str(data.name))])
    if isinstance(data, np.ndarray):
        return Schema([TensorSpec(str(data.dtype), (-1, *data.shape[1:]))])
    if isinstance(data, Mapping):  # one row: a list value is an array-typed column, as MLflow infers
        specs = []
        for key, value in data.items():
            if isinstance(value, list | tuple | np.ndarray):
                column = np.asarray(value)
                items = {"type": _dtype_type(column.dtype, column.tolist())}
                specs.append(ColSpec("array", str(key), detail=(("items", items),)))
            else:
                specs.append(ColSpec(_python_type([value]), str(key)))
        return Schema(specs)
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        if pd is None:  # pragma: no cover
            raise InvalidInputError("inferring a signature from a list of records needs pandas")
        return _infer_schema(pd.DataFrame(data))
    if isinstance(data, list | tuple):
        return Schema([ColSpec(_python_type(data))])
    if isinstance(data, str | bytes | bool | int | float):
        return Schema([ColSpec(_python_type([data]))])
    raise InvalidInputError(
        f"cannot infer a schema from {type(data).__name__}: give a pandas DataFrame or Series, a numpy array, "
        "a dict of columns, a list of records, or a scalar"
    )


def _param_type(value: Any) -> tuple[str, tuple[int, ...] | None]:
    if isinstance(value, list | tuple):
        inner = _python_type(value)
        return inner, (-1,)
    return _python_type([value]), None


def infer_signature(model_input: Any = None, model_output: Any = None, params: dict[str, Any] | None = None) -> ModelSignature:
    """A `ModelSignature` from example input, output and params (MLflow's ``infer_signature``)."""
    inputs = _infer_schema(model_input) if model_input is not None else None
    outputs = _infer_schema(model_output) if model_output is not None else None
    param_schema = None
    if params:
        specs = []
        for name, value in params.items():
            kind, shape = _param_type(value)
            specs.append(ParamSpec(name, kind, value, shape))
        param_schema = ParamSchema(specs)
    return ModelSignature(inputs, outputs, param_schema)


# ---- enforcement --------------------------------------------------------------------------

_INT_KINDS = ("integer", "long")
_FLOAT_KINDS = ("float", "double")


def _convert_column(series: Any, spec: ColSpec, where: str) -> Any:
    import numpy as np
    import pandas as pd

    expected = spec.type
    if expected in _NESTED_TYPES:
        return series
    actual = _dtype_type(series.dtype, series.dropna().tolist() if series.dtype == object else None)
    if actual == expected:
        return series.astype(DATA_TYPES[expected]) if expected in _INT_KINDS + _FLOAT_KINDS + ("boolean",) else series
    lossless = (
        (actual == "integer" and expected in ("long", "double"))
        or (actual == "long" and expected == "double" and bool((series.abs() < 2**53).all()))
        or (actual == "float" and expected == "double")
        or (actual in _INT_KINDS and expected == "float" and bool((series.abs() < 2**24).all()))
        or (actual == "long" and expected == "integer" and bool(series.between(-(2**31), 2**31 - 1).all()))
    )
    if lossless:
        return series.astype(DATA_TYPES[expected])
    if expected in _INT_KINDS and actual in _FLOAT_KINDS:
        values = series.to_numpy()
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return series.astype(DATA_TYPES[expected])
    if expected == "datetime" and actual == "string":
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError):
            pass
    described = f"{actual} values (dtype {series.dtype})"
    raise SchemaEnforcementError(f"{where}: expected {expected}, got {described}")


def _already(dtype: Any, expected: str) -> bool:
    """True if a column of `dtype` needs no check or conversion for type `expected` (the fast path)."""
    import numpy as np

    if expected in _NESTED_TYPES:
        return True
    if expected in ("string", "binary"):
        return False  # object columns: their values are checked
    try:
        return bool(np.dtype(dtype) == np.dtype(DATA_TYPES[expected]))
    except TypeError:  # a pandas extension dtype
        return False


def enforce_schema(data: Any, schema: Schema) -> Any:
    """`data` converted to match `schema`, or `SchemaEnforcementError` naming what does not."""
    import numpy as np
    import pandas as pd

    if schema.is_tensor:
        spec = schema.inputs[0]
        assert isinstance(spec, TensorSpec)
        array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
        if len(spec.shape) != array.ndim:
            raise SchemaEnforcementError(f"input tensor: expected {len(spec.shape)} dimensions {list(spec.shape)}, "
                                         f"got shape {list(array.shape)}")
        for i, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
            if want != -1 and want != got:
                raise SchemaEnforcementError(f"input tensor: dimension {i} must be {want}, got {got}")
        if array.dtype != np.dtype(spec.dtype):
            if np.can_cast(array.dtype, np.dtype(spec.dtype), casting="safe"):
                return array.astype(spec.dtype)
            raise SchemaEnforcementError(f"input tensor: expected dtype {spec.dtype}, got {array.dtype}")
        return array
    if not isinstance(data, pd.DataFrame):
        data = _as_frame(data, schema)
    if schema.has_names:
        missing = [s.name for s in schema.inputs if isinstance(s, ColSpec) and s.required and s.name not in data.columns]
        if missing:
            raise SchemaEnforcementError(
                f"input is missing required column(s) {', '.join(repr(m) for m in missing)}; "
                f"got columns {[str(c) for c in data.columns]}")
        changed = {}
        for spec in schema.inputs:
            assert isinstance(spec, ColSpec) and spec.name is not None
            if spec.name not in data.columns or _already(data[spec.name].dtype, spec.type):
                continue
            changed[spec.name] = _convert_column(data[spec.name], spec, f"input column {spec.name!r}")
        # unknown columns pass through, as in MLflow; only converted columns are replaced
        return data.assign(**changed) if changed else data
    if len(data.columns) != len(schema.inputs):
        raise SchemaEnforcementError(
            f"input has {len(data.columns)} column(s), the model's signature expects {len(schema.inputs)}")
    converted = {
        c: _convert_column(data[c], spec, f"input column {i} ({c!r})")  # type: ignore[arg-type]
        for i, (c, spec) in enumerate(zip(data.columns, schema.inputs, strict=True))
    }
    return pd.DataFrame(converted, index=data.index)


def _as_frame(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, Mapping):
        return pd.DataFrame({k: v if isinstance(v, list | tuple | np.ndarray) else [v] for k, v in data.items()})
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame(data)
    array = np.asarray(data)
    if array.ndim == 1:
        array = array.reshape(-1, 1) if len(schema.inputs) == 1 else array.reshape(1, -1)
    names = schema.input_names() if schema.has_names and len(schema.inputs) == array.shape[1] else None
    return pd.DataFrame(array, columns=names)


def enforce_params(params: dict[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any] | None:
    """Params with the schema's defaults filled in; unknown names and wrong types refused."""
    if schema is None:
        return params
    params = dict(params or {})
    known = {p.name: p for p in schema}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise SchemaEnforcementError(f"unknown inference param(s) {', '.join(map(repr, unknown))}; "
                                     f"the model accepts {sorted(known)}")
    out = {}
    for name, spec in known.items():
        if name not in params:
            out[name] = spec.default
            continue
        value = params[name]
        kind = _param_type(value)[0] if value is not None else spec.type
        compatible = kind == spec.type or (kind == "long" and spec.type in ("double", "float", "integer"))
        if not compatible:
            raise SchemaEnforcementError(f"inference param {name!r}: expected {spec.type}, got {kind} ({value!r})")
        out[name] = value
    return out
