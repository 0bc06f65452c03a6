"""Model signatures: column and tensor schemas, params schemas, their JSON form and inference.

The JSON is the form MLflow writes into ``MLmodel`` (each of ``inputs``, ``outputs`` and
``params`` a JSON *string*), so signatures written here read back in stock MLflow and the
other way round. Enforcement at predict time lives in :mod:`ledgerflow.models.enforcement`.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from ledgerflow.errors import InvalidParameter

# MLflow's scalar column types, with the numpy dtype each one is held in.
COLUMN_TYPES: dict[str, str] = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
# Richer MLflow types (array, object, map, any) are kept as their JSON and only checked for presence.
COMPOSITE_TYPES = ("array", "object", "map", "any")


@dataclass(frozen=True)
class ColSpec:
    type: str
    name: str | None = None
    required: bool = True
    # The full JSON of a composite type (``{"type": "array", "items": ...}``), kept verbatim.
    raw: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.raw) if self.raw is not None else {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "tensor",
            "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)},
        }
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass
class Schema:
    inputs: list[ColSpec | TensorSpec] = field(default_factory=list)

    @property
    def is_tensor(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    @property
    def has_names(self) -> bool:
        return bool(self.inputs) and all(spec.name is not None for spec in self.inputs)

    def names(self) -> list[str]:
        return [spec.name for spec in self.inputs if spec.name is not None]

    def required_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None and getattr(s, "required", True)]

    def to_json(self) -> str:
        return json.dumps([spec.to_json() for spec in self.inputs])

    @classmethod
    def from_json(cls, text: str | list[Any]) -> Schema:
        items = json.loads(text) if isinstance(text, str) else text
        if not isinstance(items, list):
            raise InvalidParameter(
                f"A schema must be a JSON list of column or tensor specs, got {items!r:.200}"
            )
        specs: list[ColSpec | TensorSpec] = []
        for item in items:
            if not isinstance(item, dict) or "type" not in item:
                raise InvalidParameter(f"Invalid schema entry {item!r:.200}: it needs a 'type'.")
            name = item.get("name")
            name = None if name is None else str(name)
            if item["type"] == "tensor":
                spec = item.get("tensor-spec") or {}
                specs.append(
                    TensorSpec(str(spec.get("dtype")), tuple(int(d) for d in spec.get("shape") or []), name)
                )
            elif item["type"] in COLUMN_TYPES:
                specs.append(ColSpec(str(item["type"]), name, bool(item.get("required", True))))
            elif item["type"] in COMPOSITE_TYPES:
                raw = {k: v for k, v in item.items() if k not in ("name", "required")}
                specs.append(ColSpec(str(item["type"]), name, bool(item.get("required", True)), raw))
            else:
                raise InvalidParameter(f"Unsupported type '{item['type']}' in schema entry {item!r:.200}.")
        if len({isinstance(s, TensorSpec) for s in specs}) > 1:
            raise InvalidParameter("A schema cannot mix tensor specs and column specs.")
        return cls(specs)

    def __str__(self) -> str:
        parts = []
        for spec in self.inputs:
            label = spec.type if isinstance(spec, ColSpec) else f"Tensor({spec.dtype!r}, {spec.shape})"
            if isinstance(spec, ColSpec) and not spec.required:
                label += " (optional)"
            parts.append(f"{spec.name!r}: {label}" if spec.name is not None else label)
        return "[" + ", ".join(parts) + "]"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    default: Any
    shape: tuple[int, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        default = self.default
        if isinstance(default, datetime.datetime | datetime.date):
            default = default.isoformat()
        return {
            "name": self.name,
            "type": self.type,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
        }

    def __str__(self) -> str:
        shape = f" (shape: {self.shape})" if self.shape is not None else ""
        return f"{self.name!r}: {self.type} (default: {self.default}){shape}"


@dataclass
class ParamSchema:
    params: list[ParamSpec] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps([p.to_json() for p in self.params])

    @classmethod
    def from_json(cls, text: str | list[Any]) -> ParamSchema:
        items = json.loads(text) if isinstance(text, str) else text
        if not isinstance(items, list):
            raise InvalidParameter(f"A params schema must be a JSON list, got {items!r:.200}")
        specs = []
        for item in items:
            if not isinstance(item, dict) or "name" not in item or "type" not in item:
                raise InvalidParameter(f"Invalid params schema entry {item!r:.200}.")
            shape = item.get("shape")
            specs.append(
                ParamSpec(
                    str(item["name"]),
                    str(item["type"]),
                    item.get("default"),
                    tuple(int(d) for d in shape) if shape is not None else None,
                )
            )
        return cls(specs)

    def by_name(self) -> dict[str, ParamSpec]:
        return {p.name: p for p in self.params}


@dataclass
class ModelSignature:
    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The ``signature`` block of ``MLmodel``: each part a JSON string, or null."""
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSignature:
        if not isinstance(data, dict):
            raise InvalidParameter(f"'signature' must be a mapping, got {type(data).__name__}.")
        try:
            return cls(
                Schema.from_json(data["inputs"]) if data.get("inputs") else None,
                Schema.from_json(data["outputs"]) if data.get("outputs") else None,
                ParamSchema.from_json(data["params"]) if data.get("params") else None,
            )
        except (ValueError, TypeError) as error:
            raise InvalidParameter(f"Invalid model signature: {error}") from None


