"""Tables of the monitoring subsystem (defined on the shared metadata).

* ``governance_evaluations``: one row per evaluation of a model version on a dataset (the
  headline numbers the policy engine reads, plus the full report with per-group tables).
* ``governance_reference_profiles``: the reference profile production batches of a version
  are compared with, and the monitoring run their drift scores are logged on.
* ``governance_drift_windows``: one row per logged production batch (window) and its scores.

Rows belong to a model version and go with it (``ON DELETE CASCADE``).
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerflow.store.schema import ID32, LONG_TEXT, metadata


def _version_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["registered_model_id", "version"],
        ["model_versions.registered_model_id", "model_versions.version"],
        name=f"fk_{table}_model_versions",
        ondelete="CASCADE",
    )


governance_evaluations = sa.Table(
    "governance_evaluations",
    metadata,
    sa.Column("evaluation_id", ID32, primary_key=True),
    sa.Column("registered_model_id", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("task", sa.String(32), nullable=False),
    sa.Column("dataset_name", sa.String(500), nullable=True),
    sa.Column("dataset_digest", sa.String(64), nullable=True),
    sa.Column("row_count", sa.Integer, nullable=False),
    # The run the numbers were also logged on as metrics (visible in tracking).
    sa.Column("run_id", ID32, nullable=True),
    # JSON: {"metrics": {...}, "fairness": {...}, "robustness": {...}} headline numbers.
    sa.Column("summary", LONG_TEXT, nullable=False),
    # JSON: the whole report (per-group tables, confidence intervals, per-feature drops).
    sa.Column("report", LONG_TEXT, nullable=False),
    _version_key("governance_evaluations"),
    sa.Index(None, "registered_model_id", "version", "creation_time"),
)

governance_reference_profiles = sa.Table(
    "governance_reference_profiles",
    metadata,
    sa.Column("registered_model_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("source", sa.String(32), nullable=False),  # "training" | "evaluation" | ...
    sa.Column("dataset_digest", sa.String(64), nullable=True),
    sa.Column("profile", LONG_TEXT, nullable=False),
    # JSON thresholds and the alert rule (defaults filled in).
    sa.Column("settings", LONG_TEXT, nullable=False),
    sa.Column("monitoring_run_id", ID32, nullable=False),
    sa.Column("next_window", sa.Integer, nullable=False),
    # How many windows in a row have drifted (the alert rule counts them).
    sa.Column("drifted_streak", sa.Integer, nullable=False),
    _version_key("governance_reference_profiles"),
)

governance_drift_windows = sa.Table(
    "governance_drift_windows",
    metadata,
    sa.Column("registered_model_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("window_index", sa.Integer, primary_key=True),
    sa.Column("window_time", sa.BigInteger, nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),  # "client" | "scoring-server"
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("drifted_features", sa.Integer, nullable=False),
    sa.Column("share_drifted", sa.Float, nullable=False),
    sa.Column("alert", sa.Boolean, nullable=False),
    sa.Column("results", LONG_TEXT, nullable=False),
    _version_key("governance_drift_windows"),
)

__all__ = ["governance_drift_windows", "governance_evaluations", "governance_reference_profiles"]
