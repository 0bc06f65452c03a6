"""Argon2id password hashing.

Verification is slow on purpose. For a username that does not exist the hasher still runs one
verification against a throwaway hash, so the answer takes as long as for a wrong password.
``verifications`` counts every verification, which lets tests check that both paths pay it.
"""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    def __init__(self, time_cost: int = 3, memory_cost_kib: int = 65536, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(32))
        self._lock = threading.Lock()
        self.verifications = 0

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; with no stored hash it verifies against a dummy."""
        with self._lock:
            self.verifications += 1
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False
