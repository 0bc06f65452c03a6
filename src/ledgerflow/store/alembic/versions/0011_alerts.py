"""alerts: alert rules and secret-scan findings

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secret_findings",
        sa.Column("finding_id", sa.String(length=32), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=512), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("rule_version", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("finding_id", name=op.f("pk_secret_findings")),
    )
    with op.batch_alter_table("secret_findings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_secret_findings_resource_type_resource_id"),
            ["resource_type", "resource_id"],
            unique=False,
        )
    op.create_table(
        "alert_rules",
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("metric_key", sa.String(length=250), nullable=False),
        sa.Column("comparison", sa.String(length=2), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("creator", sa.String(length=256), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_alert_rules_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_alert_rules")),
    )
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_rules_experiment_id"), ["experiment_id"], unique=False)
    op.create_table(
        "alert_firings",
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("run_uuid", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("fired_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rules.rule_id"],
            name=op.f("fk_alert_firings_rule_id_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_uuid"],
            ["runs.run_uuid"],
            name=op.f("fk_alert_firings_run_uuid_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "run_uuid", name=op.f("pk_alert_firings")),
    )


def downgrade() -> None:
    op.drop_table("alert_firings")
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_rules_experiment_id"))
    op.drop_table("alert_rules")
    with op.batch_alter_table("secret_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_findings_resource_type_resource_id"))
    op.drop_table("secret_findings")
