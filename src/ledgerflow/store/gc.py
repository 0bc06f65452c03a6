"""Permanent deletion of soft-deleted runs and experiments (``ledgerflow gc``).

Child rows (params, tags, metrics, inputs, logged models) go with their parent through the
schema's ``ON DELETE CASCADE`` foreign keys, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import experiments, logged_models, runs


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    lifecycle_stage: str
    deleted_time: int | None
    artifact_uri: str


def find_runs(conn: Connection, run_ids: list[str]) -> dict[str, RunRecord]:
    rows = conn.execute(
        sa.select(runs.c.run_uuid, runs.c.lifecycle_stage, runs.c.deleted_time, runs.c.artifact_uri).where(
            runs.c.run_uuid.in_(run_ids)
        )
    )
    return {row.run_uuid: RunRecord(*row) for row in rows}


def deleted_runs(conn: Connection, experiment_ids: list[int] | None = None) -> list[RunRecord]:
    query = sa.select(
        runs.c.run_uuid, runs.c.lifecycle_stage, runs.c.deleted_time, runs.c.artifact_uri
    ).where(runs.c.lifecycle_stage == "deleted")
    if experiment_ids is not None:
        query = query.where(runs.c.experiment_id.in_(experiment_ids))
    return [RunRecord(*row) for row in conn.execute(query.order_by(runs.c.run_uuid))]


def deleted_experiments(conn: Connection) -> list[tuple[int, int | None]]:
    rows = conn.execute(
        sa.select(experiments.c.experiment_id, experiments.c.deleted_time).where(
            experiments.c.lifecycle_stage == "deleted"
        )
    )
    return [(row.experiment_id, row.deleted_time) for row in rows]


def experiment_states(conn: Connection, experiment_ids: list[int]) -> dict[int, tuple[str, int | None]]:
    rows = conn.execute(
        sa.select(
            experiments.c.experiment_id, experiments.c.lifecycle_stage, experiments.c.deleted_time
        ).where(experiments.c.experiment_id.in_(experiment_ids))
    )
    return {row.experiment_id: (row.lifecycle_stage, row.deleted_time) for row in rows}


def artifact_locations_by_experiment(conn: Connection, experiment_ids: list[int]) -> dict[int, list[str]]:
    """Every run's and logged model's artifact location in these experiments."""
    found: dict[int, list[str]] = {eid: [] for eid in experiment_ids}
    for table, column in ((runs, runs.c.artifact_uri), (logged_models, logged_models.c.artifact_location)):
        for row in conn.execute(
            sa.select(table.c.experiment_id, column).where(table.c.experiment_id.in_(experiment_ids))
        ):
            found[row[0]].append(row[1])
    return found


def purge_run(conn: Connection, run_id: str) -> None:
    conn.execute(sa.delete(runs).where(runs.c.run_uuid == run_id))


def purge_experiment(conn: Connection, experiment_id: int) -> None:
    conn.execute(sa.delete(runs).where(runs.c.experiment_id == experiment_id))
    conn.execute(sa.delete(experiments).where(experiments.c.experiment_id == experiment_id))
