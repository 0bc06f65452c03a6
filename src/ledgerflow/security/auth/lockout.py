"""Failed-login counting and lockout.

Counters are keyed by a hash of the normalized username, whether or not the user exists, and
live in the database so every replica sees the same count. A locked name is refused with the
same answer as a wrong password. A per-address limit (in memory, per server) slows one client
spraying many usernames.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from ledgerflow.store import auth as store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ledgerflow.store.database import Database


def subject_of(username: str) -> str:
    return hashlib.sha256(username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()


class Lockout:
    def __init__(self, db: Database, threshold: int, window_seconds: float, lock_seconds: float) -> None:
        self.db = db
        self.threshold = max(1, threshold)
        self.window_ms = int(window_seconds * 1000)
        self.lock_ms = int(lock_seconds * 1000)

    def is_locked(self, username: str, now_ms: int | None = None) -> bool:
        now = now_ms if now_ms is not None else _now_ms()
        with self.db.read() as conn:
            row = store.attempts_of(conn, subject_of(username))
        return row is not None and row.locked_until is not None and row.locked_until > now

    def record_failure(self, username: str, now_ms: int | None = None) -> bool:
        """Count one failure; returns whether the name is now locked."""
        now = now_ms if now_ms is not None else _now_ms()
        subject = subject_of(username)

        def count(conn: Connection) -> bool:
            row = store.attempts_of(conn, subject, for_update=True)
            if row is None or now - row.first_failure_time > self.window_ms:
                failures, first = 1, now
            else:
                failures, first = row.failures + 1, row.first_failure_time
            locked_until = row.locked_until if row is not None else None
            if failures >= self.threshold:
                locked_until = now + self.lock_ms
                failures, first = 0, now
            store.save_attempts(conn, subject, failures, first, now, locked_until, row is not None)
            return locked_until is not None and locked_until > now

        try:
            return bool(self.db.run_write(count, audit=False))
        except IntegrityError:  # two replicas inserted the first failure at once
            return self.is_locked(username, now)

    def clear(self, username: str) -> None:
        self.db.run_write(store.clear_attempts, subject_of(username), audit=False)


class AddressLimiter:
    """At most ``limit`` failed logins per ``window`` seconds from one address."""

    def __init__(self, limit: int = 100, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, address: str | None) -> bool:
        if not address:
            return False
        with self._lock:
            recent = self._recent(address)
            return recent is not None and len(recent) >= self.limit

    def failed(self, address: str | None) -> None:
        if not address:
            return
        with self._lock:
            recent = self._recent(address)
            if recent is None:
                if len(self._failures) > 10_000:
                    self._failures.clear()
                recent = self._failures[address] = deque()
            recent.append(time.monotonic())

    def _recent(self, address: str) -> deque[float] | None:
        recent = self._failures.get(address)
        if recent is None:
            return None
        horizon = time.monotonic() - self.window
        while recent and recent[0] < horizon:
            recent.popleft()
        return recent


def _now_ms() -> int:
    return int(time.time() * 1000)
