"""SQL for MLflow 3 logged models: the model row, its params, tags and metrics, and the
run-to-model output links. Models come back in MLflow's wire shape ``{"info", "data"}``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import (
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    run_models,
    runs,
)

ACTIVE = "active"
DELETED = "deleted"
OUTPUT = "output"

# Optional info fields: emitted when the column holds a value (an explicit "" included, as
# MLflow echoes the proto default of model_type), omitted when NULL.
_OPTIONAL_INFO = ("creator_id", "model_type", "source_run_id", "status_message")


def _info(row: Any, tags: Sequence[Any]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": row.model_id,
        "experiment_id": str(row.experiment_id),
        "name": row.name,
        "creation_timestamp_ms": row.creation_timestamp_ms,
        "last_updated_timestamp_ms": row.last_updated_timestamp_ms,
        "artifact_uri": row.artifact_location,
        "status": row.status,
    }
    for field in _OPTIONAL_INFO:
        value = getattr(row, field)
        if value is not None:
            info[field] = value
    if tags:
        info["tags"] = [{"key": t.key, "value": t.value} for t in tags]
    return info


def _metric(row: Any) -> dict[str, Any]:
    value = row.metric_value
    # NaN may be stored as NULL (some backends reject NaN in a DOUBLE) or as a float NaN.
    metric: dict[str, Any] = {
        "key": row.metric_name,
        "value": "NaN" if value is None or math.isnan(value) else value,
        "timestamp": row.metric_timestamp_ms,
        "step": row.metric_step,
        "model_id": row.model_id,
        "run_id": row.run_id,
    }
    if row.dataset_name is not None:
        metric["dataset_name"] = row.dataset_name
    if row.dataset_digest is not None:
        metric["dataset_digest"] = row.dataset_digest
    return metric


# Ids per IN list: far below SQLite's bound-parameter limit, however many models a page holds.
_CHUNK = 500


def _group(conn: Connection, query: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for row in conn.execute(query):
        grouped.setdefault(row.model_id, []).append(row)
    return grouped


def _load_chunk(conn: Connection, ids: list[str], include_deleted: bool) -> dict[str, dict[str, Any]]:
    query = sa.select(logged_models).where(logged_models.c.model_id.in_(ids))
    if not include_deleted:
        query = query.where(logged_models.c.lifecycle_stage == ACTIVE)
    rows = {row.model_id: row for row in conn.execute(query)}
    if not rows:
        return {}
    found = list(rows)
    tags = _group(
        conn,
        sa.select(logged_model_tags)
        .where(logged_model_tags.c.model_id.in_(found))
        .order_by(logged_model_tags.c.model_id, logged_model_tags.c.key),
    )
    params = _group(
        conn,
        sa.select(logged_model_params)
        .where(logged_model_params.c.model_id.in_(found))
        .order_by(logged_model_params.c.model_id, logged_model_params.c.key),
    )
    metrics = _group(
        conn,
        sa.select(logged_model_metrics)
        .where(logged_model_metrics.c.model_id.in_(found))
        .order_by(
            logged_model_metrics.c.model_id,
            logged_model_metrics.c.metric_name,
            logged_model_metrics.c.metric_timestamp_ms,
            logged_model_metrics.c.metric_step,
            logged_model_metrics.c.run_id,
        ),
    )
    models: dict[str, dict[str, Any]] = {}
    for model_id, row in rows.items():
        data: dict[str, Any] = {}
        if model_id in params:
            data["params"] = [{"key": p.key, "value": p.value} for p in params[model_id]]
        if model_id in metrics:
            data["metrics"] = [_metric(m) for m in metrics[model_id]]
        models[model_id] = {"info": _info(row, tags.get(model_id, [])), "data": data}
    return models


def load_many(
    conn: Connection, model_ids: Sequence[str], *, include_deleted: bool = False
) -> list[dict[str, Any]]:
    """Models in the order of ``model_ids``, in four queries per 500 ids (never per model).

    Unknown ids (and deleted models, unless asked for) are skipped.
    """
    wanted = list(dict.fromkeys(model_ids))
    loaded: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), _CHUNK):
        loaded.update(_load_chunk(conn, wanted[start : start + _CHUNK], include_deleted))
    return [loaded[model_id] for model_id in wanted if model_id in loaded]


def find_row(conn: Connection, model_id: str, *, lock: bool = False) -> Any:
    """The model row; ``lock`` holds it (FOR UPDATE) so concurrent writers to one model queue
    up instead of racing to insert the same tag or param key. SQLite's write lock already
    serializes writers, and SQLAlchemy renders no FOR UPDATE there."""
    query = sa.select(logged_models).where(logged_models.c.model_id == model_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def insert(
    conn: Connection,
    *,
    model_id: str,
    experiment_id: int,
    name: str,
    artifact_location: str,
    status: str,
    now: int,
    model_type: str | None,
    source_run_id: str | None,
    creator_id: str | None,
) -> None:
    conn.execute(
        sa.insert(logged_models).values(
            model_id=model_id,
            experiment_id=experiment_id,
            name=name,
            artifact_location=artifact_location,
            creation_timestamp_ms=now,
            last_updated_timestamp_ms=now,
            status=status,
            lifecycle_stage=ACTIVE,
            model_type=model_type,
            source_run_id=source_run_id,
            creator_id=creator_id,
        )
    )


def update(conn: Connection, model_id: str, **values: Any) -> None:
    conn.execute(sa.update(logged_models).where(logged_models.c.model_id == model_id).values(**values))


def set_tags(conn: Connection, model_id: str, tags: dict[str, str]) -> None:
    """Upsert: delete-then-insert is the one form that behaves alike on all three backends."""
    if not tags:
        return
    conn.execute(
        sa.delete(logged_model_tags).where(
            logged_model_tags.c.model_id == model_id, logged_model_tags.c.key.in_(list(tags))
        )
    )
    conn.execute(
        sa.insert(logged_model_tags),
        [{"model_id": model_id, "key": key, "value": value} for key, value in tags.items()],
    )


def delete_tag(conn: Connection, model_id: str, key: str) -> int:
    result = conn.execute(
        sa.delete(logged_model_tags).where(
            logged_model_tags.c.model_id == model_id, logged_model_tags.c.key == key
        )
    )
    return int(result.rowcount)


def existing_params(conn: Connection, model_id: str, keys: Sequence[str]) -> dict[str, str]:
    if not keys:
        return {}
    rows = conn.execute(
        sa.select(logged_model_params.c.key, logged_model_params.c.value).where(
            logged_model_params.c.model_id == model_id, logged_model_params.c.key.in_(list(keys))
        )
    )
    return {row.key: row.value for row in rows}


def insert_params(conn: Connection, model_id: str, params: dict[str, str]) -> None:
    if params:
        conn.execute(
            sa.insert(logged_model_params),
            [{"model_id": model_id, "key": key, "value": value} for key, value in params.items()],
        )


def find_run(conn: Connection, run_id: str, *, lock: bool = False) -> Any:
    query = sa.select(runs.c.run_uuid, runs.c.lifecycle_stage).where(runs.c.run_uuid == run_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def active_model_ids(conn: Connection, model_ids: Sequence[str]) -> set[str]:
    if not model_ids:
        return set()
    rows = conn.execute(
        sa.select(logged_models.c.model_id).where(
            logged_models.c.model_id.in_(list(model_ids)), logged_models.c.lifecycle_stage == ACTIVE
        )
    )
    return {row.model_id for row in rows}


def link_outputs(conn: Connection, run_id: str, steps: dict[str, int]) -> None:
    """Record models as outputs of a run; logging the same model again moves its step."""
    if not steps:
        return
    conn.execute(
        sa.delete(run_models).where(
            run_models.c.run_uuid == run_id,
            run_models.c.direction == OUTPUT,
            run_models.c.model_id.in_(list(steps)),
        )
    )
    conn.execute(
        sa.insert(run_models),
        [
            {"run_uuid": run_id, "model_id": model_id, "direction": OUTPUT, "step": step}
            for model_id, step in steps.items()
        ],
    )


def run_model_named(conn: Connection, run_id: str, name: str) -> Any:
    """The active logged model called *name* that *run_id* logged (its source run) or output,
    the one at the largest output step when there are several (MLflow 3's choice for
    ``runs:/<run_id>/<name>``); None when there is none."""
    step = (
        sa.select(sa.func.max(run_models.c.step))
        .where(
            run_models.c.run_uuid == run_id,
            run_models.c.model_id == logged_models.c.model_id,
            run_models.c.direction == OUTPUT,
        )
        .scalar_subquery()
    )
    output_of_run = (
        sa.select(run_models.c.model_id)
        .where(run_models.c.run_uuid == run_id, run_models.c.direction == OUTPUT)
        .scalar_subquery()
    )
    query = (
        sa.select(logged_models.c.model_id, logged_models.c.artifact_location, step.label("step"))
        .where(
            logged_models.c.name == name,
            logged_models.c.lifecycle_stage == ACTIVE,
            sa.or_(logged_models.c.source_run_id == run_id, logged_models.c.model_id.in_(output_of_run)),
        )
        .order_by(sa.func.coalesce(step, -1).desc(), logged_models.c.creation_timestamp_ms.desc())
        .limit(1)
    )
    return conn.execute(query).first()
