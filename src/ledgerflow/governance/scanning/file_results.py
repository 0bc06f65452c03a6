"""SQL for per-file scan results (``artifact_scans``) and their public shape.

A row says what the scan found in exactly the bytes whose SHA-256 it records; it is keyed
like ``artifact_digests`` (SHA-256 of the location), so the download gate reads both in one
query. An override is bound to the file digest it was granted on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.artifacts.digests import location_hash
from ledgerflow.governance.scanning.probe import DATA, MODEL
from ledgerflow.governance.scanning.report import CLEAN, FINDINGS, UNSCANNABLE, ScanReport
from ledgerflow.store.governance.scanning_schema import artifact_scans
from ledgerflow.store.schema import artifact_digests

UNSCANNED = "unscanned"
OVERRIDDEN = "overridden"
# Worst first: the aggregate of several files is the worst of theirs.
_SEVERITY = {UNSCANNABLE: 3, UNSCANNED: 3, FINDINGS: 2, OVERRIDDEN: 1, CLEAN: 0}
_t = artifact_scans.c
_IN_BATCH = 500


@dataclass
class FileScan:
    """What one scan of one file's bytes found."""

    sha256: str
    size: int
    kind: str
    status: str
    scanner_version: str
    allowlist_version: str
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_data(cls, sha256: str, size: int, scanner_version: str, allowlist_version: str) -> FileScan:
        return cls(sha256, size, DATA, CLEAN, scanner_version, allowlist_version, {"formats": ["data"]})

    @classmethod
    def of_report(cls, report: ScanReport) -> FileScan:
        item = report.files[0]
        body = {
            "formats": item.formats,
            "imports": item.imports,
            "findings": [f.to_json() for f in report.findings],
            "errors": [f.to_json() for f in report.errors],
            "seconds": round(report.seconds, 3),
        }
        return cls(
            item.sha256,
            item.size,
            MODEL,
            report.status,
            report.scanner_version,
            report.allowlist_version,
            body,
        )


def save(conn: Connection, location: str, scan: FileScan, trigger: str, now: int) -> None:
    """Store (or replace) the result for the file at ``location``; an override stays, bound
    to the digest it was granted on."""
    key = location_hash(location)
    values = {
        "location": location,
        "sha256": scan.sha256,
        "size": scan.size,
        "kind": scan.kind,
        "status": scan.status,
        "scanner_version": scan.scanner_version,
        "allowlist_version": scan.allowlist_version,
        "scanned_at": now,
        "trigger": trigger,
        "report": json.dumps(scan.report, sort_keys=True),
    }
    updated = conn.execute(artifact_scans.update().where(_t.location_hash == key).values(**values))
    if updated.rowcount == 0:
        conn.execute(artifact_scans.insert().values(location_hash=key, **values))


def refresh(
    conn: Connection, location: str, scanner_version: str, allowlist_version: str, trigger: str, now: int
) -> None:
    """Mark a data file's result as made by this scanner (its verdict unchanged)."""
    conn.execute(
        artifact_scans.update()
        .where(_t.location_hash == location_hash(location))
        .values(
            scanner_version=scanner_version,
            allowlist_version=allowlist_version,
            scanned_at=now,
            trigger=trigger,
        )
    )


def served(conn: Connection, location: str) -> tuple[Any, Any]:
    """(scan row, digest row) of one file, either None: two primary-key reads."""
    key = location_hash(location)
    scan = conn.execute(sa.select(artifact_scans).where(_t.location_hash == key)).first()
    digest = artifact_digests.c
    recorded = conn.execute(
        sa.select(digest.size, digest.sha256, digest.created_time).where(digest.location_hash == key)
    ).first()
    return scan, recorded


def load_many(conn: Connection, locations: Iterable[str]) -> dict[str, Any]:
    """Rows by location (locations without one are absent)."""
    by_hash = {location_hash(location): location for location in locations}
    found: dict[str, Any] = {}
    keys = list(by_hash)
    for start in range(0, len(keys), _IN_BATCH):
        query = sa.select(artifact_scans).where(_t.location_hash.in_(keys[start : start + _IN_BATCH]))
        for row in conn.execute(query):
            found[by_hash[row.location_hash]] = row
    return found


