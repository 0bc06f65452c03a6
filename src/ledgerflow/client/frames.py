"""Runs as a table: the columns ``search_runs`` returns and ``experiments export`` writes.

``run_id, experiment_id, status, artifact_uri, start_time, end_time``, then one
``metrics.<key>``, ``params.<key>`` and ``tags.<key>`` column per key seen in any run
(sorted within each group). Plain Python here; pandas is used only by ``runs_to_dataframe``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ledgerflow.client.entities import Run

BASE_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def columns_for(runs: Sequence[Run]) -> list[str]:
    metrics = sorted({k for r in runs for k in r.data.metrics})
    params = sorted({k for r in runs for k in r.data.params})
    tags = sorted({k for r in runs for k in r.data.tags})
    return [
        *BASE_COLUMNS,
        *(f"metrics.{k}" for k in metrics),
        *(f"params.{k}" for k in params),
        *(f"tags.{k}" for k in tags),
    ]


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def run_record(run: Run, *, iso_times: bool = True) -> dict[str, Any]:
    info = run.info
    record: dict[str, Any] = {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "status": info.status,
        "artifact_uri": info.artifact_uri,
        "start_time": _iso(info.start_time) if iso_times else info.start_time,
        "end_time": _iso(info.end_time) if iso_times else info.end_time,
    }
    record.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
    record.update({f"params.{k}": v for k, v in run.data.params.items()})
    record.update({f"tags.{k}": v for k, v in run.data.tags.items()})
    return record


def runs_to_dataframe(runs: Sequence[Run]) -> Any:
    import pandas as pd

    columns = columns_for(runs)
    frame = pd.DataFrame([run_record(r, iso_times=False) for r in runs], columns=columns)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame
