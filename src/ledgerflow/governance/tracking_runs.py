"""Runs the governance subsystems write their numbers on (evaluation runs, monitoring runs),
created and filled inside the caller's transaction so a record and its run commit together."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from ledgerflow.registry.model_versions import require_version
from ledgerflow.registry.registered_models import require_model
from ledgerflow.security.audit import context as audit_context
from ledgerflow.store import metrics as metric_store
from ledgerflow.store import runs as run_store
from ledgerflow.tracking.clock import new_run_id
from ledgerflow.tracking.experiments import ExperimentService
from ledgerflow.tracking.metrics import MetricPoint, point_row

DEFAULT_EXPERIMENT_ID = 0
_UNSAFE_KEY_CHARS = re.compile(r"[^/\w.\- :]")


def metric_key(name: str) -> str:
    """``name`` with the characters a metric key may not hold replaced by ``_``."""
    return _UNSAFE_KEY_CHARS.sub("_", name)[:250]


@dataclass(frozen=True)
class VersionRef:
    name: str
    version: int
    registered_model_id: int
    run_id: str | None

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


def require_version_ref(conn: Connection, name: str, version: str | int) -> VersionRef:
    model = require_model(conn, name)
    row = require_version(conn, model, version)
    return VersionRef(model.name, int(row.version), int(row.registered_model_id), row.run_id)


def name_audit_resource(name: str, version: str | int) -> None:
    """Name the model version as the audited resource of the current request."""
    context = audit_context.current()
    if context is not None:
        context.resource_type = "model_version"
        context.resource_id = f"{name}/{version}"


def experiment_for(conn: Connection, ref: VersionRef) -> int:
    """The experiment of the version's source run, else the default experiment."""
    if ref.run_id:
        row = run_store.find_row(conn, ref.run_id)
        if row is not None and row.lifecycle_stage == run_store.ACTIVE:
            return int(row.experiment_id)
    return DEFAULT_EXPERIMENT_ID


def create_run(
    conn: Connection,
    experiments: ExperimentService,
    experiment_id: int,
    run_name: str,
    tags: Mapping[str, str],
    *,
    user: str,
    now: int,
    finished: bool,
) -> str:
    experiment = experiments.require_active(conn, experiment_id)
    run_id = new_run_id()
    run_store.insert(
        conn,
        {
            "run_uuid": run_id,
            "experiment_id": experiment_id,
            "name": run_name,
            "user_id": user,
            "status": "FINISHED" if finished else "RUNNING",
            "start_time": now,
            "end_time": now if finished else None,
            "lifecycle_stage": run_store.ACTIVE,
            "artifact_uri": f"{experiment.artifact_location.rstrip('/')}/{run_id}/artifacts",
            "deleted_time": None,
        },
    )
    run_store.set_tags(conn, run_id, {"mlflow.runName": run_name, "mlflow.user": user, **tags})
    return run_id


def log_metrics(
    conn: Connection,
    run_id: str,
    experiment_id: int,
    values: Mapping[str, float],
    *,
    timestamp: int,
    step: int,
) -> None:
    rows = [
        point_row(run_id, MetricPoint(metric_key(key), float(value), timestamp, step))
        for key, value in values.items()
    ]
    if rows:
        metric_store.log_points(conn, rows)
        metric_store.log_model_points(conn, experiment_id, rows)


def current_user() -> str:
    context = audit_context.current()
    return context.actor if context is not None else audit_context.local_actor()
