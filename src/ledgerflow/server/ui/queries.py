"""Read-only lookups only the UI needs, which no REST endpoint offers: the param and metric
keys present in an experiment (for the column chooser) and the run count of each listed experiment."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import latest_metrics, params, runs

# A column chooser with thousands of checkboxes helps nobody; past this the list is cut.
MAX_KEYS = 500


def run_counts(conn: Connection, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    query = (
        sa.select(runs.c.experiment_id, sa.func.count())
        .where(runs.c.experiment_id.in_(ids), runs.c.lifecycle_stage == "active")
        .group_by(runs.c.experiment_id)
    )
    return {int(eid): int(count) for eid, count in conn.execute(query)}


def param_keys(conn: Connection, experiment_id: int) -> list[str]:
    query = (
        sa.select(params.c.key)
        .join(runs, runs.c.run_uuid == params.c.run_uuid)
        .where(runs.c.experiment_id == experiment_id)
        .distinct()
        .order_by(params.c.key)
        .limit(MAX_KEYS)
    )
    return [str(row[0]) for row in conn.execute(query)]


def metric_keys(conn: Connection, experiment_id: int) -> list[str]:
    query = (
        sa.select(latest_metrics.c.key)
        .join(runs, runs.c.run_uuid == latest_metrics.c.run_uuid)
        .where(runs.c.experiment_id == experiment_id)
        .distinct()
        .order_by(latest_metrics.c.key)
        .limit(MAX_KEYS)
    )
    return [str(row[0]) for row in conn.execute(query)]
