"""monitoring: evaluation results, reference profiles and drift results

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


def _version_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["registered_model_id", "version"],
        ["model_versions.registered_model_id", "model_versions.version"],
        name=f"fk_{table}_model_versions",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "governance_evaluations",
        sa.Column("evaluation_id", sa.String(length=32), nullable=False),
        sa.Column("registered_model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("dataset_name", sa.String(length=500), nullable=True),
        sa.Column("dataset_digest", sa.String(length=64), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("summary", LONG_TEXT, nullable=False),
        sa.Column("report", LONG_TEXT, nullable=False),
        _version_key("governance_evaluations"),
        sa.PrimaryKeyConstraint("evaluation_id", name=op.f("pk_governance_evaluations")),
    )
    with op.batch_alter_table("governance_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_evaluations_registered_model_id_version_creation_time"),
            ["registered_model_id", "version", "creation_time"],
            unique=False,
        )
    op.create_table(
        "governance_reference_profiles",
        sa.Column("registered_model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("dataset_digest", sa.String(length=64), nullable=True),
        sa.Column("profile", LONG_TEXT, nullable=False),
        sa.Column("settings", LONG_TEXT, nullable=False),
        sa.Column("monitoring_run_id", sa.String(length=32), nullable=False),
        sa.Column("next_window", sa.Integer(), nullable=False),
        sa.Column("drifted_streak", sa.Integer(), nullable=False),
        _version_key("governance_reference_profiles"),
        sa.PrimaryKeyConstraint(
            "registered_model_id", "version", name=op.f("pk_governance_reference_profiles")
        ),
    )
    op.create_table(
        "governance_drift_windows",
        sa.Column("registered_model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("window_index", sa.Integer(), nullable=False),
        sa.Column("window_time", sa.BigInteger(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("drifted_features", sa.Integer(), nullable=False),
        sa.Column("share_drifted", sa.Float(), nullable=False),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("results", LONG_TEXT, nullable=False),
        _version_key("governance_drift_windows"),
        sa.PrimaryKeyConstraint(
            "registered_model_id", "version", "window_index", name=op.f("pk_governance_drift_windows")
        ),
    )


def downgrade() -> None:
    op.drop_table("governance_drift_windows")
    op.drop_table("governance_reference_profiles")
    with op.batch_alter_table("governance_evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_evaluations_registered_model_id_version_creation_time"))
    op.drop_table("governance_evaluations")
