"""Tables of the alerts subsystem (defined on the shared metadata): secret-scan findings,
metric alert rules, and the firings that keep a rule from alerting twice for one run."""

from __future__ import annotations

import sqlalchemy as sa

from ledgerflow.store.schema import ID32, KEY, metadata

# One row per secret found on write. The value itself is never stored: only its kind, where
# it was (resource, field, key), what the policy did, and a short fingerprint.
secret_findings = sa.Table(
    "secret_findings",
    metadata,
    sa.Column("finding_id", ID32, primary_key=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(512), nullable=False),
    sa.Column("field", sa.String(32), nullable=False),
    sa.Column("key", KEY, nullable=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("fingerprint", sa.String(16), nullable=False),
    sa.Column("rule_version", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(256), nullable=True),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Index(None, "resource_type", "resource_id"),
)

alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("rule_id", ID32, primary_key=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("metric_key", KEY, nullable=False),
    sa.Column("comparison", sa.String(2), nullable=False),
    sa.Column("threshold", sa.Double, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("creator", sa.String(256), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Index(None, "experiment_id"),
)

# A rule fires at most once per run; the primary key makes that hold across server workers.
alert_firings = sa.Table(
    "alert_firings",
    metadata,
    sa.Column("rule_id", ID32, sa.ForeignKey("alert_rules.rule_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("run_uuid", ID32, sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("fired_time", sa.BigInteger, nullable=False),
)
