"""Signatures: inference, MLflow's JSON form, and enforcement at predict (BC-50, BC-52)."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ledgerflow.errors import InvalidParameter
from ledgerflow.models.enforcement import enforce_params, enforce_schema
from ledgerflow.models.signature import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    Schema,
    TensorSpec,
    infer_param_schema,
    infer_signature,
)

BC50 = Schema(
    [
        ColSpec("double", "a"),
        ColSpec("double", "b"),
        ColSpec("string", "c", required=False),
        ColSpec("long", "d", required=False),
    ]
)


def test_inference_from_frame_and_output() -> None:
    frame = pd.DataFrame(
        {"x": [1.0, 2.0], "n": np.array([1, 2], dtype="int64"), "s": ["a", "b"], "f": [True, False]}
    )
    signature = infer_signature(frame, np.array([0, 1]))
    assert json.loads(signature.to_dict()["inputs"] or "") == [
        {"type": "double", "name": "x", "required": True},
        {"type": "long", "name": "n", "required": True},
        {"type": "string", "name": "s", "required": True},
        {"type": "boolean", "name": "f", "required": True},
    ]
    assert json.loads(signature.to_dict()["outputs"] or "") == [
        {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    ]
    assert signature.to_dict()["params"] is None


def test_inference_from_numpy_and_dict() -> None:
    tensor = infer_signature(np.zeros((2, 28, 28), dtype="float32")).inputs
    assert tensor is not None and tensor.inputs == [TensorSpec("float32", (-1, 28, 28))]
    columns = infer_signature({"a": [1.5], "b": ["x"]}).inputs
    assert columns is not None and columns.names() == ["a", "b"]


def test_json_round_trip_keeps_mlflow_shapes() -> None:
    written = {
        "inputs": '[{"type": "double", "name": "a", "required": true}, {"type": "array", "items": {"type": "string"}, "name": "tags", "required": false}]',
        "outputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]',
        "params": '[{"name": "temperature", "type": "double", "default": 0.5, "shape": null}]',
    }
    signature = ModelSignature.from_dict(written)
    assert {k: json.loads(v or "null") for k, v in signature.to_dict().items()} == {
        k: json.loads(v) for k, v in written.items()
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"inputs": "not json"},
        {"inputs": '[{"name": "a"}]'},
        {"inputs": '[{"type": "weird"}]'},
        {"inputs": "{}"},
    ],
)
def test_malformed_signatures_are_invalid_parameter(bad: dict[str, str]) -> None:
    with pytest.raises(InvalidParameter):
        ModelSignature.from_dict(bad)


def test_bc50_missing_optional_columns_pass_and_extras_drop() -> None:
    out = enforce_schema(pd.DataFrame({"a": [1.0], "b": [2.0]}), BC50)
    assert list(out.columns) == ["a", "b"]
    out = enforce_schema(pd.DataFrame({"a": [1.0], "b": [2.0], "d": np.array([3], dtype="int64")}), BC50)
    assert list(out.columns) == ["a", "b", "d"]
    out = enforce_schema(pd.DataFrame({"b": [2.0], "a": [1.0], "x": ["junk"]}), BC50)
    assert list(out.columns) == ["a", "b"]
    assert out["a"].tolist() == [1.0]


def test_bc50_missing_required_column_message() -> None:
    with pytest.raises(InvalidParameter, match=r"^Model is missing inputs \['b'\]\.$"):
        enforce_schema(pd.DataFrame({"a": [1.0]}), BC50)
    with pytest.raises(InvalidParameter, match=r"Note that there were extra inputs: \['x'\]"):
        enforce_schema(pd.DataFrame({"a": [1.0], "x": [1.0]}), BC50)


def test_bc50_bare_array_against_named_schema() -> None:
    with pytest.raises(InvalidParameter, match=r"Model is missing inputs \['a', 'b'\]"):
        enforce_schema(np.array([[1.0, 2.0]]), BC50)


def test_bc50_wrong_type_for_optional_string() -> None:
    with pytest.raises(InvalidParameter, match="Incompatible input types for column c"):
        enforce_schema(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [5]}), BC50)
    with pytest.raises(InvalidParameter, match="Incompatible input types for column c"):
        enforce_schema(
            pd.DataFrame({"a": [1.0, 1.0], "b": [2.0, 2.0], "c": pd.Series([5, "x"], dtype=object)}), BC50
        )


def test_bc50_unnamed_schema_checks_count() -> None:
    schema = Schema([ColSpec("double"), ColSpec("double"), ColSpec("double")])
    with pytest.raises(InvalidParameter, match="only verify their count"):
        enforce_schema(pd.DataFrame({"p": [1.0], "q": [2.0]}), schema)
    assert enforce_schema(pd.DataFrame([[1.0, 2.0, 3.0]]), schema).shape == (1, 3)


@pytest.mark.parametrize(
    ("values", "spec", "ok"),
    [
        (np.array([1, 2], dtype="int32"), "long", True),
        (np.array([1, 2], dtype="int32"), "double", True),
        (np.array([1, 2], dtype="int64"), "double", False),
        (np.array([1.5], dtype="float64"), "long", False),
        (np.array([1.5], dtype="float32"), "double", True),
        (np.array([1.5], dtype="float64"), "float", False),
        (np.array([True]), "long", False),
        (np.array(["a"], dtype=object), "double", False),
    ],
)
def test_type_conversion_rules(values: Any, spec: str, ok: bool) -> None:
    schema = Schema([ColSpec(spec, "v")])
    if ok:
        enforce_schema(pd.DataFrame({"v": values}), schema)
    else:
        with pytest.raises(InvalidParameter, match="column v"):
            enforce_schema(pd.DataFrame({"v": values}), schema)


def test_float_with_missing_values_for_long_column_gives_hint() -> None:
    with pytest.raises(InvalidParameter, match="missing values"):
        enforce_schema(pd.DataFrame({"v": [1.0, None]}), Schema([ColSpec("long", "v")]))


def test_tensor_shape_and_dtype() -> None:
    schema = Schema([TensorSpec("float32", (-1, 2))])
    assert enforce_schema(np.zeros((3, 2), dtype="float32"), schema).shape == (3, 2)
    with pytest.raises(InvalidParameter, match="Shape of input"):
        enforce_schema(np.zeros((3, 3), dtype="float32"), schema)
    with pytest.raises(InvalidParameter, match="dtype of input"):
        enforce_schema(np.zeros((3, 2), dtype="float64"), schema)


B_PARAMS = infer_param_schema({"str_param": "string", "int_array": [1, 2, 3], "123": 123})


def test_bc52_params_without_schema_are_ignored_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert enforce_params({"top_k": 2}, None) == {}
    assert "does not define a params schema. Ignoring provided params: ['top_k']" in caplog.text


def test_bc52_defaults_overrides_unknown_and_wrong_types(caplog: pytest.LogCaptureFixture) -> None:
    defaults = {"str_param": "string", "int_array": [1, 2, 3], "123": 123}
    assert enforce_params(None, B_PARAMS) == defaults
    assert enforce_params({"str_param": "x"}, B_PARAMS) == defaults | {"str_param": "x"}
    with caplog.at_level(logging.WARNING):
        assert enforce_params({"unknown": 1}, B_PARAMS) == defaults
    assert "Unrecognized params ['unknown']" in caplog.text and "str_param" in caplog.text
    with pytest.raises(InvalidParameter, match="Invalid parameters found: .*int_array"):
        enforce_params({"int_array": "oops"}, B_PARAMS)
    with pytest.raises(InvalidParameter, match=r"Parameters must be a dictionary. Got type 'list'."):
        enforce_params(["a"], B_PARAMS)


def test_param_schema_json_round_trip() -> None:
    again = ParamSchema.from_json(B_PARAMS.to_json())
    assert again == B_PARAMS
    assert json.loads(B_PARAMS.to_json())[1] == {
        "name": "int_array",
        "type": "long",
        "default": [1, 2, 3],
        "shape": [-1],
    }