# -- inference ---------------------------------------------------------------------------------


def _column_type_of(values: Any, name: Any) -> str:
    import numpy as np
    import pandas as pd

    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "long" if np.dtype(dtype).itemsize > 4 else "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float" if np.dtype(dtype).itemsize <= 4 else "double"
    present = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
    if all(isinstance(v, str) for v in present):
        return "string"
    if all(isinstance(v, bytes | bytearray) for v in present):
        return "binary"
    raise InvalidParameter(
        f"Cannot infer a signature type for column {name!r} holding {type(present[0]).__name__} values."
    )


def _frame_schema(frame: Any) -> Schema:
    specs: list[ColSpec | TensorSpec] = []
    for name in frame.columns:
        column = frame[name]
        specs.append(ColSpec(_column_type_of(column, name), str(name), not bool(column.isna().any())))
    return Schema(specs)


def _tensor_schema(array: Any, name: str | None = None) -> Schema:
    return Schema([_tensor_spec(array, name)])


def _tensor_spec(array: Any, name: str | None = None) -> TensorSpec:
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    dtype = "object" if array.dtype.kind in "OUS" else str(array.dtype)
    return TensorSpec(dtype, tuple(int(d) for d in shape), name)


def infer_schema(example: Any) -> Schema:
    """The schema of an example: DataFrame or dict of columns (named columns), Series, list
    of records or of scalars (one unnamed column), numpy array (a tensor)."""
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        return _frame_schema(example)
    if isinstance(example, pd.Series):
        return Schema([ColSpec(_column_type_of(example, example.name), None)])
    if isinstance(example, np.ndarray):
        return _tensor_schema(example)
    if isinstance(example, dict):
        if all(isinstance(v, np.ndarray) and v.ndim > 1 for v in example.values()):
            return Schema([_tensor_spec(v, str(k)) for k, v in example.items()])
        values = {k: v if isinstance(v, list | np.ndarray) else [v] for k, v in example.items()}
        return _frame_schema(pd.DataFrame(values))
    if isinstance(example, list) and example:
        if all(isinstance(row, dict) for row in example):
            return _frame_schema(pd.DataFrame(example))
        if all(isinstance(v, str) for v in example):
            return Schema([ColSpec("string", None)])
        return _tensor_schema(np.asarray(example))
    if isinstance(example, str):
        return Schema([ColSpec("string", None)])
    raise InvalidParameter(f"Cannot infer a signature from an example of type {type(example).__name__}.")


def _param_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "binary"
    if isinstance(value, datetime.datetime):
        return "datetime"
    raise InvalidParameter(f"Unsupported param value {value!r:.100} of type {type(value).__name__}.")


def infer_param_schema(params: Any) -> ParamSchema:
    """Params from example values, which become the defaults; a list is a 1-D param."""
    if not isinstance(params, dict):
        raise InvalidParameter(f"Expected parameters to be dict, got {type(params).__name__}")
    specs = []
    for name, value in params.items():
        if isinstance(value, list | tuple):
            kinds = {_param_type(v) for v in value}
            if len(kinds) != 1:
                raise InvalidParameter(f"Param {name!r} must be a non-empty list of values of one type.")
            specs.append(ParamSpec(str(name), kinds.pop(), list(value), (-1,)))
        else:
            specs.append(ParamSpec(str(name), _param_type(value), value, None))
    return ParamSchema(specs)


def infer_signature(
    model_input: Any, model_output: Any = None, params: dict[str, Any] | None = None
) -> ModelSignature:
    """A signature from an input example and, when given, the model's output on it."""
    outputs = None
    if model_output is not None:
        try:
            outputs = infer_schema(model_output)
        except InvalidParameter:
            # An output MLflow's types cannot describe leaves the output schema unset.
            outputs = None
    return ModelSignature(infer_schema(model_input), outputs, infer_param_schema(params) if params else None)
