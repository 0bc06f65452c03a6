"""SQL for metric points, each run's latest values, and model-linked metric copies.

A point row keeps NaN as ``value=0, is_nan=true`` (MySQL has no NaN); infinities arrive
already clamped. Responses are built straight from rows, without entity objects in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import latest_metrics, logged_model_metrics, logged_models, metrics
from ledgerflow.store.upserts import insert_ignore, upsert_if_greater

# Bound parameters per IN list: well under SQLite's 32766 and friendly to every planner.
IN_CHUNK = 500

_EXTRA = ("model_id", "dataset_name", "dataset_digest")
# Column order of every point query, so rows unpack positionally (much faster than by name).
_WIRE_ORDER = ("key", "value", "timestamp", "step", "is_nan", *_EXTRA)


def chunks(items: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def point_to_wire(row: Any) -> dict[str, Any]:
    return _point(*row[:8])


def _point(
    key: str,
    value: float,
    timestamp: int,
    step: int,
    is_nan: bool,
    model_id: str | None,
    dataset_name: str | None,
    dataset_digest: str | None,
) -> dict[str, Any]:
    point: dict[str, Any] = {
        "key": key,
        "value": "NaN" if is_nan else value,
        "timestamp": timestamp,
        "step": step,
    }
    if model_id is not None:
        point["model_id"] = model_id
    if dataset_name is not None:
        point["dataset_name"] = dataset_name
    if dataset_digest is not None:
        point["dataset_digest"] = dataset_digest
    return point


def log_points(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Store points (exact repeats are dropped by the primary key) and move each key's latest
    value forward where a new point sorts after it by (step, timestamp, value)."""
    if not rows:
        return
    insert_ignore(conn, metrics, rows)
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        slot = (row["run_uuid"], row["key"])
        current = best.get(slot)
        if current is None or (row["step"], row["timestamp"], row["value"]) > (
            current["step"],
            current["timestamp"],
            current["value"],
        ):
            best[slot] = row
    upsert_if_greater(
        conn,
        latest_metrics,
        list(best.values()),
        keys=("run_uuid", "key"),
        order=("step", "timestamp", "value"),
        other=("is_nan", *_EXTRA),
    )


def log_model_points(conn: Connection, experiment_id: int, rows: Sequence[dict[str, Any]]) -> None:
    """Copy points that name a logged model into that model's metrics, for models that exist."""
    model_ids = sorted({row["model_id"] for row in rows if row.get("model_id")})
    if not model_ids:
        return
    known = set(
        conn.execute(
            sa.select(logged_models.c.model_id).where(logged_models.c.model_id.in_(model_ids))
        ).scalars()
    )
    copies = [
        {
            "model_id": row["model_id"],
            "metric_name": row["key"],
            "metric_timestamp_ms": row["timestamp"],
            "metric_step": row["step"],
            "run_id": row["run_uuid"],
            # NaN has no portable SQL spelling; the model's copy leaves it NULL.
            "metric_value": None if row["is_nan"] else row["value"],
            "experiment_id": experiment_id,
            "dataset_name": row.get("dataset_name"),
            "dataset_digest": row.get("dataset_digest"),
        }
        for row in rows
        if row.get("model_id") in known
    ]
    insert_ignore(conn, logged_model_metrics, copies)


def latest_for_runs(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for part in chunks(run_ids):
        query = (
            sa.select(*(latest_metrics.c[name] for name in _WIRE_ORDER), latest_metrics.c.run_uuid)
            .where(latest_metrics.c.run_uuid.in_(part))
            .order_by(latest_metrics.c.run_uuid, latest_metrics.c.key)
        )
        for row in conn.execute(query):
            found.setdefault(row[8], []).append(point_to_wire(row))
    return found


_HISTORY_COLUMNS = tuple(metrics.c[name] for name in _WIRE_ORDER)


def history(
    conn: Connection, run_id: str, key: str, *, offset: int, limit: int | None
) -> list[dict[str, Any]]:
    """One run's points for a key, ordered by (timestamp, step, value) as MLflow orders them."""
    query = (
        sa.select(*_HISTORY_COLUMNS)
        .where(metrics.c.run_uuid == run_id, metrics.c.key == key)
        .order_by(metrics.c.timestamp, metrics.c.step, metrics.c.value)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    result = conn.execute(query)
    try:
        # Raw DBAPI tuples: a 100k-point history spends most of its time in per-row result
        # processing otherwise. is_nan arrives as bool or 0/1 depending on the driver.
        return [_point(*row) for row in result.cursor.fetchall()]
    finally:
        result.close()


def history_many(
    conn: Connection,
    run_ids: Sequence[str],
    key: str,
    *,
    steps: Sequence[int] | None,
    limit: int,
    by_step: bool,
) -> dict[str, list[dict[str, Any]]]:
    """Points of a key for several runs (optionally only at some steps), at most ``limit``
    per run, each with its ``run_id``; ordered per run by step first or by time first."""
    found: dict[str, list[dict[str, Any]]] = {}
    query = sa.select(*_HISTORY_COLUMNS, metrics.c.run_uuid).where(
        metrics.c.run_uuid.in_(list(run_ids)), metrics.c.key == key
    )
    if steps is not None:
        if not steps:
            return found
        query = query.where(metrics.c.step.in_(list(steps)))
    order = (
        (metrics.c.step, metrics.c.timestamp, metrics.c.value)
        if by_step
        else (metrics.c.timestamp, metrics.c.step, metrics.c.value)
    )
    query = query.order_by(metrics.c.run_uuid, *order)
    for row in conn.execute(query):
        points = found.setdefault(row[8], [])
        if len(points) < limit:
            point = point_to_wire(row)
            point["run_id"] = row[8]
            points.append(point)
    return found


def steps_by_run(conn: Connection, run_ids: Sequence[str], key: str) -> dict[str, list[int]]:
    """The distinct steps each run logged for a key, ascending."""
    query = (
        sa.select(metrics.c.run_uuid, metrics.c.step)
        .where(metrics.c.run_uuid.in_(list(run_ids)), metrics.c.key == key)
        .distinct()
        .order_by(metrics.c.run_uuid, metrics.c.step)
    )
    found: dict[str, list[int]] = {}
    for row in conn.execute(query):
        found.setdefault(row.run_uuid, []).append(row.step)
    return found
