"""Queries on the signing tables, and finding the version a record is about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.registry.model_versions import require_version
from ledgerflow.registry.registered_models import require_model
from ledgerflow.store.governance.signing_schema import (
    attestations,
    model_version_sboms,
    model_version_signatures,
    signing_keys,
)


@dataclass(frozen=True)
class VersionRef:
    """The version a signature, attestation or SBOM is about."""

    registered_model_id: int
    name: str
    version: int
    run_id: str | None
    storage_location: str
    status: str

    @property
    def key(self) -> dict[str, int]:
        return {"registered_model_id": self.registered_model_id, "version": self.version}


def find_version(conn: Connection, name: str, version: str | int) -> VersionRef:
    """The version ``name``/``version`` (RESOURCE_DOES_NOT_EXIST when there is none)."""
    model = require_model(conn, name)
    row = require_version(conn, model, version)
    return VersionRef(
        int(row.registered_model_id),
        str(model.name),
        int(row.version),
        row.run_id,
        str(row.storage_location),
        str(row.status),
    )


def require_unchanged(conn: Connection, ref: VersionRef) -> None:
    """RESOURCE_DOES_NOT_EXIST unless ``ref``'s version still exists under the same model
    name: :func:`find_version`'s check in one statement, for writes that already hold a ref."""
    from ledgerflow.errors import ResourceDoesNotExist
    from ledgerflow.store.schema import model_versions, registered_models

    query = (
        sa.select(model_versions.c.version)
        .join(
            registered_models, registered_models.c.registered_model_id == model_versions.c.registered_model_id
        )
        .where(
            model_versions.c.registered_model_id == ref.registered_model_id,
            model_versions.c.version == ref.version,
            registered_models.c.name == ref.name,
        )
    )
    if conn.execute(query).first() is None:
        raise ResourceDoesNotExist(f"Model Version (name={ref.name}, version={ref.version}) not found")


def _where(table: sa.Table, ref: VersionRef) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.registered_model_id == ref.registered_model_id, table.c.version == ref.version)


# -- keys --------------------------------------------------------------------------------------


def key_row(conn: Connection, key_id: str) -> Any:
    return conn.execute(sa.select(signing_keys).where(signing_keys.c.key_id == key_id)).first()


def key_rows(conn: Connection) -> list[Any]:
    query = sa.select(signing_keys).order_by(signing_keys.c.creation_time, signing_keys.c.key_id)
    return list(conn.execute(query))


def insert_key(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(signing_keys.insert().values(**values))


def update_key(conn: Connection, key_id: str, **values: Any) -> None:
    conn.execute(signing_keys.update().where(signing_keys.c.key_id == key_id).values(**values))


# -- signatures --------------------------------------------------------------------------------


def signature_row(conn: Connection, ref: VersionRef) -> Any:
    return conn.execute(
        sa.select(model_version_signatures).where(_where(model_version_signatures, ref))
    ).first()


def put_signature(conn: Connection, ref: VersionRef, values: dict[str, Any]) -> None:
    conn.execute(model_version_signatures.delete().where(_where(model_version_signatures, ref)))
    conn.execute(model_version_signatures.insert().values(**ref.key, **values))


def update_signature(conn: Connection, ref: VersionRef, **values: Any) -> None:
    conn.execute(
        model_version_signatures.update().where(_where(model_version_signatures, ref)).values(**values)
    )


# -- attestations ------------------------------------------------------------------------------


def insert_attestation(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(attestations.insert().values(**values))


def attestation_row(conn: Connection, attestation_id: str) -> Any:
    query = sa.select(attestations).where(attestations.c.attestation_id == attestation_id)
    return conn.execute(query).first()


def attestation_rows(conn: Connection, ref: VersionRef, predicate_type: str | None) -> list[Any]:
    query = sa.select(attestations).where(_where(attestations, ref))
    if predicate_type is not None:
        query = query.where(attestations.c.predicate_type == predicate_type)
    return list(conn.execute(query.order_by(attestations.c.creation_time, attestations.c.attestation_id)))


# -- SBOMs -------------------------------------------------------------------------------------


def sbom_row(conn: Connection, ref: VersionRef) -> Any:
    return conn.execute(sa.select(model_version_sboms).where(_where(model_version_sboms, ref))).first()


def put_sbom(conn: Connection, ref: VersionRef, values: dict[str, Any]) -> None:
    conn.execute(model_version_sboms.delete().where(_where(model_version_sboms, ref)))
    conn.execute(model_version_sboms.insert().values(**ref.key, **values))


def model_name(conn: Connection, registered_model_id: int) -> str:
    from ledgerflow.store.schema import registered_models

    query = sa.select(registered_models.c.name).where(
        registered_models.c.registered_model_id == registered_model_id
    )
    return str(conn.execute(query).scalar_one())


def attestations_at(conn: Connection, storage_location: str, predicate_type: str) -> list[Any]:
    """Attestations of ``predicate_type`` about any version stored at ``storage_location``
    (versions registered from the same source share its folder), oldest first."""
    from ledgerflow.store.schema import model_versions

    query = (
        sa.select(attestations)
        .join(
            model_versions,
            sa.and_(
                model_versions.c.registered_model_id == attestations.c.registered_model_id,
                model_versions.c.version == attestations.c.version,
            ),
        )
        .where(
            model_versions.c.storage_location == storage_location,
            attestations.c.predicate_type == predicate_type,
        )
        .order_by(attestations.c.creation_time, attestations.c.attestation_id)
    )
    return list(conn.execute(query))
