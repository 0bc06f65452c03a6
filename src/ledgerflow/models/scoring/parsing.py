"""Request bodies of MLflow's scoring protocol turned into model input.

JSON bodies are a dict with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` and ``inputs`` (plus optional ``params``); CSV bodies need a header row.
Columns are cast to the signature's types where that is lossless, so JSON numbers like
``1`` reach a double column as ``1.0``, as MLflow's server does.
"""

from __future__ import annotations

import io
import json
from typing import Any

from ledgerflow.errors import BadRequest, InvalidParameter
from ledgerflow.models.signature import COLUMN_TYPES, ColSpec, Schema, TensorSpec
from ledgerflow.server.body_limits import check_depth

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
REQUIRED_FORMAT = (
    "The input must be a JSON dictionary with exactly one of the input fields "
    "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}"
)


# parse_json's "body not decoded yet".
NOT_DECODED: Any = object()


def decode_json(body: bytes) -> Any:
    """The decoded body. orjson first (about 5x faster on row data); anything it refuses
    (NaN literals, big integers, UTF-16 bodies) goes to the stdlib parser, whose result or
    error message is the one MLflow's server gives. The stdlib parser recurses once per
    nesting level, so a body nested thousands deep exhausts the stack: that is bad input too."""
    try:
        import orjson
    except ModuleNotFoundError:
        return _stdlib_loads(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _stdlib_loads(body)


def _stdlib_loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the body nests too deeply to parse") from None


def _cast_to_schema(frame: Any, schema: Schema | None) -> Any:
    import numpy as np

    if schema is None or not schema.has_names or schema.is_tensor:
        return frame
    # One lookup of every column's dtype: frame[name] builds a Series each time, which was
    # most of the parse time for small bodies.
    unique = frame.columns.is_unique
    dtypes = dict(zip(frame.columns, frame.dtypes, strict=True)) if unique else None
    # A name given twice selects a frame, not a column: left as it is for schema enforcement
    # to refuse (or drop, when the signature does not name it).
    repeated = set() if unique else set(frame.columns[frame.columns.duplicated()])
    for spec in schema.inputs:
        if not isinstance(spec, ColSpec) or spec.name not in frame.columns or spec.raw is not None:
            continue
        if spec.name in repeated:
            continue
        if spec.type in ("string", "binary", "datetime", "boolean"):
            continue
        target = np.dtype(COLUMN_TYPES[spec.type])
        if dtypes is not None and dtypes[spec.name] == target:
            continue
        column = frame[spec.name]
        if column.dtype.kind in "OUS":
            # MLflow's server casts request data to the signature while parsing; values that
            # cannot become the column's type are a bad request, not a schema mismatch.
            try:
                frame[spec.name] = column.astype(target)
            except (ValueError, TypeError) as error:
                raise BadRequest(
                    "Invalid input. Data is not compatible with model signature. Failed to convert column "
                    f"{spec.name} to type '{target}'. Error: '{error}'"
                ) from None
            continue
        if column.dtype.kind not in "iuf":
            continue
        converted = column.astype(target)
        # Only a lossless cast: 1.5 must not quietly become 1 for a long column.
        if bool((converted.astype(column.dtype) == column).all()):
            frame[spec.name] = converted
    return frame


def _frame(value: Any, orient: str, schema: Schema | None) -> Any:
    import pandas as pd

    try:
        if orient == "split":
            if not isinstance(value, dict):
                raise ValueError("dataframe_split must be an object with 'columns' and 'data'")
            if "data" not in value:
                raise ValueError("dataframe_split needs a 'data' field")
            frame = pd.DataFrame(value["data"], columns=value.get("columns"), index=value.get("index"))
        else:
            if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
                raise ValueError("dataframe_records must be a list of objects")
            frame = pd.DataFrame(value)
    except (ValueError, TypeError, AssertionError) as error:
        raise BadRequest(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid JSON-formatted "
            f"Pandas DataFrame with the `{orient}` orient produced using the `pandas.DataFrame.to_json(..., "
            f"orient='{orient}')` method. Error: '{error}'"
        ) from None
    return _cast_to_schema(frame, schema)


def _as_tensor(value: Any, spec: TensorSpec | None) -> Any:
    """A JSON array as the numpy array the tensor spec declares, when no value changes.

    JSON numbers carry no width, so ``[[1, 2]]`` for a float64 tensor means 1.0 and 2.0, as
    MLflow's server reads it (it builds the array with the spec's dtype). Unlike MLflow, a cast
    that would change a value (1.5 to an int tensor, an int above 2**53 to a double) is not
    made: the array keeps its own dtype and enforcement refuses the mismatch."""
    import numpy as np

    array = np.asarray(value)
    if spec is None or array.dtype.kind not in "iufb":
        return array
    target = np.dtype(spec.dtype)
    if array.dtype == target or target.kind not in "iuf" or array.dtype.kind == "b":
        return array
    with np.errstate(all="ignore"):
        try:
            converted = array.astype(target)
        except (ValueError, OverflowError):
            return array
        if bool(np.array_equal(converted.astype(array.dtype), array)) and bool(
            np.array_equal(converted, array)
        ):
            return converted
    return array


def _tensor_specs(schema: Schema | None) -> dict[str | None, TensorSpec]:
    if schema is None or not schema.is_tensor:
        return {}
    return {spec.name: spec for spec in schema.inputs if isinstance(spec, TensorSpec)}


def _tf_serving(key: str, value: Any, schema: Schema | None) -> Any:
    import pandas as pd

    if key == "instances" and isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        columns: dict[str, list[Any]] = {}
        for row in value:
            if set(row) != set(value[0]):
                raise BadRequest(
                    "Failed to parse data as TF serving input: all instances need the same keys."
                )
            for name, item in row.items():
                columns.setdefault(name, []).append(item)
        value = columns
    if isinstance(value, dict):
        if schema is not None and not schema.is_tensor:
            try:
                frame = pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
            except ValueError as error:
                raise BadRequest(f"Failed to parse data as TF serving input. Error: '{error}'") from None
            return _cast_to_schema(frame, schema)
        specs = _tensor_specs(schema)
        try:
            return {k: _as_tensor(v, specs.get(k)) for k, v in value.items()}
        except ValueError as error:
            raise BadRequest(f"Failed to parse data as TF serving input. Error: '{error}'") from None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    specs = _tensor_specs(schema)
    try:
        return _as_tensor(value, next(iter(specs.values())) if len(specs) == 1 else None)
    except ValueError as error:
        raise BadRequest(f"Failed to parse data as TF serving input. Error: '{error}'") from None


def parse_json(
    body: bytes, schema: Schema | None, max_depth: int = 64, *, decoded: Any = NOT_DECODED
) -> tuple[Any, Any]:
    """(model input, params) from a JSON request body nested at most *max_depth* levels
    (the tracking server's bound: deeper input only makes pandas and numpy recurse);
    *decoded* is the body already decoded by :func:`decode_json`, when it was."""
    if decoded is NOT_DECODED:
        try:
            decoded = decode_json(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest(
                f"Ensure that input is a valid JSON formatted string. Error: '{error}'"
            ) from None
    check_depth(body, decoded, max_depth)
    if isinstance(decoded, list):
        raise BadRequest(f"{REQUIRED_FORMAT}. Received a list.")
    if not isinstance(decoded, dict):
        raise BadRequest(f"{REQUIRED_FORMAT}. Received unexpected input type '{type(decoded).__name__}'.")
    keys = [k for k in decoded if k in FORMATS]
    if len(keys) != 1:
        raise BadRequest(f"{REQUIRED_FORMAT}. Received dictionary with input fields: {list(decoded)}.")
    key = keys[0]
    params = decoded.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidParameter(f"Parameters must be a dictionary. Got type '{type(params).__name__}'.")
    if key == "dataframe_split":
        return _frame(decoded[key], "split", schema), params
    if key == "dataframe_records":
        return _frame(decoded[key], "records", schema), params
    return _tf_serving(key, decoded[key], schema), params


def parse_csv(body: bytes, schema: Schema | None) -> Any:
    import pandas as pd

    try:
        text = body.decode("utf-8")
        frame = pd.read_csv(io.StringIO(text))
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:
        raise BadRequest(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted "
            f"Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '{error}'"
        ) from None
    return _cast_to_schema(frame, schema)


def parse_parquet(body: bytes) -> Any:
    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(body))
    except ImportError:
        raise BadRequest("Parquet input needs pyarrow installed on the scoring server.") from None
    except Exception as error:
        raise BadRequest(f"Failed to parse input as a Parquet Pandas DataFrame. Error: '{error}'") from None


def to_jsonable(predictions: Any) -> Any:
    """Predictions as JSON values: arrays as lists, frames as lists of records."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return json.loads(predictions.to_json(orient="records"))
    if isinstance(predictions, pd.Series):
        return to_jsonable(predictions.to_numpy())
    if isinstance(predictions, np.ndarray):
        return predictions.tolist()
    if isinstance(predictions, np.generic):
        return predictions.item()
    if isinstance(predictions, dict):
        return {str(k): to_jsonable(v) for k, v in predictions.items()}
    if isinstance(predictions, list | tuple):
        return [to_jsonable(v) for v in predictions]
    return predictions
