"""Input examples: ``input_example.json`` (the example itself) and
``serving_input_example.json`` (the same data wrapped as an ``/invocations`` payload)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledgerflow.errors import InvalidParameter

INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def save_example(directory: Path, example: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the example files; returns ``saved_input_example_info`` for MLmodel."""
    import numpy as np
    import pandas as pd

    info: dict[str, Any] = {"artifact_path": INPUT_EXAMPLE_FILE}
    if isinstance(example, pd.Series):
        example = example.to_frame()
    if isinstance(example, pd.DataFrame):
        split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        split.pop("index", None)
        stored: Any = split
        serving: dict[str, Any] = {"dataframe_split": split}
        info |= {"type": "dataframe", "pandas_orient": "split"}
    elif isinstance(example, np.ndarray):
        stored = {"inputs": example.tolist()}
        serving = {"inputs": example.tolist()}
        info |= {"type": "ndarray", "format": "tf-serving"}
    elif isinstance(example, dict | list | str):
        stored = _jsonable(example)
        serving = {"inputs": stored}
        info |= {"type": "json_object"}
    else:
        raise InvalidParameter(f"Unsupported input example type {type(example).__name__}.")
    if params:
        serving["params"] = _jsonable(params)
    (directory / INPUT_EXAMPLE_FILE).write_text(json.dumps(stored))
    (directory / SERVING_EXAMPLE_FILE).write_text(json.dumps(serving, indent=2))
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    return info


def load_example(directory: Path, info: dict[str, Any]) -> Any:
    """The example saved beside MLmodel, as the type it was saved from."""
    import numpy as np
    import pandas as pd

    from ledgerflow.models.mlmodel import safe_relative

    path = directory / safe_relative(info.get("artifact_path", INPUT_EXAMPLE_FILE), "input example path")
    data = json.loads(path.read_text())
    kind = info.get("type")
    if kind == "dataframe":
        return pd.DataFrame(data["data"], columns=data["columns"])
    if kind == "ndarray":
        return np.asarray(data["inputs"])
    return data
