"""Tables of the signing subsystem (defined on the shared metadata).

* ``signing_keys``: the trust store. Public keys only (private keys never enter the
  database), each with a validity window and a revocation state; a rotated key names its
  successor.
* ``model_version_signatures``: the OMS bundle that signs a version's manifest, with the
  outcome of its last verification.
* ``attestations``: DSSE envelopes about a version (policy evaluations, scans, approvals,
  training provenance, ...), each bound to the version's manifest digest.
* ``model_version_sboms``: the CycloneDX document generated for a version.

Rows about a version are deleted with it (the version's cascade).
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerflow.store.schema import LONG_TEXT, metadata

# Key ids and digests are lowercase SHA-256 hex.
DIGEST = sa.String(64)


def _version_owner() -> list[sa.Column[int] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("registered_model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["registered_model_id", "version"],
            ["model_versions.registered_model_id", "model_versions.version"],
            ondelete="CASCADE",
        ),
    ]


signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("key_id", DIGEST, primary_key=True),
    sa.Column("label", sa.String(256), nullable=False),
    sa.Column("algorithm", sa.String(32), nullable=False),
    sa.Column("public_key_pem", sa.Text, nullable=False),
    sa.Column("not_before", sa.BigInteger, nullable=False),
    sa.Column("not_after", sa.BigInteger, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.Column("revocation_reason", sa.String(1000), nullable=True),
    sa.Column("rotated_to", DIGEST, nullable=True),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
)

model_version_signatures = sa.Table(
    "model_version_signatures",
    metadata,
    *_version_owner(),
    sa.Column("key_id", DIGEST, nullable=False),
    sa.Column("manifest_digest", DIGEST, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("bundle", LONG_TEXT, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(2000), nullable=True),
    sa.Column("verified_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("registered_model_id", "version"),
)

attestations = sa.Table(
    "attestations",
    metadata,
    sa.Column("attestation_id", sa.String(32), primary_key=True),
    *_version_owner(),
    sa.Column("subject_name", sa.String(256), nullable=False),
    sa.Column("predicate_type", sa.String(256), nullable=False),
    sa.Column("manifest_digest", DIGEST, nullable=False),
    sa.Column("key_id", DIGEST, nullable=False),
    sa.Column("envelope", LONG_TEXT, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Index(None, "registered_model_id", "version", "creation_time"),
)

model_version_sboms = sa.Table(
    "model_version_sboms",
    metadata,
    *_version_owner(),
    sa.Column("spec_version", sa.String(8), nullable=False),
    sa.Column("digest", DIGEST, nullable=False),
    sa.Column("document", LONG_TEXT, nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("registered_model_id", "version"),
)
