"""authorization: per-resource grants to users, groups and everyone

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_grants",
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("principal_type", sa.String(length=16), nullable=False),
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "resource_type", "resource_id", "principal_type", "principal_id", name=op.f("pk_resource_grants")
        ),
    )
    with op.batch_alter_table("resource_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_grants_principal_type_principal_id"),
            ["principal_type", "principal_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("resource_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_grants_principal_type_principal_id"))
    op.drop_table("resource_grants")
