"""The ``secrets`` fact source: what secret scanning found on a model version.

A version's findings are those recorded on the version itself (its tags and description),
on its registered model, on the run it came from (params, tags, name) and that run's
artifacts, and on the logged model it was registered from. Every finding counts, whatever
the policy did with it: a blocked or redacted secret was still in the training code's hands
and should be rotated, which is what a ``no_secrets`` rule wants to know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from ledgerflow.governance.facts import Facts
from ledgerflow.store.governance.alerts_schema import secret_findings
from ledgerflow.store.schema import model_versions, registered_models

if TYPE_CHECKING:
    from ledgerflow.store.database import Database


class SecretFacts:
    namespace = "secrets"

    def __init__(self, db: Database) -> None:
        self.db = db

    def facts_for(self, name: str, version: int) -> Facts:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(model_versions.c.run_id, model_versions.c.model_id)
                .select_from(model_versions.join(registered_models))
                .where(registered_models.c.name == name, model_versions.c.version == version)
            ).first()
            if row is None:
                return {}
            f = secret_findings.c
            where = [
                sa.and_(f.resource_type == "model_version", f.resource_id == f"{name}/{version}"),
                sa.and_(f.resource_type == "registered_model", f.resource_id == name),
            ]
            if row.run_id:
                where.append(sa.and_(f.resource_type == "run", f.resource_id == row.run_id))
                where.append(
                    sa.and_(f.resource_type == "artifact", f.resource_id.like(f"%/{row.run_id}/artifacts/%"))
                )
            if row.model_id:
                where.append(sa.and_(f.resource_type == "logged_model", f.resource_id == row.model_id))
            found = conn.execute(
                sa.select(f.kind, sa.func.count()).where(sa.or_(*where)).group_by(f.kind)
            ).all()
        return {"findings": sum(int(count) for _, count in found), "kinds": sorted(kind for kind, _ in found)}


def list_findings(
    db: Database, resource_type: str | None, resource_id: str | None, max_results: int
) -> list[dict[str, object]]:
    """The newest findings first, optionally of one resource: never a secret, only where it
    was, what kind, what the policy did and its fingerprint."""
    f = secret_findings.c
    query = sa.select(secret_findings).order_by(f.creation_time.desc(), f.finding_id).limit(max_results)
    if resource_type:
        query = query.where(f.resource_type == resource_type)
    if resource_id:
        query = query.where(f.resource_id == resource_id)
    with db.read() as conn:
        # Plain str keys: SQLAlchemy names columns with a str subclass the JSON encoder refuses.
        return [{str(key): value for key, value in row._mapping.items()} for row in conn.execute(query)]
