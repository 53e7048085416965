"""Signatures: inferred as MLflow infers them, stored in its JSON form, enforced with clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tracklog.models.signature import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    SchemaEnforcementError,
    TensorSpec,
    enforce_params,
    enforce_schema,
    infer_signature,
)

EXAMPLES = {
    "frame": lambda: pd.DataFrame({"f": [1.5, 2.0], "i": [1, 2], "s": ["x", "y"], "b": [True, False],
                                   "f32": np.array([1, 2], dtype="float32"), "i32": np.array([1, 2], dtype="int32")}),
    "ndarray_1d": lambda: np.array([1, 2, 3]),
    "ndarray_2d": lambda: np.zeros((3, 4)),
    "series": lambda: pd.Series([0.5, 1.5], name="p"),
    "dict": lambda: {"a": [1.0, 2.0], "b": ["u", "v"]},
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_inferred_schema_is_the_one_mlflow_infers(name) -> None:
    mlflow_models = pytest.importorskip("mlflow.models")
    example = EXAMPLES[name]()
    mine = infer_signature(example).to_dict()
    theirs = mlflow_models.infer_signature(example).to_dict()
    assert json.loads(mine["inputs"]) == json.loads(theirs["inputs"])


def test_signature_round_trips_through_its_mlmodel_form() -> None:
    sig = ModelSignature(
        Schema([ColSpec("double", "a"), ColSpec("string", "b", required=False)]),
        Schema([TensorSpec("float32", (-1, 2))]),
        ParamSchema([ParamSpec("temperature", "double", 0.5), ParamSpec("stops", "string", ["a"], (-1,))]),
    )
    again = ModelSignature.from_dict(sig.to_dict())
    assert again == sig
    assert isinstance(sig.to_dict()["inputs"], str)  # each part a JSON string, as in MLmodel


def test_params_schema_matches_mlflow() -> None:
    mlflow_models = pytest.importorskip("mlflow.models")
    params = {"temperature": 0.5, "max_tokens": 10, "stop": ["x", "y"], "flag": True}
    mine = json.loads(infer_signature(pd.DataFrame({"a": [1.0]}), params=params).to_dict()["params"])
    theirs = json.loads(mlflow_models.infer_signature(pd.DataFrame({"a": [1.0]}), params=params).to_dict()["params"])
    assert mine == theirs


@pytest.mark.parametrize(("values", "expected", "converted"), [
    ([1, 2], "double", [1.0, 2.0]),                       # int -> double, lossless
    (np.array([1.5], dtype="float32"), "double", [1.5]),  # float32 -> double
    ([3.0, 4.0], "long", [3, 4]),                         # integral floats -> long
    (["2024-01-02"], "datetime", [pd.Timestamp("2024-01-02")]),
])
def test_lossless_conversions_are_made(values, expected, converted) -> None:
    out = enforce_schema(pd.DataFrame({"c": values}), Schema([ColSpec(expected, "c")]))
    assert out["c"].tolist() == converted


@pytest.mark.parametrize(("values", "expected", "message"), [
    (["x"], "double", "input column 'c': expected double, got string"),
    ([1.5], "long", "input column 'c': expected long, got double"),
    ([1.5], "boolean", "input column 'c': expected boolean, got double"),
    ([2**40], "integer", "input column 'c': expected integer, got long"),
])
def test_lossy_conversions_are_refused_naming_the_column(values, expected, message) -> None:
    with pytest.raises(SchemaEnforcementError) as err:
        enforce_schema(pd.DataFrame({"c": values}), Schema([ColSpec(expected, "c")]))
    assert message in str(err.value)


def test_missing_required_column_is_named_and_optional_one_is_not() -> None:
    schema = Schema([ColSpec("double", "a"), ColSpec("double", "b", required=False)])
    with pytest.raises(SchemaEnforcementError, match="missing required column.*'a'"):
        enforce_schema(pd.DataFrame({"b": [1.0]}), schema)
    assert list(enforce_schema(pd.DataFrame({"a": [1.0]}), schema).columns) == ["a"]


def test_tensor_shape_and_dtype_are_enforced() -> None:
    schema = Schema([TensorSpec("float64", (-1, 2))])
    assert enforce_schema(np.ones((5, 2), dtype="float32"), schema).dtype == np.float64
    with pytest.raises(SchemaEnforcementError, match="dimension 1 must be 2, got 3"):
        enforce_schema(np.ones((5, 3)), schema)
    with pytest.raises(SchemaEnforcementError, match="expected dtype float64, got <U1"):
        enforce_schema(np.array([["a", "b"]]), schema)


def test_params_get_defaults_and_refuse_unknown_or_mistyped() -> None:
    schema = ParamSchema([ParamSpec("t", "double", 0.5), ParamSpec("n", "long", 3)])
    assert enforce_params(None, schema) == {"t": 0.5, "n": 3}
    assert enforce_params({"t": 1}, schema) == {"t": 1, "n": 3}
    with pytest.raises(SchemaEnforcementError, match="unknown inference param.*'oops'"):
        enforce_params({"oops": 1}, schema)
    with pytest.raises(SchemaEnforcementError, match="param 'n': expected long, got string"):
        enforce_params({"n": "many"}, schema)


def test_unknown_type_and_bad_json_are_clear_errors() -> None:
    from eventlog.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="unknown column type 'decimal'"):
        ColSpec("decimal", "a")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        Schema.from_json("[{oops")
    with pytest.raises(InvalidInputError, match="cannot infer a schema from object"):
        infer_signature(object())
