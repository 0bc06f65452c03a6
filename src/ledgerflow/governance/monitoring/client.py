"""Client side of drift monitoring: set a version's reference profile, send production batches."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ledgerflow.governance.evaluation import data as datasets
from ledgerflow.governance.monitoring.profile import ProfileOptions, build_profile
from ledgerflow.governance.monitoring.service import MAX_BATCH_ROWS

_MON = "/2.0/ledgerflow/monitoring"


def _client(tracking_uri: str | None) -> Any:
    from ledgerflow.client.client import Client

    return Client(tracking_uri)


def _frame(data: Any, client: Any, drop: list[str] | None) -> tuple[pd.DataFrame, str]:
    frame, label = datasets.load(data, client)
    if drop:
        frame = frame.drop(columns=[c for c in drop if c in frame.columns])
    return frame, label


def set_reference(
    name: str,
    version: str | int,
    data: Any,
    *,
    exclude: list[str] | None = None,
    source: str = "evaluation",
    settings: dict[str, Any] | None = None,
    options: ProfileOptions | None = None,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Profile ``data`` (minus ``exclude`` columns, e.g. the target) as the reference of
    ``name`` version ``version``."""
    client = _client(tracking_uri)
    frame, _ = _frame(data, client, exclude)
    body: dict[str, Any] = {
        "name": name,
        "version": str(version),
        "profile": build_profile(frame, options),
        "source": source,
        "dataset_digest": datasets.digest(frame),
    }
    if settings is not None:
        body["settings"] = settings
    reference: dict[str, Any] = client.transport.call("POST", f"{_MON}/reference/set", body)["reference"]
    return reference


def _jsonable(series: pd.Series) -> list[Any]:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return [None if not math.isfinite(v) else v for v in series.astype(np.float64).tolist()]
    return [None if pd.isna(v) else str(v) for v in series.tolist()]


def batch_body(frame: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """The ``columns`` and ``row_count`` of a batch; over :data:`MAX_BATCH_ROWS` rows a seeded
    uniform sample of that many rows is sent and ``row_count`` says how many there were."""
    rows = int(frame.shape[0])
    if rows > MAX_BATCH_ROWS:
        frame = frame.sample(n=MAX_BATCH_ROWS, random_state=seed)
    return {"columns": {str(c): _jsonable(frame[c]) for c in frame.columns}, "row_count": rows}


def log_batch(
    name: str,
    version: str | int,
    data: Any,
    *,
    window_time: int | None = None,
    source: str = "client",
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Send one production batch (a window); returns its drift scores and whether it alerted."""
    client = _client(tracking_uri)
    frame, _ = _frame(data, client, None)
    body = {"name": name, "version": str(version), "source": source, **batch_body(frame)}
    if window_time is not None:
        body["window_time"] = window_time
    window: dict[str, Any] = client.transport.call("POST", f"{_MON}/log-batch", body)["window"]
    return window


def windows(name: str, version: str | int, *, tracking_uri: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        _client(tracking_uri)
        .transport.call("GET", f"{_MON}/windows", {"name": name, "version": str(version)})
        .get("windows", [])
    )
    return found
