"""SQL for runs, their params and tags, and the wire-shaped ``Run`` messages built from them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.metrics import chunks, latest_for_runs
from ledgerflow.store.run_inputs import inputs_and_outputs_for_runs
from ledgerflow.store.schema import params, runs, tags
from ledgerflow.store.upserts import query_row, upsert

ACTIVE = "active"
DELETED = "deleted"


def set_lifecycle_for_experiment(conn: Connection, experiment_id: int, stage: str, now: int) -> None:
    conn.execute(
        sa.update(runs)
        .where(runs.c.experiment_id == experiment_id)
        .values(lifecycle_stage=stage, deleted_time=now if stage == "deleted" else None)
    )


def info_to_wire(row: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_uuid": row.run_uuid,
        "experiment_id": str(row.experiment_id),
        "run_name": row.name,
        "user_id": row.user_id,
        "status": row.status,
    }
    if row.start_time is not None:
        info["start_time"] = row.start_time
    if row.end_time is not None:
        info["end_time"] = row.end_time
    info["artifact_uri"] = row.artifact_uri
    info["lifecycle_stage"] = row.lifecycle_stage
    info["run_id"] = row.run_uuid
    return info


# Built once: this lookup opens every write, and constructing a select costs more than running it.
_FIND_RUN = sa.select(runs).where(runs.c.run_uuid == sa.bindparam("run_id"))


def find_row(conn: Connection, run_id: str) -> Any:
    return conn.execute(_FIND_RUN, {"run_id": run_id}).first()


_FIND_STAGE = sa.select(runs.c.lifecycle_stage, runs.c.experiment_id).where(
    runs.c.run_uuid == sa.bindparam("run_id")
)


def find_stage(conn: Connection, run_id: str) -> tuple[str, int] | None:
    """A run's ``(lifecycle_stage, experiment_id)``, or None: what every metric write checks
    first, straight on the driver (SQLAlchemy's result set-up costs more than the lookup)."""
    row = query_row(conn, _FIND_STAGE, ("run_id",), (run_id,))
    return None if row is None else (row[0], row[1])


def insert(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(sa.insert(runs).values(**values))


def update(conn: Connection, run_id: str, **values: Any) -> None:
    conn.execute(sa.update(runs).where(runs.c.run_uuid == run_id).values(**values))


def existing_params(conn: Connection, run_id: str, keys: Sequence[str]) -> dict[str, str]:
    if not keys:
        return {}
    query = sa.select(params.c.key, params.c.value).where(
        params.c.run_uuid == run_id, params.c.key.in_(list(keys))
    )
    return {row.key: row.value for row in conn.execute(query)}


def insert_params(conn: Connection, run_id: str, items: Sequence[tuple[str, str]]) -> None:
    if items:
        conn.execute(sa.insert(params), [{"run_uuid": run_id, "key": k, "value": v} for k, v in items])


def set_tags(conn: Connection, run_id: str, items: dict[str, str]) -> None:
    rows = [{"run_uuid": run_id, "key": k, "value": v} for k, v in items.items()]
    upsert(conn, tags, rows, keys=("run_uuid", "key"), update=("value",))


def tag_value(conn: Connection, run_id: str, key: str) -> str | None:
    value = conn.execute(sa.select(tags.c.value).where(tags.c.run_uuid == run_id, tags.c.key == key)).scalar()
    return None if value is None else str(value)


def delete_tag(conn: Connection, run_id: str, key: str) -> int:
    result = conn.execute(sa.delete(tags).where(tags.c.run_uuid == run_id, tags.c.key == key))
    return int(result.rowcount)


def _key_values(conn: Connection, table: sa.Table, run_ids: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for part in chunks(run_ids):
        query = (
            sa.select(table.c.run_uuid, table.c.key, table.c.value)
            .where(table.c.run_uuid.in_(part))
            .order_by(table.c.run_uuid, table.c.key)
        )
        for row in conn.execute(query):
            found.setdefault(row.run_uuid, []).append({"key": row.key, "value": row.value})
    return found


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Full ``Run`` messages in the order of ``run_ids`` (unknown ids are skipped).

    A fixed number of queries per 500 runs, whatever the number of params, tags and metrics.
    """
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return []
    rows: dict[str, Any] = {}
    for part in chunks(ids):
        for row in conn.execute(sa.select(runs).where(runs.c.run_uuid.in_(part))):
            rows[row.run_uuid] = row
    present = [i for i in ids if i in rows]
    metric_map = latest_for_runs(conn, present)
    param_map = _key_values(conn, params, present)
    tag_map = _key_values(conn, tags, present)
    inputs, outputs = inputs_and_outputs_for_runs(conn, present)
    result = []
    for run_id in run_ids:
        found = rows.get(run_id)
        if found is None:
            continue
        data: dict[str, Any] = {}
        if run_id in metric_map:
            data["metrics"] = metric_map[run_id]
        if run_id in param_map:
            data["params"] = param_map[run_id]
        if run_id in tag_map:
            data["tags"] = tag_map[run_id]
        result.append(
            {
                "info": info_to_wire(found),
                "data": data,
                "inputs": inputs.get(run_id, {}),
                "outputs": outputs.get(run_id, {}),
            }
        )
    return result
