"""CSRF protection for the web UI.

A cookie-authenticated request that changes state must prove it came from one of our pages:
forms carry a ``csrf_token`` field, scripts an ``X-CSRF-Token`` header, equal to the token of
the session. Before login there is no session, so the login form uses a double-submit token
(a random cookie echoed in the form). Requests with a foreign ``Origin`` are refused outright.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

FIELD = "csrf_token"
HEADER = b"x-csrf-token"
LOGIN_COOKIE = "lf_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 64 * 1024


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def form_field(body: bytes, name: str = FIELD) -> str | None:
    try:
        values = parse_qs(body.decode("utf-8"), max_num_fields=100).get(name)
    except (UnicodeDecodeError, ValueError):
        return None
    return values[0] if values else None


def origin_ok(origin: str | None, host: str | None, scheme: str) -> bool:
    """No Origin (old browsers, same-origin navigations) or our own origin."""
    if not origin:
        return True
    if origin == "null" or not host:
        return False
    return origin.rstrip("/").lower() == f"{scheme}://{host}".lower()
