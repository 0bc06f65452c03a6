"""Read-only lookups only the UI needs, which no REST endpoint offers: the param and metric
keys present in an experiment (for the column chooser), the run count of each listed experiment,
the logged models of a run or an experiment and the registry versions made from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import (
    latest_metrics,
    logged_models,
    model_versions,
    params,
    registered_models,
    run_models,
    runs,
)

# A column chooser with thousands of checkboxes helps nobody; past this the list is cut.
MAX_KEYS = 500
# A run page lists at most this many logged models (a tuning loop may log one per trial).
MAX_RUN_MODELS = 200
# The experiment page lists this many of its newest logged models (search finds the rest).
MAX_EXPERIMENT_MODELS = 50


@dataclass(frozen=True)
class RunModel:
    model_id: str
    name: str
    status: str
    created: int
    model_type: str | None
    artifact_uri: str
    experiment_id: int
    source_run_id: str | None = None


@dataclass(frozen=True)
class Registration:
    model_id: str
    registered_model_id: int
    name: str
    version: int


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


_MODEL_COLUMNS = (
    logged_models.c.model_id,
    logged_models.c.name,
    logged_models.c.status,
    logged_models.c.creation_timestamp_ms,
    logged_models.c.model_type,
    logged_models.c.artifact_location,
    logged_models.c.experiment_id,
    logged_models.c.source_run_id,
)


def _to_model(r: Any) -> RunModel:
    return RunModel(
        str(r.model_id),
        str(r.name),
        str(r.status),
        int(r.creation_timestamp_ms),
        None if r.model_type is None else str(r.model_type),
        str(r.artifact_location),
        int(r.experiment_id),
        None if r.source_run_id is None else str(r.source_run_id),
    )


def run_logged_models(conn: Connection, run_id: str) -> tuple[list[RunModel], bool]:
    """The active logged models the run produced, oldest first: those naming it as their
    source run (MLflow 3's ``log_model``) and those linked as its outputs (``runs/outputs``),
    in one query. The flag says the list was cut at :data:`MAX_RUN_MODELS`."""
    query = (
        sa.select(*_MODEL_COLUMNS)
        .where(_run_model_filter(run_id))
        .order_by(logged_models.c.creation_timestamp_ms, logged_models.c.model_id)
        .limit(MAX_RUN_MODELS + 1)
    )
    rows = list(conn.execute(query))
    return [_to_model(r) for r in rows[:MAX_RUN_MODELS]], len(rows) > MAX_RUN_MODELS


def experiment_logged_models(conn: Connection, experiment_id: int) -> tuple[list[RunModel], bool]:
    """The experiment's newest active logged models, with or without a source run; the flag
    says there are more than :data:`MAX_EXPERIMENT_MODELS`."""
    query = (
        sa.select(*_MODEL_COLUMNS)
        .where(logged_models.c.experiment_id == experiment_id, logged_models.c.lifecycle_stage == "active")
        .order_by(logged_models.c.creation_timestamp_ms.desc(), logged_models.c.model_id)
        .limit(MAX_EXPERIMENT_MODELS + 1)
    )
    rows = list(conn.execute(query))
    return [_to_model(r) for r in rows[:MAX_EXPERIMENT_MODELS]], len(rows) > MAX_EXPERIMENT_MODELS


def _run_model_filter(run_id: str) -> sa.ColumnElement[bool]:
    outputs = sa.select(run_models.c.model_id).where(
        run_models.c.run_uuid == run_id, run_models.c.direction == "output"
    )
    return sa.and_(
        logged_models.c.lifecycle_stage == "active",
        sa.or_(logged_models.c.source_run_id == run_id, logged_models.c.model_id.in_(outputs)),
    )


def is_run_model(conn: Connection, run_id: str, experiment_id: int, model_id: str) -> bool:
    """Whether ``model_id`` is one of the run's active logged models, in the run's experiment."""
    query = sa.select(logged_models.c.model_id).where(
        logged_models.c.model_id == model_id,
        logged_models.c.experiment_id == experiment_id,
        _run_model_filter(run_id),
    )
    return conn.execute(query).first() is not None


def registrations(conn: Connection, model_ids: list[str]) -> list[Registration]:
    """Every registry version made from one of the logged models, in one query (the ids are
    at most :data:`MAX_RUN_MODELS`, well inside every backend's bound-parameter limit)."""
    if not model_ids:
        return []
    query = (
        sa.select(
            model_versions.c.model_id,
            registered_models.c.registered_model_id,
            registered_models.c.name,
            model_versions.c.version,
        )
        .join(
            registered_models,
            registered_models.c.registered_model_id == model_versions.c.registered_model_id,
        )
        .where(model_versions.c.model_id.in_(model_ids))
        .order_by(registered_models.c.name, model_versions.c.version)
    )
    return [
        Registration(str(r.model_id), int(r.registered_model_id), str(r.name), int(r.version))
        for r in conn.execute(query)
    ]
