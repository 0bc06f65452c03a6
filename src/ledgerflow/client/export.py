"""Writing runs out as CSV or JSON (``ledgerflow experiments export`` / ``runs export``).

Plain ``csv``/``json`` from the standard library, so exports work on the light client
without pandas. ``on_item`` is called once per run written, which the CLI turns into a
progress bar.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from typing import IO, Any

from ledgerflow.client.client import Client
from ledgerflow.client.entities import Run
from ledgerflow.client.frames import columns_for, run_record

FORMATS = ("csv", "json")


def _noop(_: int) -> None:
    return None


def write_runs_csv(runs: Sequence[Run], out: IO[str], on_item: Callable[[int], None] = _noop) -> None:
    """The ``search_runs`` columns, one row per run, no index column."""
    writer = csv.DictWriter(out, fieldnames=columns_for(runs), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for run in runs:
        writer.writerow({k: ("" if v is None else v) for k, v in run_record(run).items()})
        on_item(1)


def _json_value(value: Any) -> Any:
    # JSON has no NaN or infinity; MLflow's convention is the string form.
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


def run_document(run: Run, history: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    document = run.to_dict()
    document["data"]["metrics"] = {k: _json_value(v) for k, v in document["data"]["metrics"].items()}
    if history is not None:
        document["metric_history"] = history
    return document


def metric_histories(client: Client, run: Run) -> dict[str, list[dict[str, Any]]]:
    return {
        key: [
            {"step": m.step, "timestamp": m.timestamp, "value": _json_value(m.value)}
            for m in client.get_metric_history(run.info.run_id, key)
        ]
        for key in sorted(run.data.metrics)
    }


def write_runs_json(
    runs: Sequence[Run],
    out: IO[str],
    *,
    client: Client | None = None,
    on_item: Callable[[int], None] = _noop,
) -> None:
    """A JSON list of runs (``runs describe`` shape), with each metric's full history when a
    *client* is given to fetch it."""
    out.write("[")
    for index, run in enumerate(runs):
        history = metric_histories(client, run) if client is not None else None
        out.write(",\n" if index else "\n")
        out.write(json.dumps(run_document(run, history), indent=2))
        on_item(1)
    out.write("\n]\n" if runs else "]\n")