def forget_tree(conn: Connection, location: str) -> None:
    conn.execute(
        sa.delete(artifact_scans).where(
            sa.or_(
                _t.location_hash == location_hash(location),
                _t.location.startswith(location.rstrip("/") + "/", autoescape=True),
            )
        )
    )


def forget(conn: Connection, location: str) -> None:
    conn.execute(sa.delete(artifact_scans).where(_t.location_hash == location_hash(location)))


def set_override(
    conn: Connection, rows: Sequence[Any], *, reason: str, by: str, at: int, expires_at: int
) -> None:
    for row in rows:
        conn.execute(
            artifact_scans.update()
            .where(_t.location_hash == row.location_hash, _t.sha256 == row.sha256)
            .values(
                override_reason=reason,
                override_by=by,
                override_at=at,
                override_expires_at=expires_at,
                override_sha256=row.sha256,
            )
        )


def stale_condition(scanner_version: str, allowlist_version: str) -> Any:
    """Rows made by another scanner (any kind) or allow-list (model files), or never scanned."""
    return sa.or_(
        _t.status == UNSCANNED,
        _t.scanner_version != scanner_version,
        sa.and_(_t.kind == MODEL, _t.allowlist_version != allowlist_version),
    )


def stale_rows(conn: Connection, scanner_version: str, allowlist_version: str, limit: int) -> list[Any]:
    query = (
        sa.select(_t.location_hash, _t.location)
        .where(stale_condition(scanner_version, allowlist_version))
        .order_by(_t.location_hash)
        .limit(limit)
    )
    return list(conn.execute(query))


def override_active(row: Any, now: int) -> bool:
    return bool(
        row.override_reason is not None
        and row.override_sha256 == row.sha256
        and row.override_expires_at is not None
        and row.override_expires_at > now
    )


def effective(row: Any, now: int) -> str:
    status = str(row.status)
    if status != CLEAN and override_active(row, now):
        return OVERRIDDEN
    return status


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda status: _SEVERITY.get(status, 3), default=CLEAN)


def _placed(items: list[dict[str, Any]], name: str, path: str) -> list[dict[str, Any]]:
    """Finding paths were recorded under the file's base name; show them under ``path``."""
    placed = []
    for item in items:
        recorded = str(item.get("path") or name)
        placed.append({**item, "path": path + recorded[len(name) :] if recorded.startswith(name) else path})
    return placed


def to_public(row: Any, path: str, now: int, *, stale: bool) -> dict[str, Any]:
    report = json.loads(row.report)
    name = path.rpartition("/")[2]
    override = None
    if row.override_reason is not None:
        override = {
            "reason": row.override_reason,
            "by": row.override_by,
            "at": row.override_at,
            "expires_at": row.override_expires_at,
            "active": override_active(row, now),
        }
    return {
        "path": path,
        "sha256": row.sha256,
        "size": int(row.size),
        "kind": row.kind,
        "status": row.status,
        "effective_status": effective(row, now),
        "stale": stale,
        "scanner_version": row.scanner_version,
        "allowlist_version": row.allowlist_version,
        "scanned_at": row.scanned_at,
        "trigger": row.trigger,
        "formats": report.get("formats", []),
        "imports": report.get("imports", []),
        "findings": _placed(report.get("findings", []), name, path),
        "errors": _placed(report.get("errors", []), name, path),
        "override": override,
    }


def why(files: Iterable[dict[str, Any]], limit: int = 3) -> str:
    """A short account of what blocks: the first findings or errors, never file content."""
    items = [item for entry in files for key in ("errors", "findings") for item in entry.get(key) or []]
    if not items:
        return "no scan result"
    shown = "; ".join(f"{item.get('path')}: {item.get('message')}" for item in items[:limit])
    more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
    return shown + more
