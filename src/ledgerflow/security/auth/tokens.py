"""API token format: ``lf_<token id>_<secret>``.

The id lets a listing and a revocation name a token without its secret; the secret carries
256 random bits. Only SHA-256 of the whole token is stored, and it is compared by lookup of
that hash, so the server never holds anything that could be replayed.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.auth.identity import ALL_SCOPES

PREFIX = "lf_"
PERSONAL = "personal"
SERVICE = "service"


def new_token() -> tuple[str, str]:
    """A fresh (token id, full token)."""
    token_id = uuid.uuid4().hex
    return token_id, f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX) and value.count("_") >= 2


def parse_scopes(value: object) -> frozenset[str]:
    """Scopes from a list or a comma-separated string; each one of read / write / admin."""
    if value is None or value == "" or value == []:
        raise InvalidParameter("A token needs at least one scope: read, write or admin.")
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidParameter("Token scopes must be a list of read, write, admin.")
    scopes = {str(item).strip().lower() for item in items if str(item).strip()}
    unknown = scopes - ALL_SCOPES
    if unknown or not scopes:
        raise InvalidParameter(f"Unknown token scope(s) {sorted(unknown)}; use read, write or admin.")
    return frozenset(scopes)


def format_scopes(scopes: frozenset[str]) -> str:
    return ",".join(sorted(scopes))
