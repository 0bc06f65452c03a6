"""file scans: per-file scan results at upload, version scan roots, the rescan lease

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _long_text() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


def upgrade() -> None:
    with op.batch_alter_table("model_version_scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changed_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "artifact_scans",
        sa.Column("location_hash", sa.String(length=64), nullable=False),
        sa.Column("location", _long_text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scanner_version", sa.String(length=32), nullable=False),
        sa.Column("allowlist_version", sa.String(length=64), nullable=False),
        sa.Column("scanned_at", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("report", _long_text(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("override_by", sa.String(length=256), nullable=True),
        sa.Column("override_at", sa.BigInteger(), nullable=True),
        sa.Column("override_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("override_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("location_hash", name=op.f("pk_artifact_scans")),
    )
    with op.batch_alter_table("artifact_scans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_artifact_scans_scanner_version_allowlist_version"),
            ["scanner_version", "allowlist_version"],
            unique=False,
        )
    op.create_table(
        "model_version_scan_roots",
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("registered_model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("root_location", _long_text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registered_model_id", "version"],
            ["model_versions.registered_model_id", "model_versions.version"],
            name="fk_model_version_scan_roots_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "root_hash", "registered_model_id", "version", name=op.f("pk_model_version_scan_roots")
        ),
    )
    with op.batch_alter_table("model_version_scan_roots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_version_scan_roots_registered_model_id_version"),
            ["registered_model_id", "version"],
            unique=False,
        )
    op.create_table(
        "scan_jobs",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_scan_jobs")),
    )


def downgrade() -> None:
    op.drop_table("scan_jobs")
    with op.batch_alter_table("model_version_scan_roots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_version_scan_roots_registered_model_id_version"))
    op.drop_table("model_version_scan_roots")
    with op.batch_alter_table("artifact_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_scans_scanner_version_allowlist_version"))
    op.drop_table("artifact_scans")
    with op.batch_alter_table("model_version_scans", schema=None) as batch_op:
        batch_op.drop_column("changed_at")
