"""The relational schema, as SQLAlchemy Core tables.

Alembic migrations under ``store/migrations`` build exactly this schema; a test compares the
two. Column sizes follow MLflow's limits so that anything MLflow accepts fits here, on
SQLite, PostgreSQL and MySQL alike (MySQL bounds index keys to 3072 bytes, which is why long
strings that need an index are hashed instead).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID32 = sa.String(32)
KEY = sa.String(250)
# MySQL's TEXT holds 64 KiB, less than a 20,000-character tag value in utf8mb4.
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


def key_value_table(name: str, owner: str, owner_type: sa.types.TypeEngine[Any], referred: str) -> sa.Table:
    """An (owner, key) -> value table, deleted with its owner: every tag and param table."""
    return sa.Table(
        name,
        metadata,
        sa.Column(owner, owner_type, sa.ForeignKey(referred, ondelete="CASCADE"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", LONG_TEXT, nullable=False),
    )


experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(500), nullable=False, unique=True),
    sa.Column("artifact_location", sa.String(2000), nullable=False),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_update_time", sa.BigInteger, nullable=False),
    sa.Column("deleted_time", sa.BigInteger, nullable=True),
)

experiment_tags = key_value_table(
    "experiment_tags", "experiment_id", sa.Integer(), "experiments.experiment_id"
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_uuid", ID32, primary_key=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("user_id", sa.String(256), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("start_time", sa.BigInteger, nullable=True),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("lifecycle_stage", sa.String(20), nullable=False),
    sa.Column("artifact_uri", sa.String(2000), nullable=False),
    sa.Column("deleted_time", sa.BigInteger, nullable=True),
    sa.Index(None, "experiment_id", "lifecycle_stage", "start_time"),
)

params = key_value_table("params", "run_uuid", ID32, "runs.run_uuid")

tags = key_value_table("tags", "run_uuid", ID32, "runs.run_uuid")

# Every logged point. The primary key is MLflow's dedupe rule (an exact repeat of key,
# timestamp, step and value is dropped) and, in this column order, also the history order.
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("run_uuid", ID32, sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("timestamp", sa.BigInteger, primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("value", sa.Double, primary_key=True),
    sa.Column("is_nan", sa.Boolean, primary_key=True),
    sa.Column("model_id", sa.String(64), nullable=True),
    sa.Column("dataset_name", sa.String(500), nullable=True),
    sa.Column("dataset_digest", sa.String(36), nullable=True),
    # On SQLite the primary key is the table itself (no separate rowid b-tree): one b-tree to
    # update per point instead of two, which is most of the cost of a thousand-point batch.
    # Per-step reads (bulk-interval) use the (run_uuid, key) prefix of the key.
    sqlite_with_rowid=False,
)

# The value each run's metric shows in run.data and in search: the max by (step, timestamp, value).
latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_uuid", ID32, sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Column("model_id", sa.String(64), nullable=True),
    sa.Column("dataset_name", sa.String(500), nullable=True),
    sa.Column("dataset_digest", sa.String(36), nullable=True),
    sa.Index(None, "key", "value"),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("dataset_uuid", sa.String(36), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("digest", sa.String(36), nullable=False),
    sa.Column("source_type", sa.String(36), nullable=False),
    sa.Column("source", LONG_TEXT, nullable=False),
    sa.Column("schema", LONG_TEXT, nullable=True),
    sa.Column("profile", LONG_TEXT, nullable=True),
    sa.UniqueConstraint("experiment_id", "name", "digest"),
)

# A dataset used as input of a run, with the input's own tags (e.g. mlflow.data.context).
run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("input_uuid", sa.String(36), primary_key=True),
    sa.Column("run_uuid", ID32, sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "dataset_uuid",
        sa.String(36),
        sa.ForeignKey("datasets.dataset_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.UniqueConstraint("run_uuid", "dataset_uuid"),
)

input_tags = sa.Table(
    "input_tags",
    metadata,
    sa.Column(
        "input_uuid",
        sa.String(36),
        sa.ForeignKey("run_inputs.input_uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(500), nullable=False),
)

# MLflow 3 links between runs and logged models: direction 'input' or 'output'.
run_models = sa.Table(
    "run_models",
    metadata,
    sa.Column("run_uuid", ID32, sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True),
    sa.Column("model_id", sa.String(64), primary_key=True),
    sa.Column("direction", sa.String(8), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False, default=0),
)

logged_models = sa.Table(
    "logged_models",
    metadata,
    sa.Column("model_id", sa.String(64), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("artifact_location", sa.String(2000), nullable=False),
    sa.Column("creation_timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False),
    sa.Column("model_type", sa.String(500), nullable=True),
    sa.Column("source_run_id", ID32, nullable=True),
    sa.Column("status_message", LONG_TEXT, nullable=True),
    sa.Column("creator_id", sa.String(256), nullable=True),
    sa.Index(None, "experiment_id", "creation_timestamp_ms"),
    sa.Index(None, "source_run_id"),
)

logged_model_params = key_value_table(
    "logged_model_params", "model_id", sa.String(64), "logged_models.model_id"
)

logged_model_tags = key_value_table("logged_model_tags", "model_id", sa.String(64), "logged_models.model_id")

logged_model_metrics = sa.Table(
    "logged_model_metrics",
    metadata,
    sa.Column(
        "model_id",
        sa.String(64),
        sa.ForeignKey("logged_models.model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("metric_name", KEY, primary_key=True),
    sa.Column("metric_timestamp_ms", sa.BigInteger, primary_key=True),
    sa.Column("metric_step", sa.BigInteger, primary_key=True),
    sa.Column("run_id", ID32, primary_key=True),
    sa.Column("metric_value", sa.Double, nullable=True),
    sa.Column("experiment_id", sa.Integer, nullable=False),
    sa.Column("dataset_name", sa.String(500), nullable=True),
    sa.Column("dataset_digest", sa.String(36), nullable=True),
)

# SHA-256 of every stored artifact file, recorded as the upload streams through.
# ``location_hash`` is sha256(location) so the key stays short enough for MySQL's index limit.
artifact_digests = sa.Table(
    "artifact_digests",
    metadata,
    sa.Column("location_hash", sa.String(64), primary_key=True),
    sa.Column("location", LONG_TEXT, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_time", sa.BigInteger, nullable=False),
)

# -- model registry -------------------------------------------------------------------------
# A surrogate id keys the registry so a rename touches one row; ``max_version`` hands out
# version numbers (never reused after a delete, as in MLflow) and its UPDATE serialises
# concurrent version creates on one model.
registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("registered_model_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_updated_time", sa.BigInteger, nullable=False),
    sa.Column("description", LONG_TEXT, nullable=True),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("deployment_job_id", sa.String(256), nullable=True),
    sa.Column("max_version", sa.Integer, nullable=False, default=0),
)

registered_model_tags = key_value_table(
    "registered_model_tags", "registered_model_id", sa.Integer(), "registered_models.registered_model_id"
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column(
        "registered_model_id",
        sa.Integer,
        sa.ForeignKey("registered_models.registered_model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_updated_time", sa.BigInteger, nullable=False),
    sa.Column("description", LONG_TEXT, nullable=True),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("current_stage", sa.String(20), nullable=False),
    sa.Column("source", sa.String(2000), nullable=False),
    # Where the files are (get-download-uri); differs from ``source`` for models:/ and runs:/.
    sa.Column("storage_location", sa.String(2000), nullable=False),
    sa.Column("run_id", ID32, nullable=True),
    sa.Column("run_link", sa.String(2000), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("status_message", LONG_TEXT, nullable=True),
    sa.Column("model_id", sa.String(64), nullable=True),
    sa.Index(None, "run_id"),
    sa.Index(None, "last_updated_time"),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column("registered_model_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", LONG_TEXT, nullable=False),
    sa.ForeignKeyConstraint(
        ["registered_model_id", "version"],
        ["model_versions.registered_model_id", "model_versions.version"],
        name="fk_model_version_tags_model_versions",
        ondelete="CASCADE",
    ),
)

registered_model_aliases = sa.Table(
    "registered_model_aliases",
    metadata,
    sa.Column("registered_model_id", sa.Integer, primary_key=True),
    sa.Column("alias", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(
        ["registered_model_id", "version"],
        ["model_versions.registered_model_id", "model_versions.version"],
        name="fk_registered_model_aliases_model_versions",
        ondelete="CASCADE",
    ),
)

# Every alias assignment with the interval it held: answers "which version did alias X of
# model N point at on date D". No foreign keys, so the history outlives deleted models;
# ``name`` is the model's name while the row was open (a rename closes and reopens rows).
registered_model_alias_history = sa.Table(
    "registered_model_alias_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("registered_model_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("alias", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("set_at", sa.BigInteger, nullable=False),
    sa.Column("unset_at", sa.BigInteger, nullable=True),
    sa.Index(None, "name", "alias", "set_at"),
    sa.Index(None, "registered_model_id", "unset_at"),
)

# -- registry webhooks ------------------------------------------------------------------------
# ``secret`` is kept as given: the server needs it to sign every delivery, so it cannot be a
# one-way hash. The API returns it only in the create answer. ``events`` holds the sorted
# "entity.action" names, comma-joined (a webhook has a handful; matching is done in code).
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("webhook_id", ID32, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", LONG_TEXT, nullable=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("events", sa.String(1000), nullable=False),
    sa.Column("secret", sa.String(1000), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
)

# One row per (event, webhook): the outbox the delivery worker drains. The body is stored as
# sent, so a restarted server resumes pending deliveries with the same bytes and the same
# delivery id (receivers can deduplicate on it). ``claimed_until`` is a lease that keeps two
# workers (or processes) from sending one delivery at once.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(36), primary_key=True),
    sa.Column("webhook_id", ID32, sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"), nullable=False),
    sa.Column("event", sa.String(100), nullable=False),
    sa.Column("payload", LONG_TEXT, nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_timestamp", sa.BigInteger, nullable=True),
    sa.Column("claimed_until", sa.BigInteger, nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(1000), nullable=True),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    sa.Index(None, "webhook_id", "creation_timestamp"),
    sa.Index(None, "status", "next_attempt_timestamp"),
)

# Every attempt of every delivery, for the delivery log.
webhook_delivery_attempts = sa.Table(
    "webhook_delivery_attempts",
    metadata,
    sa.Column(
        "delivery_id",
        sa.String(36),
        sa.ForeignKey("webhook_deliveries.delivery_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.String(1000), nullable=True),
)

# The audit trail: an append-only, hash-chained log. ``seq`` is assigned by the writer while it
# holds the chain head (not by a sequence, which leaves gaps on rollback that would look like
# deleted records).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("resource_type", sa.String(64), nullable=True),
    sa.Column("resource_id", sa.String(512), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("source_address", sa.String(64), nullable=True),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("before_digest", sa.String(64), nullable=True),
    sa.Column("after_digest", sa.String(64), nullable=True),
    sa.Column("details", LONG_TEXT, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False),
    sa.Index(None, "time_ms"),
    sa.Index(None, "actor", "time_ms"),
    sa.Index(None, "action", "time_ms"),
)

# One row (id 1): the last appended seq and hash. Writers lock it, which serializes appends
# across connections and server replicas, and it lets verification notice deleted tail records.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False),
)

# Signed (seq, record_hash) pairs: a rewrite of the chain up to a checkpoint needs the key.
audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("record_hash", sa.String(64), nullable=False),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),
)

# Public halves of the checkpoint signing keys, so verification needs no private key.
audit_keys = sa.Table(
    "audit_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("public_key", sa.String(128), nullable=False),
    sa.Column("creation_time_ms", sa.BigInteger, nullable=False),
)

# Server users: people (``kind='user'``, with an Argon2id password hash) and service accounts
# (``kind='service'``, no password; they authenticate with tokens only). A disabled user keeps
# its row so that audit records and token ownership still resolve.
users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", ID32, primary_key=True),
    sa.Column("username", sa.String(256), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=True),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_update_time", sa.BigInteger, nullable=False),
    sa.Column("disabled_time", sa.BigInteger, nullable=True),
)

user_groups = sa.Table(
    "user_groups",
    metadata,
    sa.Column("group_id", ID32, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
)

user_group_members = sa.Table(
    "user_group_members",
    metadata,
    sa.Column("group_id", ID32, sa.ForeignKey("user_groups.group_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", ID32, sa.ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    sa.Index(None, "user_id"),
)

# Personal access and service-account tokens. Only the SHA-256 of the secret is kept: the
# secret has 256 random bits, so a fast hash is enough and lookups stay one indexed read.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", ID32, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("owner_id", ID32, sa.ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("scopes", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("expiration_time", sa.BigInteger, nullable=True),
    sa.Column("last_used_time", sa.BigInteger, nullable=True),
    sa.Column("revoked_time", sa.BigInteger, nullable=True),
    sa.Index(None, "owner_id"),
)

# Failed-login counters, keyed by a hash of the (normalized) username whether or not such a
# user exists, so lockout answers the same for real and made-up names.
login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_failure_time", sa.BigInteger, nullable=False),
    sa.Column("last_failure_time", sa.BigInteger, nullable=False),
    sa.Column("locked_until", sa.BigInteger, nullable=True),
)

# Web UI sessions. The cookie holds a random secret; the row is keyed by its SHA-256 and
# carries the session's CSRF token. Logout (or an admin disabling the user) revokes it.
ui_sessions = sa.Table(
    "ui_sessions",
    metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", ID32, sa.ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("expiration_time", sa.BigInteger, nullable=False),
    sa.Column("revoked_time", sa.BigInteger, nullable=True),
    sa.Index(None, "user_id"),
)

# Authorization: a role held on one experiment or registered model (by its numeric id, so a
# rename keeps its grants) by a user, a group, or everyone ("all", principal "*"). The role
# names a permission set; see ledgerflow.security.authz.permissions.
resource_grants = sa.Table(
    "resource_grants",
    metadata,
    sa.Column("resource_type", sa.String(32), primary_key=True),
    sa.Column("resource_id", sa.BigInteger, primary_key=True),
    sa.Column("principal_type", sa.String(16), primary_key=True),
    sa.Column("principal_id", ID32, primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Index(None, "principal_type", "principal_id"),
)

# The governance tables (scans, signatures, policies, evaluations, monitoring, alerts) live in
# their own modules under ``store/governance`` and register on this same metadata; importing
# them here keeps ``metadata`` complete for create_all and for the migration guard test.
from ledgerflow.store import governance as _governance_tables  # noqa: E402,F401
