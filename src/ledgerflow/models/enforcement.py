"""Schema and params enforcement at predict time, with MLflow's rules and messages.

Named column schemas: missing required columns fail ("Model is missing inputs ['b']."),
missing optional ones are allowed, extra columns are dropped and the rest reordered to the
signature's order. Types convert only when no information is lost (int32 to int64, float32
to float64, small ints to double); anything else fails with "Incompatible input types".
Unnamed schemas only check the column count. Tensor schemas check shape and dtype.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from ledgerflow.errors import InvalidParameter
from ledgerflow.models.signature import COLUMN_TYPES, ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

log = logging.getLogger(__name__)


def _as_frame(data: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, dict):
        try:
            return pd.DataFrame({k: v if isinstance(v, list | np.ndarray) else [v] for k, v in data.items()})
        except ValueError as error:
            raise InvalidParameter(f"Could not turn the input dict into a DataFrame: {error}") from None
    if isinstance(data, list):
        if all(isinstance(row, dict) for row in data):
            return pd.DataFrame(data)
        return pd.DataFrame(data if data else np.asarray(data, dtype=object))
    if isinstance(data, np.ndarray):
        return pd.DataFrame(data if data.ndim > 1 else data.reshape(-1, 1))
    if isinstance(data, str | int | float | bool):
        return pd.DataFrame([data])
    raise InvalidParameter(f"Unsupported input type {type(data).__name__} for a column-based signature.")


def _convert_column(values: Any, spec: ColSpec, name: Any) -> Any:
    import numpy as np
    import pandas as pd

    if spec.raw is not None or spec.type not in COLUMN_TYPES:
        return values
    kind = spec.type
    if kind in ("string", "binary"):
        wanted = str if kind == "string" else (bytes, bytearray)
        present = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
        if values.dtype.kind in "OUS" and all(isinstance(v, wanted) for v in present):
            return values.astype(object)
        raise InvalidParameter(
            f"Incompatible input types for column {name}. Can not safely convert {values.dtype} to {kind}."
        )
    if kind == "datetime":
        if values.dtype.kind == "M":
            return values.astype("datetime64[ns]")
        if values.dtype == object:
            try:
                return pd.to_datetime(values, errors="raise")
            except (ValueError, TypeError):
                pass
        raise InvalidParameter(f"Failed to convert column {name} from type {values.dtype} to datetime.")
    target = np.dtype(COLUMN_TYPES[kind])
    if values.dtype == object:
        values = values.infer_objects()
    current = values.dtype
    if not isinstance(current, np.dtype):
        # pandas extension dtypes (nullable ints, Arrow strings) compare through their numpy form.
        current = np.dtype(getattr(current, "numpy_dtype", object))
    if current == target:
        return values
    if current.kind == target.kind and current.kind != "O":
        safe = current.itemsize <= target.itemsize
    elif current.kind == "u" and target.kind == "i":
        safe = current.itemsize < target.itemsize
    elif current.kind in "iu" and target == np.float64:
        # Ints up to 32 bits fit a double exactly; int64 may not (MLflow's rule).
        safe = current.itemsize <= 4
    elif current.kind == "b":
        safe = False
    else:
        safe = False
    if safe:
        return values.astype(target)
    hint = ""
    if current == np.float64 and target.kind in "iu" and values.hasnans:
        hint = (
            " Hint: the type mismatch is likely caused by missing values. Integer columns in"
            " python can not represent missing values and are therefore encoded as floats."
            " Declare the column as float or double in the signature when it can have missing values."
        )
    raise InvalidParameter(
        f"Incompatible input types for column {name}. Can not safely convert {current} to {target}.{hint}"
    )


def _needs_conversion(spec: ColSpec, dtype: Any) -> bool:
    """False when ``_convert_column`` would hand the column back unchanged: a numeric column
    already of the signature's numpy dtype (the common case of a served request)."""
    import numpy as np

    if spec.raw is not None or spec.type not in COLUMN_TYPES:
        return False
    if spec.type in ("string", "binary", "datetime"):
        return True
    return not (isinstance(dtype, np.dtype) and dtype == np.dtype(COLUMN_TYPES[spec.type]))


def _enforce_named_columns(frame: Any, schema: Schema) -> Any:
    present = [str(c) for c in frame.columns]
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.rename(columns={c: str(c) for c in frame.columns})
    names = schema.names()
    missing = [n for n in schema.required_names() if n not in present]
    if missing:
        extra = [c for c in present if c not in names]
        message = f"Model is missing inputs {missing}."
        if extra:
            message += f" Note that there were extra inputs: {extra}."
        raise InvalidParameter(message)
    kept = [n for n in names if n in present]
    if len(set(present)) != len(present):
        # A signature column given twice: pandas would hand back a frame where a column is
        # expected. Repeated extra columns are dropped like any extra column.
        repeated = [n for n in kept if present.count(n) > 1]
        if repeated:
            raise InvalidParameter(
                f"The input has duplicate columns {repeated}; each column may appear once."
            )
    # Selecting and reassigning columns costs ~0.1 ms each in pandas; skip both when the
    # frame already has the signature's columns, in order, of the signature's types.
    frame = frame.copy() if kept == present else frame[kept].copy()
    dtypes = dict(zip(frame.columns, frame.dtypes, strict=True)) if frame.columns.is_unique else {}
    for spec in schema.inputs:
        assert isinstance(spec, ColSpec)
        if spec.name in kept and (spec.name not in dtypes or _needs_conversion(spec, dtypes[spec.name])):
            frame[spec.name] = _convert_column(frame[spec.name], spec, spec.name)
    return frame


