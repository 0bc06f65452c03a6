"""Which registered versions a write below a storage path touches.

Every version scan records the storage root it covered (the repository location of the
version's files, hashed like artifact digests). A file written or deleted at ``rel`` touches
the versions rooted at one of its ancestors: one indexed lookup over those few hashes per
write, inside the write's own transaction. A deleted directory also touches the versions
rooted below it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.artifacts.digests import location_hash
from ledgerflow.store.governance.scanning_schema import model_version_scan_roots, model_version_scans
from ledgerflow.store.schema import registered_models

if TYPE_CHECKING:
    from ledgerflow.artifacts.repository import ArtifactRepository

VersionKey = tuple[int, int]  # (registered_model_id, version)
_r = model_version_scan_roots.c


def record(conn: Connection, model_id: int, version: int, root_location: str) -> None:
    key = location_hash(root_location)
    exists = conn.execute(
        sa.select(_r.root_hash).where(
            _r.root_hash == key, _r.registered_model_id == model_id, _r.version == version
        )
    ).first()
    if exists is None:
        conn.execute(
            model_version_scan_roots.insert().values(
                root_hash=key, registered_model_id=model_id, version=version, root_location=root_location
            )
        )


def _ancestors(repo: ArtifactRepository, rel: str, *, include_self: bool) -> list[str]:
    parts = rel.split("/") if rel else []
    upto = len(parts) + (1 if include_self else 0)
    return [location_hash(repo.location("/".join(parts[:n]))) for n in range(upto)]


def touched(
    conn: Connection, repo: ArtifactRepository, rel: str, *, directory: bool = False
) -> list[VersionKey]:
    """Versions whose files include ``rel`` (a file), or lie at or below it (``directory``)."""
    condition: sa.ColumnElement[bool] = _r.root_hash.in_(_ancestors(repo, rel, include_self=directory))
    if directory:
        below = repo.location(rel).rstrip("/") + "/"
        condition = sa.or_(condition, _r.root_location.startswith(below, autoescape=True))
    rows = conn.execute(sa.select(_r.registered_model_id, _r.version).where(condition).distinct())
    return sorted({(int(row.registered_model_id), int(row.version)) for row in rows})


def mark_changed(conn: Connection, keys: list[VersionKey], now: int) -> None:
    """Their stored results no longer describe the files: stale until rescanned."""
    table = model_version_scans.c
    for model_id, version in keys:
        conn.execute(
            model_version_scans.update()
            .where(table.registered_model_id == model_id, table.version == version)
            .values(changed_at=now)
        )


def holders(
    conn: Connection, repo: ArtifactRepository, rel: str, *, fold_case: bool = False
) -> list[tuple[str, int]]:
    """(model name, version) of the registered versions whose files a write or delete at
    ``rel`` would change: those rooted at ``rel`` or an ancestor, and those rooted below it.
    ``fold_case``: the store does not tell ``A`` from ``a``, so neither may the comparison
    (no index helps then; the roots table holds one row per version)."""
    location = repo.location(rel)
    below = location.rstrip("/") + "/"
    if fold_case:
        ancestors = [repo.location("/".join(rel.split("/")[:n])).lower() for n in range(rel.count("/") + 2)]
        folded = sa.func.lower(_r.root_location)
        condition = sa.or_(folded.in_(ancestors), folded.startswith(below.lower(), autoescape=True))
    else:
        condition = sa.or_(
            _r.root_hash.in_(_ancestors(repo, rel, include_self=True)),
            _r.root_location.startswith(below, autoescape=True),
        )
    models = registered_models.c
    rows = conn.execute(
        sa.select(models.name, _r.version)
        .join(registered_models, models.registered_model_id == _r.registered_model_id)
        .where(condition)
        .distinct()
    )
    return sorted({(str(row.name), int(row.version)) for row in rows})
