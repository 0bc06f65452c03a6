"""The background check of metric alert rules, and the events it emits.

Every ``interval`` seconds the watcher reads the active rules (one small query) and, only if
there are any, finds per rule the runs of its experiment whose latest value of the metric
crosses the threshold and that have not fired for it yet (one query per rule, on the
``latest_metrics`` table the metric write path already maintains). Each new firing is
inserted, audited and announced as a ``metric.threshold`` event in its own transaction; the
(rule, run) primary key makes two server workers that race on one firing send it once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledgerflow.registry.events import EventHook
from ledgerflow.security.audit import context as audit_context
from ledgerflow.security.audit.log import SUCCESS, AuditLog, Event
from ledgerflow.store.database import Database
from ledgerflow.store.governance.alerts_schema import alert_firings, alert_rules
from ledgerflow.store.schema import latest_metrics, runs
from ledgerflow.tracking.clock import now_ms

from .rules import ACTIVE, COMPARISONS

_log = logging.getLogger(__name__)
_SQL_COMPARISONS = {
    ">": lambda column, value: column > value,
    ">=": lambda column, value: column >= value,
    "<": lambda column, value: column < value,
    "<=": lambda column, value: column <= value,
}


class ThresholdWatcher:
    def __init__(self, db: Database, audit: AuditLog | None, events: EventHook, interval: float) -> None:
        self.db = db
        self.audit = audit
        self.events = events
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or self.interval <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ledgerflow-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_now()
            except Exception:  # a database hiccup must not end the watcher
                _log.exception("Checking metric alert rules failed; retrying in %.0f s", self.interval)

    def check_now(self) -> int:
        """Fire every rule crossing not fired yet; returns how many fired."""
        with self.db.read() as conn:
            rules = conn.execute(sa.select(alert_rules).where(alert_rules.c.status == ACTIVE)).all()
            candidates = [(rule, hit) for rule in rules for hit in self._crossings(conn, rule)]
        fired = 0
        for rule, (run_id, value) in candidates:
            if self._fire(rule, run_id, value):
                fired += 1
        return fired

    @staticmethod
    def _crossings(conn: Connection, rule: Any) -> list[tuple[str, float]]:
        already = sa.select(alert_firings.c.run_uuid).where(
            alert_firings.c.rule_id == rule.rule_id, alert_firings.c.run_uuid == latest_metrics.c.run_uuid
        )
        query = (
            sa.select(latest_metrics.c.run_uuid, latest_metrics.c.value)
            .select_from(latest_metrics.join(runs, runs.c.run_uuid == latest_metrics.c.run_uuid))
            .where(
                runs.c.experiment_id == rule.experiment_id,
                runs.c.lifecycle_stage == "active",
                latest_metrics.c.key == rule.metric_key,
                latest_metrics.c.is_nan.is_(False),
                _SQL_COMPARISONS[rule.comparison](latest_metrics.c.value, rule.threshold),
                ~already.exists(),
            )
        )
        # The database compared; compare again in Python so NaN or type quirks never fire.
        return [
            (row.run_uuid, float(row.value))
            for row in conn.execute(query)
            if COMPARISONS[rule.comparison](float(row.value), rule.threshold)
        ]

    def _fire(self, rule: Any, run_id: str, value: float) -> bool:
        payload = {
            "rule_id": rule.rule_id,
            "experiment_id": str(rule.experiment_id),
            "run_id": run_id,
            "metric_key": rule.metric_key,
            "comparison": rule.comparison,
            "threshold": rule.threshold,
            "value": value,
        }

        def record(conn: Connection) -> None:
            conn.execute(
                alert_firings.insert().values(
                    rule_id=rule.rule_id, run_uuid=run_id, value=value, fired_time=now_ms()
                )
            )
            if self.audit is not None:
                self.audit.append(
                    conn,
                    Event(
                        actor="system",
                        action="alerts.metric_threshold",
                        outcome=SUCCESS,
                        resource_type="run",
                        resource_id=run_id,
                        source_address=audit_context.LOCAL_SOURCE,
                        details=payload,
                    ),
                )

        try:
            self.db.run_write(record, audit=False)
        except IntegrityError:
            return False  # another worker fired it first (or the run was deleted meanwhile)
        self.events.emit("metric", "threshold", payload)
        return True