def _enforce_unnamed_columns(frame: Any, schema: Schema) -> Any:
    expected = len(schema.inputs)
    if len(frame.columns) != expected:
        raise InvalidParameter(
            f"Model inference is missing inputs. The model signature declares {expected} inputs "
            f"but the provided value only has {len(frame.columns)} inputs. Note: the inputs were "
            "not named in the signature so we can only verify their count."
        )
    frame = frame.copy()
    for position, spec in enumerate(schema.inputs):
        assert isinstance(spec, ColSpec)
        column = frame.columns[position]
        frame[column] = _convert_column(frame.iloc[:, position], spec, column)
    return frame


def _enforce_tensor(array: Any, spec: TensorSpec) -> Any:
    import numpy as np

    array = np.asarray(array)
    shape = spec.shape
    if len(shape) != array.ndim or any(
        want not in (-1, got) for want, got in zip(shape, array.shape, strict=False)
    ):
        raise InvalidParameter(f"Shape of input {array.shape} does not match expected shape {shape}.")
    target = np.dtype(spec.dtype)
    if array.dtype == target:
        return array
    if array.dtype.kind == target.kind and array.dtype.itemsize <= target.itemsize:
        return array.astype(target)
    if array.dtype.kind in "iu" and target.kind == "f" and array.dtype.itemsize < target.itemsize:
        return array.astype(target)
    raise InvalidParameter(f"dtype of input {array.dtype} does not match expected dtype {target}.")


def enforce_schema(data: Any, schema: Schema) -> Any:
    """Check and convert *data* to *schema*; raises :class:`InvalidParameter` on a mismatch."""
    import numpy as np
    import pandas as pd

    if not schema.inputs:
        return data
    if schema.is_tensor:
        specs = [s for s in schema.inputs if isinstance(s, TensorSpec)]
        if len(specs) > 1 or (specs[0].name is not None and isinstance(data, dict)):
            if not isinstance(data, dict):
                raise InvalidParameter(f"Model expects named tensors {[s.name for s in specs]}.")
            missing = [s.name for s in specs if s.name not in data]
            if missing:
                raise InvalidParameter(f"Model is missing inputs {missing}.")
            return {s.name: _enforce_tensor(data[s.name], s) for s in specs if s.name is not None}
        value = data.to_numpy() if isinstance(data, pd.DataFrame) else data
        return _enforce_tensor(np.asarray(value), specs[0])
    if (
        isinstance(data, list)
        and len(schema.inputs) == 1
        and not schema.has_names
        and all(isinstance(v, str) for v in data)
    ):
        # A single unnamed string column takes a plain list of strings unchanged.
        return data
    frame = _as_frame(data)
    if schema.has_names:
        return _enforce_named_columns(frame, schema)
    return _enforce_unnamed_columns(frame, schema)


# -- params ------------------------------------------------------------------------------------


def _convert_scalar(value: Any, kind: str) -> Any:
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in ("long", "integer") and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in ("double", "float") and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "binary" and isinstance(value, bytes):
        return value
    if kind == "datetime":
        if isinstance(value, datetime.datetime):
            return value
        if isinstance(value, str):
            try:
                return datetime.datetime.fromisoformat(value)
            except ValueError:
                pass
    raise ValueError(f"expected a {kind}, received {type(value).__name__}")


def _convert_param(value: Any, spec: ParamSpec) -> Any:
    if spec.shape is None:
        if isinstance(value, list | tuple | dict):
            raise ValueError(f"Value must be a scalar for param {spec}, received {type(value).__name__}")
        return _convert_scalar(value, spec.type)
    if not isinstance(value, list | tuple):
        raise ValueError(
            f"Value must be a 1D array with shape (-1,) for param {spec}, received {type(value).__name__}"
        )
    return [_convert_scalar(item, spec.type) for item in value]


def enforce_params(params: Any, schema: ParamSchema | None) -> dict[str, Any]:
    """The params a model's predict gets: defaults filled in, unknown keys dropped with a
    warning, wrong types rejected (MLflow's ``_enforce_params_schema``)."""
    if schema is None:
        if params:
            if isinstance(params, dict):
                log.warning(
                    "`params` can only be specified at inference time if the model signature defines a "
                    "params schema. This model does not define a params schema. Ignoring provided "
                    "params: %s",
                    list(params),
                )
            else:
                raise InvalidParameter(
                    f"Parameters must be a dictionary. Got type '{type(params).__name__}'."
                )
        return {}
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidParameter(f"Parameters must be a dictionary. Got type '{type(params).__name__}'.")
    specs = schema.by_name()
    unknown = [k for k in params if k not in specs]
    if unknown:
        log.warning(
            "Unrecognized params %s are ignored for inference. Supported params are: %s. "
            "To enable them, please add corresponding schema in ModelSignature.",
            unknown,
            list(specs),
        )
    result: dict[str, Any] = {}
    invalid: dict[str, str] = {}
    for name, spec in specs.items():
        if name not in params:
            result[name] = spec.default
            continue
        try:
            result[name] = _convert_param(params[name], spec)
        except ValueError as error:
            invalid[name] = str(error)
    if invalid:
        raise InvalidParameter(f"Invalid parameters found: {invalid!r}")
    return result
