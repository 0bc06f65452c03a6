"""Tables of the scanning subsystem (defined on the shared metadata).

One row per model version: its latest scan (status, versions of the scanner and of the
allow-list, the digest over the files scanned, the report as JSON) and the admin override
of a blocking result, if any. An override is bound to the manifest digest it was granted
for: a rescan that finds different files does not inherit it.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerflow.store.schema import LONG_TEXT, metadata

model_version_scans = sa.Table(
    "model_version_scans",
    metadata,
    sa.Column("registered_model_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("scanner_version", sa.String(32), nullable=False),
    sa.Column("allowlist_version", sa.String(64), nullable=False),
    sa.Column("manifest_digest", sa.String(64), nullable=True),
    sa.Column("scanned_at", sa.BigInteger, nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("report", LONG_TEXT, nullable=False),
    sa.Column("override_reason", sa.Text, nullable=True),
    sa.Column("override_by", sa.String(256), nullable=True),
    sa.Column("override_at", sa.BigInteger, nullable=True),
    sa.Column("override_expires_at", sa.BigInteger, nullable=True),
    sa.Column("override_digest", sa.String(64), nullable=True),
    sa.ForeignKeyConstraint(
        ["registered_model_id", "version"],
        ["model_versions.registered_model_id", "model_versions.version"],
        name="fk_model_version_scans_model_versions",
        ondelete="CASCADE",
    ),
    sa.Index(None, "allowlist_version", "scanner_version"),
)

__all__ = ["metadata", "model_version_scans"]
