"""Reading an evaluation (or monitoring) dataset, and the digest that pins it.

``--data`` is a CSV or parquet file, or a dataset logged on a run, named
``runs:/<run_id>/datasets/<name>`` (its recorded source must be a local file). Every failure
is one clear :class:`InvalidParameter` line: a missing file, an empty file, a file that is not
CSV or parquet, a missing target column, non-numeric values where numbers are needed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ledgerflow.errors import InvalidParameter

if TYPE_CHECKING:
    from ledgerflow.client.client import Client

LOGGED_PREFIX = "runs:/"


def digest(frame: pd.DataFrame) -> str:
    """SHA-256 over the column names, dtypes and every row's values (order matters)."""
    hasher = hashlib.sha256()
    hasher.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    hasher.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return hasher.hexdigest()


def read_file(path: str | Path) -> pd.DataFrame:
    file = Path(path)
    if not file.is_file():
        raise InvalidParameter(f"Data file '{file}' does not exist.")
    if file.stat().st_size == 0:
        raise InvalidParameter(f"Data file '{file}' is empty.")
    suffix = file.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(file)
        elif suffix in (".csv", ".txt", ""):
            frame = pd.read_csv(file)
        else:
            raise InvalidParameter(f"Data file '{file}' is neither CSV nor parquet (by its extension).")
    except InvalidParameter:
        raise
    except pd.errors.EmptyDataError:
        raise InvalidParameter(f"Data file '{file}' is empty.") from None
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise InvalidParameter(f"Cannot read data file '{file}': {str(error).splitlines()[0]}") from None
    if frame.shape[0] == 0:
        raise InvalidParameter(f"Data file '{file}' has no rows.")
    return frame


def _logged_source(client: Client, reference: str) -> str:
    body = reference[len(LOGGED_PREFIX) :]
    run_id, marker, name = body.partition("/datasets/")
    if not marker or not run_id or not name:
        raise InvalidParameter(
            f"Invalid dataset reference '{reference}': use runs:/<run_id>/datasets/<name>."
        )
    run = client.transport.call("GET", "/2.0/mlflow/runs/get", {"run_id": run_id}).get("run") or {}
    for item in (run.get("inputs") or {}).get("dataset_inputs") or []:
        dataset = item.get("dataset") or {}
        if dataset.get("name") != name:
            continue
        try:
            source = json.loads(dataset.get("source") or "{}")
        except ValueError:
            source = {}
        uri = source.get("uri") if isinstance(source, dict) else None
        if not isinstance(uri, str) or not uri:
            raise InvalidParameter(f"Dataset '{name}' of run {run_id} records no file to read.")
        return uri.removeprefix("file://")
    raise InvalidParameter(f"Run {run_id} has no logged dataset named '{name}'.")


def load(data: str | Path | pd.DataFrame, client: Client | None = None) -> tuple[pd.DataFrame, str]:
    """The data and a name for it (the path or the logged dataset reference)."""
    if isinstance(data, pd.DataFrame):
        if data.shape[0] == 0:
            raise InvalidParameter("The data has no rows.")
        return data, "dataframe"
    text = str(data)
    if text.startswith(LOGGED_PREFIX):
        if client is None:
            raise InvalidParameter("A logged dataset needs a tracking server to look it up.")
        return read_file(_logged_source(client, text)), text
    return read_file(text), text


def split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    if target not in frame.columns:
        raise InvalidParameter(
            f"Target column '{target}' is not in the data; columns are {[str(c) for c in frame.columns]}."
        )
    labels = frame[target]
    if labels.isna().any():
        raise InvalidParameter(f"Target column '{target}' has missing values.")
    return frame.drop(columns=[target]), labels


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidParameter(f"{what} column(s) {missing} are not in the data.")


def numeric_columns(features: pd.DataFrame) -> list[str]:
    return [
        str(c)
        for c in features.columns
        if pd.api.types.is_numeric_dtype(features[c]) and not pd.api.types.is_bool_dtype(features[c])
    ]
