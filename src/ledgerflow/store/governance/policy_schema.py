"""Tables of the policy subsystem (defined on the shared metadata).

* ``policies``: every uploaded version of every policy document (the newest of a name is the
  one in force, unless the name was retired). The document is kept as uploaded (``source``)
  and as canonical JSON (``document``), whose SHA-256 is the policy digest.
* ``policy_evaluations``: one record per gate evaluation: the policies judged (names,
  versions, digests), the subject (model, version, manifest digest), the inputs snapshot,
  per-rule results and the decision, plus the signed attestation of that record.
* ``promotion_requests`` and ``promotion_approvals``: the four-eyes workflow. A request is
  bound to the manifest digest and the policy evaluation it was approved on.
"""

from __future__ import annotations

import sqlalchemy as sa

from ledgerflow.store.schema import ID32, LONG_TEXT, metadata

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source", LONG_TEXT, nullable=False),
    sa.Column("document", LONG_TEXT, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    # Set on the newest version when the policy is retired (no version of it is in force).
    sa.Column("retired", sa.Boolean, nullable=False, default=False),
)

policy_evaluations = sa.Table(
    "policy_evaluations",
    metadata,
    sa.Column("evaluation_id", ID32, primary_key=True),
    sa.Column("model_name", sa.String(256), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("target", sa.String(300), nullable=True),
    sa.Column("manifest_digest", sa.String(64), nullable=True),
    sa.Column("policy_digest", sa.String(64), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("record", LONG_TEXT, nullable=False),
    sa.Column("attestation", LONG_TEXT, nullable=True),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Index(None, "model_name", "model_version", "creation_time"),
)

promotion_requests = sa.Table(
    "promotion_requests",
    metadata,
    sa.Column("request_id", ID32, primary_key=True),
    sa.Column("model_name", sa.String(256), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("requested_by", sa.String(256), nullable=False),
    sa.Column("justification", sa.String(5000), nullable=False, default=""),
    sa.Column("manifest_digest", sa.String(64), nullable=True),
    sa.Column("binding_digest", sa.String(64), nullable=False),
    sa.Column("policy_evaluation_id", ID32, nullable=False),
    sa.Column("min_approvals", sa.Integer, nullable=False),
    sa.Column("status_reason", sa.String(2000), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_updated_time", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Index(None, "model_name", "model_version", "status"),
    sa.Index(None, "status", "creation_time"),
)

promotion_approvals = sa.Table(
    "promotion_approvals",
    metadata,
    sa.Column("request_id", ID32, primary_key=True),
    sa.Column("approver", sa.String(256), primary_key=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("comment", sa.String(5000), nullable=False, default=""),
    sa.Column("manifest_digest", sa.String(64), nullable=True),
    sa.Column("binding_digest", sa.String(64), nullable=False),
    sa.Column("policy_evaluation_id", ID32, nullable=False),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
)

__all__ = ["policies", "policy_evaluations", "promotion_approvals", "promotion_requests"]
