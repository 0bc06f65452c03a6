"""policy: policy documents, policy evaluations, waivers and promotion requests

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source", _LONG_TEXT, nullable=False),
        sa.Column("document", _LONG_TEXT, nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_policies")),
    )
    op.create_table(
        "policy_evaluations",
        sa.Column("evaluation_id", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=True),
        sa.Column("manifest_digest", sa.String(length=64), nullable=True),
        sa.Column("policy_digest", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("record", _LONG_TEXT, nullable=False),
        sa.Column("attestation", _LONG_TEXT, nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("evaluation_id", name=op.f("pk_policy_evaluations")),
    )
    with op.batch_alter_table("policy_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_evaluations_model_name_model_version_creation_time"),
            ["model_name", "model_version", "creation_time"],
            unique=False,
        )
    op.create_table(
        "promotion_requests",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=256), nullable=False),
        sa.Column("justification", sa.String(length=5000), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=True),
        sa.Column("binding_digest", sa.String(length=64), nullable=False),
        sa.Column("policy_evaluation_id", sa.String(length=32), nullable=False),
        sa.Column("min_approvals", sa.Integer(), nullable=False),
        sa.Column("status_reason", sa.String(length=2000), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_promotion_requests")),
    )
    with op.batch_alter_table("promotion_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_promotion_requests_model_name_model_version_status"),
            ["model_name", "model_version", "status"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_promotion_requests_status_creation_time"),
            ["status", "creation_time"],
            unique=False,
        )
    op.create_table(
        "promotion_approvals",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("approver", sa.String(length=256), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.String(length=5000), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=True),
        sa.Column("binding_digest", sa.String(length=64), nullable=False),
        sa.Column("policy_evaluation_id", sa.String(length=32), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "approver", name=op.f("pk_promotion_approvals")),
    )


def downgrade() -> None:
    op.drop_table("promotion_approvals")
    with op.batch_alter_table("promotion_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promotion_requests_status_creation_time"))
        batch_op.drop_index(batch_op.f("ix_promotion_requests_model_name_model_version_status"))
    op.drop_table("promotion_requests")
    with op.batch_alter_table("policy_evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_evaluations_model_name_model_version_creation_time"))
    op.drop_table("policy_evaluations")
    op.drop_table("policies")
