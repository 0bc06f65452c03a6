"""Business gauges computed from the database at scrape time, cached.

One refresh runs a fixed set of grouped COUNT queries (one per table). Refreshes happen at
most once per cache window: scrapes inside the window are answered from the cache. Under
several workers the cache is a file in the multiprocess directory, refreshed under an
exclusive file lock, so the whole server (not each worker) runs one query set per window.

Every label is a bounded enumeration (a run status, a stage, a decision), never a name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledgerflow.store import schema
from ledgerflow.store.governance.alerts_schema import secret_findings
from ledgerflow.store.governance.monitoring_schema import governance_drift_windows
from ledgerflow.store.governance.policy_schema import policy_evaluations, promotion_requests

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ledgerflow.store.database import Database

CACHE_FILE = "ledgerflow_business_gauges.json"
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
STAGES = ("None", "Staging", "Production", "Archived")

# name -> (help, label name or None); a snapshot maps name -> {label value: count}.
GAUGES: dict[str, tuple[str, str | None]] = {
    "ledgerflow_runs": ("Runs (not deleted), by status.", "status"),
    "ledgerflow_experiments": ("Experiments, by lifecycle stage.", "lifecycle_stage"),
    "ledgerflow_registered_models": ("Registered models.", None),
    "ledgerflow_model_versions": ("Model versions, by stage.", "stage"),
    "ledgerflow_model_aliases": ("Model aliases set.", None),
    "ledgerflow_promotion_requests": ("Promotion requests, by status.", "status"),
    "ledgerflow_promotion_requests_pending": ("Promotion requests awaiting approval or execution.", None),
    "ledgerflow_policy_evaluations": ("Policy gate evaluations, by decision.", "decision"),
    "ledgerflow_gates_failed": ("Policy gate evaluations that failed.", None),
    "ledgerflow_drift_alerts": ("Drift monitoring windows that raised an alert.", None),
    "ledgerflow_secret_findings": ("Secrets found on write, by what the policy did.", "action"),
}
Snapshot = dict[str, dict[str, float]]


@dataclass
class _Cached:
    at: float
    snapshot: Snapshot


def query_snapshot(db: Database) -> Snapshot:
    """One query set: every gauge's current value."""
    snapshot: Snapshot = {}
    with db.read() as conn:

        def grouped(table: sa.Table, column: str, *where: Any) -> dict[str, float]:
            col = table.c[column]
            rows = conn.execute(sa.select(col, sa.func.count()).where(*where).group_by(col)).all()
            return {str(value): float(count) for value, count in rows}

        def total(table: sa.Table, *where: Any) -> float:
            return float(
                conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar() or 0
            )

        runs = grouped(schema.runs, "status", schema.runs.c.lifecycle_stage == "active")
        snapshot["ledgerflow_runs"] = {status: runs.get(status, 0.0) for status in RUN_STATUSES}
        experiments = grouped(schema.experiments, "lifecycle_stage")
        snapshot["ledgerflow_experiments"] = {
            stage: experiments.get(stage, 0.0) for stage in ("active", "deleted")
        }
        snapshot["ledgerflow_registered_models"] = {"": total(schema.registered_models)}
        versions = grouped(schema.model_versions, "current_stage")
        snapshot["ledgerflow_model_versions"] = {stage: versions.get(stage, 0.0) for stage in STAGES}
        snapshot["ledgerflow_model_aliases"] = {"": total(schema.registered_model_aliases)}

        by_status = grouped(promotion_requests, "status")
        snapshot["ledgerflow_promotion_requests"] = by_status
        snapshot["ledgerflow_promotion_requests_pending"] = {
            "": by_status.get("REQUESTED", 0.0) + by_status.get("APPROVED", 0.0)
        }
        decisions = grouped(policy_evaluations, "decision")
        snapshot["ledgerflow_policy_evaluations"] = decisions
        snapshot["ledgerflow_gates_failed"] = {"": decisions.get("fail", 0.0)}
        alerts = total(governance_drift_windows, governance_drift_windows.c.alert.is_(True))
        snapshot["ledgerflow_drift_alerts"] = {"": alerts}
        actions = grouped(secret_findings, "action")
        snapshot["ledgerflow_secret_findings"] = {
            action: actions.get(action, 0.0) for action in ("blocked", "redacted", "warned")
        }
    return snapshot


class BusinessCollector(Collector):
    """A custom collector: registered on each scrape's registry, it yields cached gauges."""

    def __init__(
        self,
        db: Database,
        cache_seconds: float,
        shared_dir: str | None = None,
        clock: Callable[[], float] = time.time,
        query: Callable[[Database], Snapshot] = query_snapshot,
        on_refresh: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self.shared_dir = shared_dir
        self.clock = clock
        self.query = query
        self.on_refresh = on_refresh
        self._cached: _Cached | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot()
        for name, (help_text, label) in GAUGES.items():
            values = snapshot.get(name, {})
            family = GaugeMetricFamily(name, help_text, labels=[label] if label else None)
            if label:
                for value, count in sorted(values.items()):
                    family.add_metric([value], count)
            else:
                family.add_metric([], values.get("", 0.0))
            yield family

    def describe(self) -> Iterator[Metric]:
        # Describing must not query: registering the collector would otherwise hit the DB.
        return iter(())

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = self.clock()
            if self._cached is not None and now - self._cached.at < self.cache_seconds:
                return self._cached.snapshot
            self._cached = self._shared(now) if self.shared_dir else self._refresh(now)
            return self._cached.snapshot

    def _refresh(self, now: float) -> _Cached:
        fresh = _Cached(now, self.query(self.db))
        self.on_refresh()
        return fresh

    def _shared(self, now: float) -> _Cached:
        """The workers' common cache: read it if fresh, else refresh it under the lock."""
        assert self.shared_dir is not None
        path = os.path.join(self.shared_dir, CACHE_FILE)
        with _locked(path + ".lock"):
            cached = _read(path)
            if cached is not None and now - cached.at < self.cache_seconds:
                return cached
            fresh = self._refresh(now)
            temporary = f"{path}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump({"at": fresh.at, "snapshot": fresh.snapshot}, handle)
            os.replace(temporary, path)
            return fresh


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: str) -> _Cached | None:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        return _Cached(float(raw["at"]), {str(k): dict(v) for k, v in raw["snapshot"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
