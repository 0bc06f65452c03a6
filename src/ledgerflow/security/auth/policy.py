"""The password policy: long enough, not trivially guessable, not the username."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledgerflow.errors import InvalidParameter

# A handful of passwords every guessing list starts with, including MLflow's old default.
_COMMON = frozenset(
    {
        "password1234",
        "password12345",
        "passwordpassword",
        "123456789012",
        "qwertyuiopasdf",
        "administrator",
        "letmeinletmein",
        "changemechangeme",
        "ledgerflowledgerflow",
        "mlflowmlflow",
    }
)
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+\-]{0,255}$")


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    max_length: int = 1024
    min_distinct: int = 5

    def check(self, password: str, username: str | None = None) -> None:
        if not isinstance(password, str) or not password:
            raise InvalidParameter("A password is required.")
        if len(password) < self.min_length:
            raise InvalidParameter(f"The password must be at least {self.min_length} characters long.")
        if len(password) > self.max_length:
            raise InvalidParameter(f"The password must be at most {self.max_length} characters long.")
        if len(set(password)) < self.min_distinct:
            raise InvalidParameter(
                f"The password must use at least {self.min_distinct} different characters."
            )
        lowered = password.lower()
        if lowered in _COMMON:
            raise InvalidParameter("The password is too common; choose another.")
        if username and username.lower() in lowered:
            raise InvalidParameter("The password must not contain the username.")


def check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME_PATTERN.match(username):
        raise InvalidParameter(
            "A username is 1-256 characters: letters, digits and . _ @ + -, starting with a letter or digit."
        )
    return username
