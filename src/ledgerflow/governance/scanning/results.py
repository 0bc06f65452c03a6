"""SQL for stored scan results (one row per model version) and their public shape."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.governance.scanning.report import CLEAN, ScanReport
from ledgerflow.store.database import Database
from ledgerflow.store.governance.scanning_schema import model_version_scans
from ledgerflow.store.schema import registered_models

OVERRIDDEN = "overridden"
_t = model_version_scans.c


def manifest_digest(digests: dict[str, str]) -> str:
    """One SHA-256 over the sorted ``path NUL sha256`` lines of the files scanned."""
    lines = "".join(f"{path}\0{sha}\n" for path, sha in sorted(digests.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def load(conn: Connection, model_id: int, version: int) -> Any:
    query = sa.select(model_version_scans).where(_t.registered_model_id == model_id, _t.version == version)
    return conn.execute(query).first()


def model_name(db: Database, model_id: int) -> str | None:
    with db.read() as conn:
        row = conn.execute(
            sa.select(registered_models.c.name).where(registered_models.c.registered_model_id == model_id)
        ).first()
    return None if row is None else str(row.name)


def save(
    conn: Connection,
    model_id: int,
    version: int,
    report: ScanReport,
    trigger: str,
    now: int,
    *,
    started: int | None = None,
) -> None:
    """Store a version's result; a change marked after the scan ``started`` stays marked."""
    changed: Any = None
    if started is not None:
        changed = sa.case((_t.changed_at > started, _t.changed_at), else_=sa.null())
    values = {
        "status": report.status,
        "scanner_version": report.scanner_version,
        "allowlist_version": report.allowlist_version,
        "manifest_digest": manifest_digest(report.digests()) if report.files else None,
        "scanned_at": now,
        "trigger": trigger,
        "report": json.dumps(report.to_json(), sort_keys=True),
        "changed_at": changed,
    }
    key = (_t.registered_model_id == model_id) & (_t.version == version)
    updated = conn.execute(model_version_scans.update().where(key).values(**values))
    if updated.rowcount == 0:
        values["changed_at"] = None
        conn.execute(
            model_version_scans.insert().values(registered_model_id=model_id, version=version, **values)
        )


def set_override(
    conn: Connection,
    model_id: int,
    version: int,
    *,
    reason: str,
    by: str,
    at: int,
    expires_at: int,
    digest: str | None,
) -> None:
    conn.execute(
        model_version_scans.update()
        .where(_t.registered_model_id == model_id, _t.version == version)
        .values(
            override_reason=reason,
            override_by=by,
            override_at=at,
            override_expires_at=expires_at,
            override_digest=digest,
        )
    )


def override_of(row: Any, now: int) -> dict[str, Any] | None:
    if row is None or row.override_reason is None:
        return None
    active = (
        row.override_expires_at is not None
        and row.override_expires_at > now
        and row.override_digest == row.manifest_digest
    )
    return {
        "reason": row.override_reason,
        "by": row.override_by,
        "at": row.override_at,
        "expires_at": row.override_expires_at,
        "active": active,
    }


def to_public(row: Any, name: str, version: int, now: int, *, stale: bool) -> dict[str, Any]:
    report = json.loads(row.report)
    override = override_of(row, now)
    effective = row.status
    if row.status != CLEAN and override is not None and override["active"]:
        effective = OVERRIDDEN
    return {
        "name": name,
        "version": str(version),
        "status": row.status,
        "effective_status": effective,
        "stale": stale,
        "scanner_version": row.scanner_version,
        "allowlist_version": row.allowlist_version,
        "manifest_digest": row.manifest_digest,
        "scanned_at": row.scanned_at,
        "trigger": row.trigger,
        "files": report.get("files", []),
        "findings": report.get("findings", []),
        "errors": report.get("errors", []),
        "second_opinion": report.get("second_opinion"),
        "override": override,
    }
