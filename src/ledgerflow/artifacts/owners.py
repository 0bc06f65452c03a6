"""The artifact URIs recorded for runs and logged models.

Read straight from the tracking tables, so artifact routes depend on nothing but the schema.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerflow.errors import ResourceDoesNotExist
from ledgerflow.store.database import Database
from ledgerflow.store.schema import logged_models, runs


def run_artifact_uri(db: Database, run_id: str) -> str:
    with db.read() as conn:
        uri = conn.execute(sa.select(runs.c.artifact_uri).where(runs.c.run_uuid == run_id)).scalar()
    if uri is None:
        raise ResourceDoesNotExist(f"Run with id={run_id} not found")
    return str(uri)


def logged_model_artifact_uri(db: Database, model_id: str) -> str:
    with db.read() as conn:
        uri = conn.execute(
            sa.select(logged_models.c.artifact_location).where(logged_models.c.model_id == model_id)
        ).scalar()
    if uri is None:
        raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")
    return str(uri)
