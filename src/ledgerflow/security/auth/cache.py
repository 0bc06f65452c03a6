"""A small in-memory cache of verified credentials, keyed by a hash of the credential.

Entries remember when the database last confirmed them; the service re-confirms an entry
older than the revocation bound before trusting it again, so a revocation made on any replica
takes effect everywhere within that bound while the hot path stays a dict lookup.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from ledgerflow.security.auth.identity import Identity


@dataclass
class Entry:
    identity: Identity
    checked_at: float  # monotonic time the database last confirmed this credential
    expires_at: float  # monotonic time after which the credential must be fully re-verified
    extra: Any = None  # e.g. the session's CSRF token, the password hash that was verified


class CredentialCache:
    def __init__(self, recheck_seconds: float, max_entries: int = 10_000) -> None:
        self.recheck_seconds = recheck_seconds
        self.max_entries = max_entries
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def fresh(self, key: str) -> Entry | None:
        """The entry if it may be trusted without asking the database."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = time.monotonic()
        if now - entry.checked_at > self.recheck_seconds or now > entry.expires_at:
            return None
        return entry

    def get(self, key: str) -> Entry | None:
        """The entry however stale (the caller re-confirms it)."""
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() > entry.expires_at:
            self.drop(key)
            return None
        return entry

    def put(self, key: str, identity: Identity, ttl: float, extra: Any = None) -> Entry:
        now = time.monotonic()
        entry = Entry(identity, now, now + ttl, extra)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                # Drop the oldest half; the dict keeps insertion order.
                for stale in list(self._entries)[: self.max_entries // 2]:
                    self._entries.pop(stale, None)
            self._entries[key] = entry
        return entry

    def confirm(self, entry: Entry) -> None:
        entry.checked_at = time.monotonic()

    def drop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
