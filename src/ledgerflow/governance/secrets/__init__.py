"""Secret scanning on write: a pattern catalogue, a pure scanner, and the policy guard the
tracking and registry services call before they store params, tags, names, descriptions and
text artifacts."""

from ledgerflow.governance.secrets.guard import BLOCK, POLICIES, REDACT, WARN, SecretGuard, check_policy

__all__ = ["BLOCK", "POLICIES", "REDACT", "WARN", "SecretGuard", "check_policy"]
