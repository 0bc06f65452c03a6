"""Server configuration, built once by the CLI (or a test) and passed down explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DB_FILE = "ledgerflow.db"
DEFAULT_ARTIFACTS_DIR = "ledgerflow-artifacts"


@dataclass(frozen=True)
class ServerConfig:
    """Where a tracking server keeps its data and how it hands out artifact locations.

    ``artifacts_destination`` is where proxied artifacts are stored (a local folder or an
    ``s3://bucket/prefix`` URI). With ``serve_artifacts`` on, new experiments get
    ``mlflow-artifacts:/<id>`` locations, so clients go through the server and need no storage
    credentials. ``default_artifact_root`` overrides the location recorded for new
    experiments. Clients may only choose experiment locations under ``allowed_artifact_roots``
    (the default root is always allowed).
    """

    backend_store_uri: str = f"sqlite:///{DEFAULT_DB_FILE}"
    artifacts_destination: str = DEFAULT_ARTIFACTS_DIR
    default_artifact_root: str | None = None
    serve_artifacts: bool = True
    allowed_artifact_roots: tuple[str, ...] = field(default_factory=tuple)
    s3_endpoint_url: str | None = None
    auto_create_schema: bool = True
    # Limits on JSON API request bodies (streamed artifact uploads are not subject to them):
    # MLflow's largest legitimate bodies (log-batch: 1000 metrics) are well under a megabyte.
    max_request_bytes: int = 32 * 1024 * 1024
    max_json_depth: int = 64
    # Outbound webhooks: hosts, addresses or CIDR networks the SSRF guard lets through even
    # though they are internal (loopback, private, ...); retry policy for failed deliveries.
    webhook_allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    webhook_max_attempts: int = 5
    webhook_backoff_seconds: float = 2.0
    webhook_timeout_seconds: float = 10.0
    # Audit checkpoints are signed with the Ed25519 key in this file (made on first start,
    # mode 0600); None puts it next to an SQLite database, else in ~/.ledgerflow. Never
    # inside the artifact root, which clients can read.
    audit_signing_key_path: str | None = None
    audit_checkpoint_interval: int = 100
    # A checkpoint also at most this many seconds after a write (signed off the write path by a
    # background thread), so the unsigned tail is short in time too; 0 turns that off.
    audit_checkpoint_seconds: float = 5.0
    # Authentication. Off here so in-process test apps stay open; `ledgerflow server` turns it
    # on unless told --no-auth. The bootstrap variables name where a first admin's password
    # (and username) may come from; nothing has a default password.
    auth_required: bool = False
    bootstrap_password_env: str = "LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD"
    bootstrap_username_env: str = "LEDGERFLOW_BOOTSTRAP_ADMIN_USERNAME"
    lockout_threshold: int = 5
    lockout_window_seconds: float = 900.0
    lockout_seconds: float = 900.0
    # How stale a cached credential check may be: a token revoked (or a user disabled) on any
    # replica stops working everywhere within this bound.
    revocation_check_seconds: float = 5.0
    basic_cache_seconds: float = 300.0
    session_seconds: float = 12 * 3600.0
    # X-Forwarded-For / X-Forwarded-Proto are believed only from these addresses or networks.
    trusted_proxies: tuple[str, ...] = field(default_factory=tuple)
    # Authorization (on whenever auth_required is): the role everyone gets on a newly created
    # experiment or registered model (None: nobody but its creator, who manages it), and the
    # aliases whose setting counts as a promotion and needs the 'promote' permission.
    default_permission: str | None = None
    protected_aliases: tuple[str, ...] = ("production", "champion")
    # Promotion gate (governance/approvals): when on, a protected alias or the Production stage
    # moves only by executing an approved four-eyes promotion request whose policy gate passes
    # at that moment (or an admin break-glass); unprotected aliases are untouched. Off here so
    # in-process apps and plain MLflow set-ups keep today's behaviour.
    promotion_gate: bool = False
    # Secret scanning on write (governance/secrets): "redact" keeps credentials out of the
    # store without failing a training script mid-run; "block" refuses the write (strictest);
    # "warn" stores the value and records a finding. Text artifacts are scanned up to
    # secret_scan_max_file_bytes.
    secret_policy: str = "redact"
    secret_scan_max_file_bytes: int = 1024 * 1024
    # /metrics business gauges are recomputed at most once per window (one query set).
    metrics_cache_seconds: float = 30.0
    # How often metric threshold alert rules are checked against the runs' latest metrics.
    alert_check_seconds: float = 10.0
    # Browser hardening (security/web): the Host names this server answers (None: any, for
    # in-process apps; the CLI always sets the bound host plus localhost names, against DNS
    # rebinding) and the exact origins whose pages may call the API cross-origin (no wildcard).
    allowed_hosts: tuple[str, ...] | None = None
    cors_allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    # Model signing (governance/signing): the server's ECDSA P-256 key file, made on first
    # start (None: next to an SQLite database, else ~/.ledgerflow; never in the artifact
    # root); whether the server signs each new version at registration ("platform
    # attestation"; otherwise CI signs and uploads); and whether a version without a valid
    # signature is kept from READY and refused for download, load, serving and promotion.
    signing_key_path: str | None = None
    sign_models_at_registration: bool = False
    require_signature: bool = False
    # Model-file scanning (governance/scanning): globals allowed beyond the shipped allow-list
    # (module.Class of trusted custom models; changes the recorded allow-list version, so
    # versions are rescanned), and whether picklescan's verdict is recorded beside ours.
    scan_allowed_globals: tuple[str, ...] = field(default_factory=tuple)
    scan_second_opinion: bool = True

    def resolved_artifacts_destination(self) -> str:
        dest = self.artifacts_destination
        if "://" in dest or dest.startswith("s3:"):
            return dest
        return os.path.abspath(dest)

    def experiment_root(self) -> str:
        """The prefix new experiments' artifact locations are built on."""
        if self.default_artifact_root:
            return self.default_artifact_root.rstrip("/")
        if self.serve_artifacts:
            return "mlflow-artifacts:"
        return self.resolved_artifacts_destination().rstrip("/")
