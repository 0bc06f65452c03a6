"""Tables of the scanning subsystem (defined on the shared metadata).

``model_version_scans``: one row per model version: its latest scan (status, versions of
the scanner and of the allow-list, the digest over the files scanned, the report as JSON)
and the admin override of a blocking result, if any. An override is bound to the manifest
digest it was granted for: a rescan that finds different files does not inherit it.
``changed_at`` is set when a file below the version's storage changed after that scan.

``artifact_scans``: one row per stored artifact file (keyed like ``artifact_digests``, by
the SHA-256 of its location): what the scan at upload (or first download) found in exactly
the bytes with ``sha256``; ``kind`` is ``data`` for files no loader executes anything from
(images, text, JSON) and ``model`` for pickles, archives, arrays and MLmodel files. An
override is bound to the file digest it was granted for.

``model_version_scan_roots``: the storage root each version scan covered, so a write below
it finds the versions it touches with one indexed lookup per path ancestor.

``scan_jobs``: the lease of the start-up rescan after a scanner or allow-list upgrade, so
that one replica at a time does it when several share the database.
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
    sa.Column("changed_at", sa.BigInteger, nullable=True),
    sa.ForeignKeyConstraint(
        ["registered_model_id", "version"],
        ["model_versions.registered_model_id", "model_versions.version"],
        name="fk_model_version_scans_model_versions",
        ondelete="CASCADE",
    ),
    sa.Index(None, "allowlist_version", "scanner_version"),
)

artifact_scans = sa.Table(
    "artifact_scans",
    metadata,
    sa.Column("location_hash", sa.String(64), primary_key=True),
    sa.Column("location", LONG_TEXT, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("scanner_version", sa.String(32), nullable=False),
    sa.Column("allowlist_version", sa.String(64), nullable=False),
    sa.Column("scanned_at", sa.BigInteger, nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("report", LONG_TEXT, nullable=False),
    sa.Column("override_reason", sa.Text, nullable=True),
    sa.Column("override_by", sa.String(256), nullable=True),
    sa.Column("override_at", sa.BigInteger, nullable=True),
    sa.Column("override_expires_at", sa.BigInteger, nullable=True),
    sa.Column("override_sha256", sa.String(64), nullable=True),
    sa.Index(None, "scanner_version", "allowlist_version"),
)

model_version_scan_roots = sa.Table(
    "model_version_scan_roots",
    metadata,
    sa.Column("root_hash", sa.String(64), primary_key=True),
    sa.Column("registered_model_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("root_location", LONG_TEXT, nullable=False),
    sa.ForeignKeyConstraint(
        ["registered_model_id", "version"],
        ["model_versions.registered_model_id", "model_versions.version"],
        name="fk_model_version_scan_roots_model_versions",
        ondelete="CASCADE",
    ),
    sa.Index(None, "registered_model_id", "version"),
)

scan_jobs = sa.Table(
    "scan_jobs",
    metadata,
    sa.Column("job", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.BigInteger, nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("started_at", sa.BigInteger, nullable=True),
    sa.Column("finished_at", sa.BigInteger, nullable=True),
    sa.Column("done", sa.Integer, nullable=False),
)

__all__ = ["artifact_scans", "metadata", "model_version_scan_roots", "model_version_scans", "scan_jobs"]
