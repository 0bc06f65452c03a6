"""SQL for runs (filled in by the runs work)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import runs


def set_lifecycle_for_experiment(conn: Connection, experiment_id: int, stage: str, now: int) -> None:
    conn.execute(
        sa.update(runs)
        .where(runs.c.experiment_id == experiment_id)
        .values(lifecycle_stage=stage, deleted_time=now if stage == "deleted" else None)
    )
