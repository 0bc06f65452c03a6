"""Metric alert rules: "alert when a run of experiment E logs metric K above/below T".

A rule fires at most once per run (``alert_firings`` holds the (rule, run) pairs that fired),
and firing is checked in the background by :class:`~.watcher.ThresholdWatcher`, never on the
metric-logging path: log-metric and log-batch do no extra work for alerting.
"""

from __future__ import annotations

import math
import operator
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.security.audit import context as audit_context
from ledgerflow.store.database import Database
from ledgerflow.store.governance.alerts_schema import alert_rules
from ledgerflow.store.schema import experiments
from ledgerflow.tracking.clock import now_ms
from ledgerflow.tracking.validation import parse_experiment_id, validate_key

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
ACTIVE = "ACTIVE"


def check_comparison(value: str | None) -> str:
    comparison = (value or "").strip()
    if comparison not in COMPARISONS:
        raise InvalidParameter(f"Invalid comparison '{value}'. Valid comparisons are: {sorted(COMPARISONS)}")
    return comparison


def render(row: Any) -> dict[str, Any]:
    return {
        "rule_id": row.rule_id,
        "experiment_id": str(row.experiment_id),
        "metric_key": row.metric_key,
        "comparison": row.comparison,
        "threshold": row.threshold,
        "status": row.status,
        "creator": row.creator,
        "creation_time": row.creation_time,
    }


class AlertRuleService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        experiment_id: str | None,
        metric_key: str | None,
        comparison: str | None,
        threshold: float | None,
    ) -> dict[str, Any]:
        eid = parse_experiment_id(experiment_id)
        if not metric_key:
            raise InvalidParameter("Missing value for required parameter 'metric_key'.")
        validate_key("Metric", metric_key)
        op = check_comparison(comparison)
        if threshold is None or not math.isfinite(threshold):
            raise InvalidParameter(
                "Missing or invalid value for required parameter 'threshold' (a finite number)."
            )
        context = audit_context.current()
        values = {
            "rule_id": uuid.uuid4().hex,
            "experiment_id": eid,
            "metric_key": metric_key,
            "comparison": op,
            "threshold": float(threshold),
            "status": ACTIVE,
            "creator": context.actor if context else audit_context.local_actor(),
            "creation_time": now_ms(),
        }

        def create(conn: Connection) -> dict[str, Any]:
            found = conn.execute(
                sa.select(experiments.c.lifecycle_stage).where(experiments.c.experiment_id == eid)
            ).first()
            if found is None or found.lifecycle_stage != "active":
                raise ResourceDoesNotExist(f"No active experiment with id={eid} exists")
            conn.execute(alert_rules.insert().values(**values))
            return {"rule_id": values["rule_id"]}

        self.db.run_write(create)
        return render(_Row(values))

    def list(self, experiment_id: str | None) -> list[dict[str, Any]]:
        """Rules of one experiment, or (``None``: the CLI on the store) of every experiment."""
        query = sa.select(alert_rules).order_by(alert_rules.c.creation_time, alert_rules.c.rule_id)
        if experiment_id is not None:
            query = query.where(alert_rules.c.experiment_id == parse_experiment_id(experiment_id))
        with self.db.read() as conn:
            return [render(row) for row in conn.execute(query)]

    def get(self, rule_id: str | None, experiment_id: str | None = None) -> dict[str, Any]:
        with self.db.read() as conn:
            return render(self._require(conn, rule_id, experiment_id))

    def delete(self, rule_id: str | None, experiment_id: str | None = None) -> None:
        def delete(conn: Connection) -> dict[str, Any]:
            self._require(conn, rule_id, experiment_id)
            conn.execute(alert_rules.delete().where(alert_rules.c.rule_id == rule_id))
            return {"rule_id": rule_id}

        self.db.run_write(delete)

    @staticmethod
    def _require(conn: Connection, rule_id: str | None, experiment_id: str | None) -> Any:
        row = conn.execute(sa.select(alert_rules).where(alert_rules.c.rule_id == (rule_id or ""))).first()
        # A rule is named together with its experiment (that is what permissions are checked
        # on), so a rule of another experiment is "not found", not "forbidden".
        if row is None or (
            experiment_id not in (None, "") and row.experiment_id != parse_experiment_id(experiment_id)
        ):
            raise ResourceDoesNotExist(f"Alert rule with id={rule_id} not found.")
        return row


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
