"""The trust store: public keys that may sign model versions and attestations.

Each key has an id (SHA-256 of its SPKI PEM, the OMS ``publicKey.hint``), a validity window
``[not_before, not_after)`` in epoch milliseconds, and a state. A signature is trusted when
its key is known, not revoked, and was inside its window at the time the server recorded the
signature (the server's own clock, not a time claimed by the signer), so rotating a key
keeps what it signed before valid while a revoked key invalidates everything it signed.

Rotation adds the successor, ends the old key's window now and records ``rotated_to``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledgerflow.errors import InvalidParameter, ResourceAlreadyExists, ResourceConflict, ResourceDoesNotExist
from ledgerflow.governance.signing import records
from ledgerflow.governance.signing.keys import ALGORITHM, canonical_public_pem, key_id_of, load_public_key
from ledgerflow.security.audit import context as audit_context
from ledgerflow.security.audit.log import SUCCESS, AuditLog, Event
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import now_ms

ACTIVE = "active"
REVOKED = "revoked"
MAX_LABEL = 256
MAX_REASON = 1000


class UntrustedKey(Exception):
    """A key the trust store does not vouch for at the time asked (message says why)."""


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    label: str
    algorithm: str
    public_key_pem: str
    not_before: int
    not_after: int | None
    status: str
    revoked_at: int | None
    revocation_reason: str | None
    rotated_to: str | None
    created_by: str | None
    creation_time: int

    @classmethod
    def from_row(cls, row: Any) -> TrustedKey:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})

    def to_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {key: value for key, value in out.items() if value is not None}

    def problem_at(self, when_ms: int) -> str | None:
        """Why this key cannot vouch for a signature recorded at ``when_ms`` (None: it can)."""
        if self.status == REVOKED:
            reason = f": {self.revocation_reason}" if self.revocation_reason else ""
            return f"key {self.key_id} was revoked{reason}"
        if when_ms < self.not_before:
            return f"key {self.key_id} is not valid before {self.not_before}"
        if self.not_after is not None and when_ms >= self.not_after:
            return f"key {self.key_id} expired at {self.not_after}"
        return None


def _actor() -> str | None:
    context = audit_context.current()
    return context.actor if context else None


def _label(label: str | None, fallback: str) -> str:
    text = (label or "").strip() or fallback
    if len(text) > MAX_LABEL:
        raise InvalidParameter(f"A key label is at most {MAX_LABEL} characters.")
    return text


def _window(not_before: int | None, not_after: int | None, now: int) -> tuple[int, int | None]:
    start = now if not_before is None else int(not_before)
    if start < 0 or (not_after is not None and int(not_after) <= start):
        raise InvalidParameter("A key's not_after must be later than its not_before.")
    return start, None if not_after is None else int(not_after)


class TrustStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads --------------------------------------------------------------------------------

    def get(self, key_id: str) -> TrustedKey:
        with self.db.read() as conn:
            return self._require(conn, key_id)

    def find(self, key_id: str) -> TrustedKey | None:
        with self.db.read() as conn:
            row = records.key_row(conn, key_id)
        return TrustedKey.from_row(row) if row is not None else None

    def list(self) -> list[TrustedKey]:
        with self.db.read() as conn:
            return [TrustedKey.from_row(row) for row in records.key_rows(conn)]

    def trusted(self, key_id: str | None, when_ms: int) -> TrustedKey:
        """The key, if it vouches for a signature recorded at ``when_ms``; else UntrustedKey."""
        if not key_id:
            raise UntrustedKey("the bundle names no key (publicKey.hint)")
        key = self.find(key_id)
        if key is None:
            raise UntrustedKey(f"key {key_id} is not in the trust store")
        problem = key.problem_at(when_ms)
        if problem is not None:
            raise UntrustedKey(problem)
        return key

    @staticmethod
    def _require(conn: Connection, key_id: str) -> TrustedKey:
        row = records.key_row(conn, key_id)
        if row is None:
            raise ResourceDoesNotExist(f"No signing key with id '{key_id}' in the trust store.")
        return TrustedKey.from_row(row)

    # -- changes (audited by the caller's request context) ------------------------------------

    def _insert(
        self, conn: Connection, pem: str, label: str | None, not_before: int | None, not_after: int | None
    ) -> TrustedKey:
        canonical = canonical_public_pem(pem)
        key_id = key_id_of(canonical)
        if records.key_row(conn, key_id) is not None:
            raise ResourceAlreadyExists(f"The key {key_id} is already in the trust store.")
        now = now_ms()
        start, end = _window(not_before, not_after, now)
        values = {
            "key_id": key_id,
            "label": _label(label, key_id[:16]),
            "algorithm": ALGORITHM,
            "public_key_pem": canonical,
            "not_before": start,
            "not_after": end,
            "status": ACTIVE,
            "revoked_at": None,
            "revocation_reason": None,
            "rotated_to": None,
            "created_by": _actor(),
            "creation_time": now,
        }
        records.insert_key(conn, values)
        return TrustedKey(**values)  # type: ignore[arg-type]

    def add(
        self,
        public_key_pem: str,
        label: str | None = None,
        *,
        not_before: int | None = None,
        not_after: int | None = None,
    ) -> TrustedKey:
        load_public_key(public_key_pem)
        result: TrustedKey = self.db.run_write(
            lambda conn: self._insert(conn, public_key_pem, label, not_before, not_after)
        )
        return result

    def ensure(self, public_key_pem: str, label: str, audit: AuditLog | None = None) -> TrustedKey:
        """Add a key unless it is already there (the server's own key at start-up); the
        addition is an audit record of its own, as no request is behind it."""
        known = self.find(key_id_of(canonical_public_pem(public_key_pem)))
        if known is not None:
            return known

        def trust(conn: Connection) -> TrustedKey:
            key = self._insert(conn, public_key_pem, label, None, None)
            if audit is not None:
                audit.append(
                    conn,
                    Event(
                        actor="system",
                        action="signing_keys.trust",
                        outcome=SUCCESS,
                        resource_type="signing_key",
                        resource_id=key.key_id,
                        source_address=audit_context.LOCAL_SOURCE,
                        details={"label": key.label, "public_key_pem": key.public_key_pem},
                    ),
                )
            return key

        try:
            result: TrustedKey = self.db.run_write(trust)
            return result
        except (ResourceAlreadyExists, IntegrityError):  # another replica added it just now
            return self.get(key_id_of(canonical_public_pem(public_key_pem)))

    def revoke(self, key_id: str, reason: str | None = None) -> TrustedKey:
        text = (reason or "").strip() or None
        if text is not None and len(text) > MAX_REASON:
            raise InvalidParameter(f"A revocation reason is at most {MAX_REASON} characters.")

        def revoke(conn: Connection) -> TrustedKey:
            key = self._require(conn, key_id)
            if key.status == REVOKED:
                raise ResourceConflict(f"The key {key_id} is already revoked.")
            records.update_key(conn, key_id, status=REVOKED, revoked_at=now_ms(), revocation_reason=text)
            return self._require(conn, key_id)

        result: TrustedKey = self.db.run_write(revoke)
        return result

    def rotate(self, key_id: str, new_public_key_pem: str, label: str | None = None) -> TrustedKey:
        """Add the successor of ``key_id`` and end the old key's window now."""
        load_public_key(new_public_key_pem)

        def rotate(conn: Connection) -> TrustedKey:
            old = self._require(conn, key_id)
            if old.status == REVOKED:
                raise ResourceConflict(f"The key {key_id} is revoked; add a new key instead.")
            if old.rotated_to is not None:
                raise ResourceConflict(f"The key {key_id} was already rotated to {old.rotated_to}.")
            new = self._insert(conn, new_public_key_pem, label or old.label, None, None)
            end = new.not_before if old.not_after is None else min(old.not_after, new.not_before)
            records.update_key(conn, key_id, not_after=end, rotated_to=new.key_id)
            return new

        result: TrustedKey = self.db.run_write(rotate)
        return result
