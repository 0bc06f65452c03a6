"""Stored evaluations of model versions (server side), and the ``evaluation`` fact source.

A client computes an evaluation (``ledgerflow.evaluate``) and posts it; this service checks
it, stores the record and, in the same transaction, logs its numbers as metrics on a new
finished *evaluation run* in the experiment of the version's source run (the default
experiment when it has none), so they show in tracking like any run's metrics:
``<metric>``, ``fairness.<name>``, ``robustness.<name>``.

The policy gates trust these numbers, so who may post them is narrow: with authentication on,
the route needs the ``evaluate`` permission (the ``evaluator`` role, which only an
administrator grants; a model's own managers and editors do not hold it) or an admin. Every
record names the principal that posted it (``recorded_by``: user, how it authenticated, the
token id) and the SHA-256 digest of the dataset, both carried into the ``evaluation`` fact so
each policy evaluation's inputs say whose numbers on which data it judged.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import sqlalchemy as sa

from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.governance.facts import Facts
from ledgerflow.governance.tracking_runs import (
    create_run,
    current_user,
    experiment_for,
    log_metrics,
    name_audit_resource,
    require_version_ref,
)
from ledgerflow.security.auth.identity import current_identity
from ledgerflow.store.database import Database
from ledgerflow.store.governance.monitoring_schema import governance_evaluations as table
from ledgerflow.tracking.clock import now_ms
from ledgerflow.tracking.experiments import ExperimentService

NAMESPACE = "evaluation"
TASKS = ("classification", "regression")
SECTIONS = ("metrics", "fairness", "robustness")
MAX_REPORT_BYTES = 4 * 1024 * 1024
MAX_NUMBERS = 900  # one log-batch worth of metrics, less room for the tags
LIST_MAX_RESULTS = 100
EVALUATION_RUN_TAG = "ledgerflow.evaluation.model_version"


def _numbers(value: Any, section: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"Invalid value for parameter '{section}': expected an object of numbers.")
    out: dict[str, float] = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise InvalidParameter(f"Invalid value for '{section}.{key}': expected a finite number.")
        out[str(key)] = float(item)
    return out


def _status(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidParameter(
            "Invalid value for parameter 'fairness_status': expected an object of strings."
        )
    return {str(k): str(v) for k, v in value.items()}


def _digest(value: Any) -> str:
    if value is None or value == "":
        raise InvalidParameter(
            "Missing value for required parameter 'dataset_digest': an evaluation names the SHA-256 "
            "digest of the data it was computed on."
        )
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidParameter("Invalid value for parameter 'dataset_digest': expected a SHA-256 hex digest.")
    return value


def _recorded_by() -> dict[str, Any]:
    """Who is posting: the authenticated principal (as the route guard let it through), else
    the local actor of a server without authentication."""
    identity = current_identity()
    if identity is None:
        return {"principal": current_user(), "via": "unauthenticated"}
    found: dict[str, Any] = {"principal": identity.username, "via": identity.via}
    if identity.kind != "user":
        found["kind"] = identity.kind
    if identity.token_id:
        found["token_id"] = identity.token_id
    if identity.is_admin:
        found["admin"] = True
    return found


def _render(row: Any, *, with_report: bool) -> dict[str, Any]:
    summary = json.loads(row.summary)
    out: dict[str, Any] = {
        "evaluation_id": row.evaluation_id,
        "version": str(row.version),
        "creation_timestamp": row.creation_time,
        "user_id": row.user_id,
        "task": row.task,
        "dataset_name": row.dataset_name,
        "dataset_digest": row.dataset_digest,
        "row_count": row.row_count,
        "run_id": row.run_id,
        **summary,
    }
    if with_report:
        out["report"] = json.loads(row.report)
    return out


class EvaluationService:
    """Records evaluations; as a :class:`FactSource` answers the latest one per version."""

    namespace = NAMESPACE

    def __init__(self, db: Database, experiments: ExperimentService) -> None:
        self.db = db
        self.experiments = experiments
        # Set when the server authenticates callers (governance/approvals/install.py): then
        # only results an authenticated principal recorded (an evaluator or an admin, as the
        # route allows) are facts. Older records, and ones made while authentication was off,
        # stay listed but no gate counts them.
        self.authenticated_only = False

    def _counts(self, row: Any) -> bool:
        if not self.authenticated_only:
            return True
        recorded_by = json.loads(row.summary).get("recorded_by") or {}
        return recorded_by.get("via") not in (None, "unauthenticated", "local")

    def record(
        self,
        name: str,
        version: str,
        *,
        task: Any,
        dataset_name: str | None,
        dataset_digest: Any,
        row_count: Any,
        sections: dict[str, Any],
        fairness_status: Any,
        report: Any,
    ) -> dict[str, Any]:
        if task not in TASKS:
            raise InvalidParameter(f"Invalid value for parameter 'task': use one of {list(TASKS)}.")
        if isinstance(row_count, bool) or not isinstance(row_count, int) or row_count < 1:
            raise InvalidParameter("Invalid value for parameter 'row_count': expected a positive integer.")
        numbers = {section: _numbers(sections.get(section), section) for section in SECTIONS}
        if not numbers["metrics"]:
            raise InvalidParameter("An evaluation needs at least one metric.")
        if sum(len(v) for v in numbers.values()) > MAX_NUMBERS:
            raise InvalidParameter(f"An evaluation may carry at most {MAX_NUMBERS} numbers.")
        recorded_by = _recorded_by()
        summary = {**numbers, "fairness_status": _status(fairness_status), "recorded_by": recorded_by}
        report_text = json.dumps(report if report is not None else {}, allow_nan=False, default=str)
        if len(report_text) > MAX_REPORT_BYTES:
            raise InvalidParameter(f"The evaluation report exceeds {MAX_REPORT_BYTES} bytes.")
        digest = _digest(dataset_digest)
        evaluation_id = uuid.uuid4().hex
        name_audit_resource(name, version)
        user = str(recorded_by["principal"])

        def write(conn: Any) -> dict[str, Any]:
            ref = require_version_ref(conn, name, version)
            now = now_ms()
            experiment_id = experiment_for(conn, ref)
            tags = {
                EVALUATION_RUN_TAG: ref.label,
                "ledgerflow.evaluation.id": evaluation_id,
                "ledgerflow.evaluation.dataset_digest": digest,
            }
            run_id = create_run(
                conn,
                self.experiments,
                experiment_id,
                f"evaluation-{ref.name}-v{ref.version}",
                tags,
                user=user,
                now=now,
                finished=True,
            )
            flat = dict(numbers["metrics"])
            flat.update({f"fairness.{k}": v for k, v in numbers["fairness"].items()})
            flat.update({f"robustness.{k}": v for k, v in numbers["robustness"].items()})
            log_metrics(conn, run_id, experiment_id, flat, timestamp=now, step=0)
            conn.execute(
                table.insert().values(
                    evaluation_id=evaluation_id,
                    registered_model_id=ref.registered_model_id,
                    version=ref.version,
                    creation_time=now,
                    user_id=user,
                    task=task,
                    dataset_name=(dataset_name or None) and dataset_name[:500],
                    dataset_digest=digest,
                    row_count=row_count,
                    run_id=run_id,
                    summary=json.dumps(summary),
                    report=report_text,
                )
            )
            row = conn.execute(sa.select(table).where(table.c.evaluation_id == evaluation_id)).one()
            return {"name": ref.name, **_render(row, with_report=False)}

        result: dict[str, Any] = self.db.run_write(write)
        return result

    def _rows(self, conn: Any, name: str, version: str, limit: int) -> tuple[Any, list[Any]]:
        ref = require_version_ref(conn, name, version)
        query = (
            sa.select(table)
            .where(table.c.registered_model_id == ref.registered_model_id, table.c.version == ref.version)
            .order_by(table.c.creation_time.desc(), table.c.evaluation_id.desc())
            .limit(limit)
        )
        return ref, list(conn.execute(query))

    def list(
        self, name: str, version: str, max_results: int | None, with_report: bool
    ) -> list[dict[str, Any]]:
        limit = max_results or LIST_MAX_RESULTS
        if not 1 <= limit <= LIST_MAX_RESULTS:
            raise InvalidParameter(f"max_results must be between 1 and {LIST_MAX_RESULTS}, got {limit}.")
        with self.db.read() as conn:
            ref, rows = self._rows(conn, name, version, limit)
        return [{"name": ref.name, **_render(row, with_report=with_report)} for row in rows]

    def facts_for(self, name: str, version: int) -> Facts:
        """The latest evaluation: ``{"metrics", "fairness", "robustness", "dataset_digest",
        "recorded_by", "evaluated_at"}`` plus ``fairness_status``; ``{}`` when there is none."""
        with self.db.read() as conn:
            try:
                _, rows = self._rows(conn, name, str(version), LIST_MAX_RESULTS)
            except (ResourceDoesNotExist, InvalidParameter):
                return {}
        # The newest one that counts (fails closed: none among the newest, no facts).
        row = next((r for r in rows if self._counts(r)), None)
        if row is None:
            return {}
        summary = json.loads(row.summary)
        return {
            "metrics": summary.get("metrics", {}),
            "fairness": summary.get("fairness", {}),
            "robustness": summary.get("robustness", {}),
            "fairness_status": summary.get("fairness_status", {}),
            "dataset_digest": row.dataset_digest,
            # Records from before principals were kept name only their user.
            "recorded_by": summary.get("recorded_by") or {"principal": row.user_id},
            "evaluated_at": row.creation_time,
            "evaluation_id": row.evaluation_id,
        }
