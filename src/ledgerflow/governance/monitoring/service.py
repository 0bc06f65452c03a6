"""Drift monitoring of model versions (server side).

* :meth:`MonitoringService.set_reference` stores a version's reference profile and settings
  and opens its *monitoring run* (in the experiment of the version's source run).
* :meth:`MonitoringService.log_batch` compares a production batch with the profile, stores the
  window, logs every score on the monitoring run as metric history (``step`` = window index,
  ``timestamp`` = the window's time) and applies the alert rule. When the rule fires, the
  version is tagged ``monitoring.status=degraded`` and, after commit, a ``drift.alert``
  registry event goes to the webhooks subscribed to it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.governance.tracking_runs import (
    VersionRef,
    create_run,
    current_user,
    experiment_for,
    log_metrics,
    name_audit_resource,
    require_version_ref,
)
from ledgerflow.registry.events import EventHook
from ledgerflow.store import registry_versions as version_store
from ledgerflow.store.database import Database
from ledgerflow.store.governance.monitoring_schema import governance_drift_windows as windows
from ledgerflow.store.governance.monitoring_schema import governance_reference_profiles as profiles
from ledgerflow.tracking.clock import now_ms
from ledgerflow.tracking.experiments import ExperimentService

if TYPE_CHECKING:
    import pandas as pd

# The statistics (numpy, pandas, scipy: ~1 s and ~140 MiB) are imported by the calls that
# use them, not with the service: every server builds one at start-up, few ever monitor drift.

STATUS_TAG = "monitoring.status"
DEGRADED = "degraded"
MONITORING_RUN_TAG = "ledgerflow.monitoring.model_version"
SOURCES = ("client", "scoring-server")
MAX_BATCH_ROWS = 50_000
LIST_MAX_RESULTS = 1000


def batch_frame(columns: Any) -> pd.DataFrame:
    """The batch sent as ``{"column": [values...]}``, all columns of one length."""
    if not isinstance(columns, dict) or not columns:
        raise InvalidParameter("Missing value for required parameter 'columns' (an object of value lists).")
    lengths = set()
    for key, values in columns.items():
        if not isinstance(values, list):
            raise InvalidParameter(f"Invalid value for 'columns.{key}': expected a list of values.")
        if any(isinstance(v, dict | list) for v in values):
            raise InvalidParameter(f"Invalid value for 'columns.{key}': values must be numbers or strings.")
        lengths.add(len(values))
    if len(lengths) != 1:
        raise InvalidParameter("All columns of a batch must have the same number of values.")
    rows = lengths.pop()
    if rows == 0:
        raise InvalidParameter("The batch has no rows.")
    if rows > MAX_BATCH_ROWS:
        raise InvalidParameter(f"A batch may hold at most {MAX_BATCH_ROWS} rows; send a sample or split it.")
    import pandas as pd

    return pd.DataFrame(columns)


class MonitoringService:
    def __init__(self, db: Database, experiments: ExperimentService, events: EventHook) -> None:
        self.db = db
        self.experiments = experiments
        self.events = events

    # -- reference profiles -------------------------------------------------------------------

    def set_reference(
        self,
        name: str,
        version: str,
        profile: Any,
        *,
        source: str | None,
        dataset_digest: str | None,
        settings: Any,
    ) -> dict[str, Any]:
        from ledgerflow.governance.monitoring.drift import parse_settings
        from ledgerflow.governance.monitoring.profile import check_profile

        checked = check_profile(profile)
        parsed = parse_settings(settings)
        source = source or "evaluation"
        if len(source) > 32:
            raise InvalidParameter("Invalid value for parameter 'source': at most 32 characters.")
        if dataset_digest is not None and len(dataset_digest) > 64:
            raise InvalidParameter("Invalid value for parameter 'dataset_digest': at most 64 characters.")
        name_audit_resource(name, version)
        user = current_user()

        def write(conn: Any) -> dict[str, Any]:
            ref = require_version_ref(conn, name, version)
            now = now_ms()
            key = self._key(ref)
            existing = conn.execute(sa.select(profiles.c.monitoring_run_id).where(*key)).first()
            values = {
                "creation_time": now,
                "user_id": user,
                "source": source,
                "dataset_digest": dataset_digest,
                "profile": json.dumps(checked),
                "settings": json.dumps(parsed.to_json()),
            }
            if existing is None:
                experiment_id = experiment_for(conn, ref)
                run_id = create_run(
                    conn,
                    self.experiments,
                    experiment_id,
                    f"monitoring-{ref.name}-v{ref.version}",
                    {MONITORING_RUN_TAG: ref.label},
                    user=user,
                    now=now,
                    finished=False,
                )
                conn.execute(
                    profiles.insert().values(
                        registered_model_id=ref.registered_model_id,
                        version=ref.version,
                        monitoring_run_id=run_id,
                        next_window=0,
                        drifted_streak=0,
                        **values,
                    )
                )
            else:
                # A new reference restarts the alert streak; window numbering continues.
                conn.execute(profiles.update().where(*key).values(drifted_streak=0, **values))
            return self._reference(conn, ref, with_profile=False)

        result: dict[str, Any] = self.db.run_write(write)
        return result

    @staticmethod
    def _key(ref: VersionRef) -> tuple[Any, ...]:
        return (profiles.c.registered_model_id == ref.registered_model_id, profiles.c.version == ref.version)

    def _profile_row(self, conn: Any, ref: VersionRef, *, lock: bool = False) -> Any:
        query = sa.select(profiles).where(*self._key(ref))
        # Locked while a window is numbered, so two batches never take the same number.
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise ResourceDoesNotExist(
                f"Model version {ref.name} {ref.version} has no reference profile; set one first "
                "(ledgerflow monitor set-reference)."
            )
        return row

    def _reference(self, conn: Any, ref: VersionRef, *, with_profile: bool) -> dict[str, Any]:
        row = self._profile_row(conn, ref)
        profile = json.loads(row.profile)
        out: dict[str, Any] = {
            "name": ref.name,
            "version": str(ref.version),
            "creation_timestamp": row.creation_time,
            "user_id": row.user_id,
            "source": row.source,
            "dataset_digest": row.dataset_digest,
            "row_count": profile["row_count"],
            "features": {k: v["kind"] for k, v in profile["features"].items()},
            "settings": json.loads(row.settings),
            "monitoring_run_id": row.monitoring_run_id,
            "next_window": row.next_window,
        }
        if with_profile:
            out["profile"] = profile
        return out

    def get_reference(self, name: str, version: str, *, with_profile: bool) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._reference(conn, require_version_ref(conn, name, version), with_profile=with_profile)

    # -- batches ------------------------------------------------------------------------------

    def log_batch(
        self,
        name: str,
        version: str,
        columns: Any,
        *,
        window_time: int | None,
        row_count: int | None,
        source: str | None,
    ) -> dict[str, Any]:
        from ledgerflow.governance.monitoring.drift import compare, parse_settings

        batch = batch_frame(columns)
        source = source or "client"
        if source not in SOURCES:
            raise InvalidParameter(f"Invalid value for parameter 'source': use one of {list(SOURCES)}.")
        if row_count is not None and row_count < batch.shape[0]:
            raise InvalidParameter("row_count cannot be smaller than the number of rows sent.")
        with self.db.read() as conn:
            ref = require_version_ref(conn, name, version)
            row = self._profile_row(conn, ref)
        settings = parse_settings(json.loads(row.settings))
        # Computed outside the write transaction (it is the slow part); the profile is read
        # again under the write lock and the batch is refused if it changed meanwhile.
        report = compare(json.loads(row.profile), batch, settings.thresholds)
        profile_time = row.creation_time
        name_audit_resource(name, version)
        alert_data: dict[str, Any] = {}

        def write(conn: Any) -> dict[str, Any]:
            ref = require_version_ref(conn, name, version)
            current = self._profile_row(conn, ref, lock=True)
            if current.creation_time != profile_time:
                raise InvalidParameter(
                    "The reference profile changed while the batch was compared; send it again."
                )
            now = now_ms()
            window = int(current.next_window)
            when = window_time if window_time is not None else now
            drifted = report.share_drifted >= settings.alert.share_drifted and report.share_drifted > 0
            streak = current.drifted_streak + 1 if drifted else 0
            alert = drifted and streak >= settings.alert.consecutive_windows
            results = report.to_json()
            conn.execute(
                windows.insert().values(
                    registered_model_id=ref.registered_model_id,
                    version=ref.version,
                    window_index=window,
                    window_time=when,
                    creation_time=now,
                    source=source,
                    row_count=row_count if row_count is not None else report.row_count,
                    drifted_features=len(report.drifted_features),
                    share_drifted=report.share_drifted,
                    alert=alert,
                    results=json.dumps(results),
                )
            )
            conn.execute(
                profiles.update().where(*self._key(ref)).values(next_window=window + 1, drifted_streak=streak)
            )
            experiment_id = self._run_experiment(conn, current.monitoring_run_id)
            metrics = report.metrics()
            metrics["drift.alert"] = float(alert)
            log_metrics(conn, current.monitoring_run_id, experiment_id, metrics, timestamp=when, step=window)
            if alert:
                version_store.set_tag(conn, ref.registered_model_id, ref.version, STATUS_TAG, DEGRADED)
                alert_data.update(
                    name=ref.name,
                    version=str(ref.version),
                    window=window,
                    window_time=when,
                    share_drifted=report.share_drifted,
                    drifted_features=report.drifted_features,
                    consecutive_windows=streak,
                    monitoring_run_id=current.monitoring_run_id,
                )
            return {
                "name": ref.name,
                "version": str(ref.version),
                "window": window,
                "window_time": when,
                "alert": alert,
                "monitoring_run_id": current.monitoring_run_id,
                **results,
            }

        result: dict[str, Any] = self.db.run_write(write)
        if alert_data:
            self.events.emit("drift", "alert", alert_data)
        return result

    @staticmethod
    def _run_experiment(conn: Any, run_id: str) -> int:
        from ledgerflow.store import runs as run_store

        row = run_store.find_row(conn, run_id)
        if row is None:
            raise ResourceDoesNotExist(
                f"The monitoring run {run_id} no longer exists; set the reference again."
            )
        return int(row.experiment_id)

    def list_windows(self, name: str, version: str, max_results: int | None) -> dict[str, Any]:
        limit = max_results or LIST_MAX_RESULTS
        if not 1 <= limit <= LIST_MAX_RESULTS:
            raise InvalidParameter(f"max_results must be between 1 and {LIST_MAX_RESULTS}, got {limit}.")
        with self.db.read() as conn:
            ref = require_version_ref(conn, name, version)
            query = (
                sa.select(windows)
                .where(
                    windows.c.registered_model_id == ref.registered_model_id, windows.c.version == ref.version
                )
                .order_by(windows.c.window_index.desc())
                .limit(limit)
            )
            rows = list(conn.execute(query))
        found = [
            {
                "window": row.window_index,
                "window_time": row.window_time,
                "source": row.source,
                "row_count": row.row_count,
                "drifted_features": row.drifted_features,
                "share_drifted": row.share_drifted,
                "alert": bool(row.alert),
                "results": json.loads(row.results),
            }
            for row in reversed(rows)
        ]
        return {"name": ref.name, "version": str(ref.version), "windows": found}


__all__ = ["MonitoringService"]
