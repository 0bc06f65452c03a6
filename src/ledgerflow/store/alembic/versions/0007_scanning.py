"""scanning: model-file scan results and scan overrides

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_version_scans",
        sa.Column("registered_model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scanner_version", sa.String(length=32), nullable=False),
        sa.Column("allowlist_version", sa.String(length=64), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=True),
        sa.Column("scanned_at", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("report", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("override_by", sa.String(length=256), nullable=True),
        sa.Column("override_at", sa.BigInteger(), nullable=True),
        sa.Column("override_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("override_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["registered_model_id", "version"],
            ["model_versions.registered_model_id", "model_versions.version"],
            name="fk_model_version_scans_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("registered_model_id", "version", name=op.f("pk_model_version_scans")),
    )
    with op.batch_alter_table("model_version_scans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_version_scans_allowlist_version_scanner_version"),
            ["allowlist_version", "scanner_version"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("model_version_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_version_scans_allowlist_version_scanner_version"))
    op.drop_table("model_version_scans")
