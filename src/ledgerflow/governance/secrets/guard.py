"""The secret policy on the write path: scan, then warn, redact or block, and record.

Services call :class:`SecretGuard` with the strings they are about to store (params, tags,
names and descriptions, the head of a text artifact). For every secret found the guard:

* records a finding (kind, where, what the policy did, a short fingerprint; never the value)
  and an audit event, in one transaction of their own, so a blocked write is on record too;
* takes the secret out of the current request's audit payload, so the request's own audit
  record (its summary and its after-digest) never carries it;
* under ``block`` refuses the write with INVALID_PARAMETER_VALUE naming the field, the key
  and the kind; under ``redact`` hands back the value with the secret replaced by
  ``[REDACTED:<kind>]``; under ``warn`` hands it back unchanged.

Files cannot be partly stored, so under ``redact`` a text artifact holding a secret is
refused like under ``block``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.audit import context as audit_context
from ledgerflow.store.governance.alerts_schema import secret_findings
from ledgerflow.tracking.clock import now_ms

from .catalogue import RULE_VERSION
from .scanner import SecretScanner

if TYPE_CHECKING:
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.store.database import Database

_log = logging.getLogger(__name__)

WARN = "warn"
REDACT = "redact"
BLOCK = "block"
POLICIES = (WARN, REDACT, BLOCK)
_ACTION = {WARN: "warned", REDACT: "redacted", BLOCK: "blocked"}
# Text artifacts are scanned up to this many bytes (the rest of a big file is not read).
DEFAULT_MAX_FILE_BYTES = 1024 * 1024
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Pending:
    """A finding not yet recorded. ``secret`` lives only in memory, for scrubbing."""

    field: str
    key: str | None
    kind: str
    fingerprint: str
    secret: str


def check_policy(value: str) -> str:
    policy = value.strip().lower()
    if policy not in POLICIES:
        raise InvalidParameter(f"Invalid secret policy '{value}'. Valid policies are: {list(POLICIES)}")
    return policy


class SecretGuard:
    def __init__(
        self,
        db: Database | None,
        audit: AuditLog | None,
        policy: str = REDACT,
        *,
        enabled: bool = True,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.db = db
        self.audit = audit
        self.policy = check_policy(policy)
        self.enabled = enabled and db is not None
        self.max_file_bytes = max_file_bytes
        self.scanner = SecretScanner()

    @classmethod
    def off(cls) -> SecretGuard:
        """A guard that lets everything through (services built without a server)."""
        return cls(None, None, enabled=False, max_file_bytes=0)

    # -- screening ---------------------------------------------------------------------------

    def screen_pairs(
        self, field: str, items: Sequence[tuple[str, str]]
    ) -> tuple[list[tuple[str, str]], list[Pending]]:
        """``items`` as they may be stored, and the findings to settle."""
        if not self.enabled or not items:
            return list(items), []
        pending: list[Pending] = []
        cleaned: list[tuple[str, str]] = []
        for key, value in items:
            found = self.scanner.scan_pair(key, value)
            if not found:
                cleaned.append((key, value))
                continue
            in_key = [f for f in found if f.part == "key"]
            in_value = [f for f in found if f.part == "value"]
            shown_key = None if in_key else key
            for f in in_value:
                pending.append(Pending(field, shown_key, f.kind, f.fingerprint, value[f.start : f.end]))
            for f in in_key:
                pending.append(Pending(f"{field} key", None, f.kind, f.fingerprint, key[f.start : f.end]))
            if self.policy == REDACT:
                key = self.scanner.redact(key, in_key) if in_key else key
                value = self.scanner.redact(value, in_value) if in_value else value
            cleaned.append((key, value))
        return cleaned, pending

    def screen_text(self, field: str, text: str | None) -> tuple[str | None, list[Pending]]:
        if not self.enabled or not text:
            return text, []
        found = self.scanner.scan_text(text)
        if not found:
            return text, []
        pending = [Pending(field, None, f.kind, f.fingerprint, text[f.start : f.end]) for f in found]
        return (self.scanner.redact(text, found) if self.policy == REDACT else text), pending

    def blocks(self, pending: Sequence[Pending]) -> bool:
        return bool(pending) and self.policy == BLOCK

    # -- the one-call forms services use -----------------------------------------------------

    def pairs(
        self, field: str, items: Sequence[tuple[str, str]], resource_type: str, resource_id: str | None
    ) -> list[tuple[str, str]]:
        cleaned, pending = self.screen_pairs(field, items)
        self.settle(pending, resource_type, resource_id)
        return cleaned

    def text(self, field: str, text: str | None, resource_type: str, resource_id: str | None) -> str | None:
        cleaned, pending = self.screen_text(field, text)
        self.settle(pending, resource_type, resource_id)
        return cleaned

    def file(self, path: str, head: bytes) -> None:
        """Scan the first bytes of an uploaded file (text only); refuse it unless warning."""
        if not self.enabled or not head or b"\x00" in head[:_SNIFF_BYTES]:
            return
        text = head[: self.max_file_bytes].decode("utf-8", "ignore")
        _, pending = self.screen_text("artifact", text)
        self.settle(pending, "artifact", path, refuse=self.policy != WARN)

    # -- recording ---------------------------------------------------------------------------

    def settle(
        self,
        pending: Sequence[Pending],
        resource_type: str,
        resource_id: str | None,
        *,
        refuse: bool | None = None,
    ) -> None:
        """Record ``pending`` against the resource, scrub the request's audit payload, and
        raise if the policy (or ``refuse``) says the write must not happen."""
        if not pending:
            return
        refused = self.policy == BLOCK if refuse is None else refuse
        action = "blocked" if refused else _ACTION[self.policy]
        _scrub_request(pending)
        self._record(pending, resource_type, resource_id or "", action)
        for item in pending:
            # Where and what kind, never the value.
            _log.warning(
                "Secret (%s) found in %s%s of %s %s: %s",
                item.kind,
                item.field,
                f" '{item.key}'" if item.key else "",
                resource_type,
                resource_id or "(new)",
                action,
            )
        if refused:
            first = pending[0]
            named = f"{first.field} '{first.key}'" if first.key else first.field
            kinds = sorted({item.kind for item in pending})
            raise InvalidParameter(
                f"The {named} looks like it contains a secret ({', '.join(kinds)}); secrets may not be "
                f"stored (this server's secret policy is '{self.policy}'). Remove the credential "
                "and log a reference to it instead."
            )

    def _record(self, pending: Sequence[Pending], resource_type: str, resource_id: str, action: str) -> None:
        assert self.db is not None
        context = audit_context.current()
        now = now_ms()
        rows = [
            {
                "finding_id": uuid.uuid4().hex,
                "creation_time": now,
                "resource_type": resource_type,
                "resource_id": resource_id[:512],
                "field": item.field[:32],
                "key": item.key[:250] if item.key else None,
                "kind": item.kind,
                "action": action,
                "fingerprint": item.fingerprint,
                "rule_version": RULE_VERSION,
                "actor": context.actor if context else None,
                "request_id": context.request_id if context else None,
            }
            for item in pending
        ]

        def record(conn: Connection) -> None:
            conn.execute(secret_findings.insert(), rows)
            if self.audit is not None:
                self._audit(conn, rows, resource_type, resource_id, action)

        self.db.run_write(record, audit=False)

    def _audit(
        self, conn: Connection, rows: list[dict[str, Any]], resource_type: str, resource_id: str, action: str
    ) -> None:
        from ledgerflow.security.audit.log import Event

        assert self.audit is not None
        context = audit_context.current()
        self.audit.append(
            conn,
            Event(
                actor=context.actor if context else audit_context.local_actor(),
                action="secrets.detected",
                outcome="denied" if action == "blocked" else "success",
                resource_type=resource_type,
                resource_id=resource_id or None,
                source_address=context.source_address if context else audit_context.LOCAL_SOURCE,
                request_id=context.request_id if context else None,
                details={
                    "policy": self.policy,
                    "action": action,
                    "findings": [
                        {
                            "field": r["field"],
                            "key": r["key"],
                            "kind": r["kind"],
                            "fingerprint": r["fingerprint"],
                        }
                        for r in rows
                    ],
                },
            ),
        )


def _scrub_request(pending: Sequence[Pending]) -> None:
    """Replace the secrets in the current request's audit payload, so the record written
    with the change (summary and digest) is made from the redacted request."""
    context = audit_context.current()
    if context is None or context.payload is None:
        return
    replacements = sorted(
        ((p.secret, f"[REDACTED:{p.kind}]") for p in pending if p.secret), key=lambda r: -len(r[0])
    )
    context.payload = _replace(context.payload, replacements)


def _replace(value: Any, replacements: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for secret, marker in replacements:
            if secret in value:
                value = value.replace(secret, marker)
        return value
    if isinstance(value, Mapping):
        return {key: _replace(item, replacements) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_replace(item, replacements) for item in value]
    return value
