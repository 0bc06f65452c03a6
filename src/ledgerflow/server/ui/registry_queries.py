"""Read-only registry lookups only the UI needs, which no REST endpoint offers: one model's
versions a page at a time (newest first), a version's storage details that the wire shape
leaves out, and a model's whole alias history."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import model_versions, registered_model_alias_history

# An alias moved on every deploy for years is still a readable list at this length.
MAX_HISTORY_ROWS = 1000


@dataclass(frozen=True)
class AliasSpan:
    alias: str
    version: int
    set_at: int
    unset_at: int | None


@dataclass(frozen=True)
class VersionStorage:
    storage_location: str
    model_id: str | None


def version_numbers(conn: Connection, model_id: int, below: int | None, limit: int) -> list[int]:
    """Up to ``limit`` version numbers of the model, highest first, all below ``below``."""
    query = sa.select(model_versions.c.version).where(model_versions.c.registered_model_id == model_id)
    if below is not None:
        query = query.where(model_versions.c.version < below)
    query = query.order_by(model_versions.c.version.desc()).limit(limit)
    return [int(row[0]) for row in conn.execute(query)]


def version_storage(conn: Connection, model_id: int, version: int) -> VersionStorage | None:
    query = sa.select(model_versions.c.storage_location, model_versions.c.model_id).where(
        model_versions.c.registered_model_id == model_id, model_versions.c.version == version
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return VersionStorage(str(row.storage_location), str(row.model_id) if row.model_id else None)


def alias_history(conn: Connection, model_id: int) -> tuple[list[AliasSpan], bool]:
    """Every recorded alias assignment of the model (by id, so renames do not split it),
    newest first per alias; the flag says the list was cut at :data:`MAX_HISTORY_ROWS`."""
    history = registered_model_alias_history
    query = (
        sa.select(history.c.alias, history.c.version, history.c.set_at, history.c.unset_at)
        .where(history.c.registered_model_id == model_id)
        .order_by(history.c.alias, history.c.set_at.desc(), history.c.id.desc())
        .limit(MAX_HISTORY_ROWS + 1)
    )
    rows = list(conn.execute(query))
    spans = [
        AliasSpan(
            str(r.alias), int(r.version), int(r.set_at), None if r.unset_at is None else int(r.unset_at)
        )
        for r in rows[:MAX_HISTORY_ROWS]
    ]
    return spans, len(rows) > MAX_HISTORY_ROWS
