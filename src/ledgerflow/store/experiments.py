"""SQL for experiments and their tags. Rows come back in MLflow's wire shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import experiment_tags, experiments

ACTIVE = "active"
DELETED = "deleted"


def to_wire(row: Any, tags: Sequence[Any]) -> dict[str, Any]:
    experiment: dict[str, Any] = {
        "experiment_id": str(row.experiment_id),
        "name": row.name,
        "artifact_location": row.artifact_location,
        "lifecycle_stage": row.lifecycle_stage,
        "last_update_time": row.last_update_time,
        "creation_time": row.creation_time,
    }
    if tags:
        experiment["tags"] = [{"key": t.key, "value": t.value} for t in tags]
    return experiment


def load(conn: Connection, experiment_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Experiments in the order of ``experiment_ids``; unknown ids are skipped."""
    if not experiment_ids:
        return []
    rows = conn.execute(sa.select(experiments).where(experiments.c.experiment_id.in_(experiment_ids)))
    by_id = {row.experiment_id: row for row in rows}
    tag_rows: dict[int, list[Any]] = {}
    for tag in conn.execute(
        sa.select(experiment_tags)
        .where(experiment_tags.c.experiment_id.in_(list(by_id)))
        .order_by(experiment_tags.c.key)
    ):
        tag_rows.setdefault(tag.experiment_id, []).append(tag)
    return [to_wire(by_id[i], tag_rows.get(i, [])) for i in experiment_ids if i in by_id]


def find_row(conn: Connection, experiment_id: int) -> Any:
    return conn.execute(sa.select(experiments).where(experiments.c.experiment_id == experiment_id)).first()


def find_id_by_name(conn: Connection, name: str) -> int | None:
    return conn.execute(sa.select(experiments.c.experiment_id).where(experiments.c.name == name)).scalar()


def insert(
    conn: Connection, *, name: str, artifact_location: str, now: int, experiment_id: int | None = None
) -> int:
    values: dict[str, Any] = {
        "name": name,
        "artifact_location": artifact_location,
        "lifecycle_stage": ACTIVE,
        "creation_time": now,
        "last_update_time": now,
    }
    if experiment_id is not None:
        values["experiment_id"] = experiment_id
        if conn.dialect.name == "mysql":
            # MySQL would otherwise treat an explicit 0 as "generate the next id".
            conn.exec_driver_sql(
                "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"
            )
    result = conn.execute(sa.insert(experiments).values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def update(conn: Connection, experiment_id: int, **values: Any) -> None:
    conn.execute(sa.update(experiments).where(experiments.c.experiment_id == experiment_id).values(**values))


def set_tag(conn: Connection, experiment_id: int, key: str, value: str) -> None:
    deleted = conn.execute(
        sa.delete(experiment_tags).where(
            experiment_tags.c.experiment_id == experiment_id, experiment_tags.c.key == key
        )
    )
    del deleted
    conn.execute(sa.insert(experiment_tags).values(experiment_id=experiment_id, key=key, value=value))


def delete_tag(conn: Connection, experiment_id: int, key: str) -> int:
    result = conn.execute(
        sa.delete(experiment_tags).where(
            experiment_tags.c.experiment_id == experiment_id, experiment_tags.c.key == key
        )
    )
    return int(result.rowcount)
