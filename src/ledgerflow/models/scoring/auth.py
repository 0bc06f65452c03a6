"""Access control for the scoring server (``ledgerflow models serve``).

The simplest sound design: one static bearer token, given by the operator (``--auth-token``,
the ``LEDGERFLOW_SCORING_TOKEN`` variable, or ``--auth-token-file``), required on
``/invocations``. Only its SHA-256 digest is kept, compared in constant time. ``/ping``,
``/health`` and ``/version`` stay open for load-balancer and container health checks; they
reveal nothing about the model.

Without a token the server is for this machine only, like ``ledgerflow ui``: it binds loopback
and refuses any other address unless ``--no-auth`` is spelled out.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.web.middleware import answer

OPEN_PATHS = frozenset({"/ping", "/health", "/version"})
TOKEN_ENV = "LEDGERFLOW_SCORING_TOKEN"
MIN_TOKEN_LENGTH = 16
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def check_token(token: str) -> str:
    token = token.strip()
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise InvalidParameter(
            f"The scoring token must be at least {MIN_TOKEN_LENGTH} characters without spaces "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
        )
    return token


def resolve_token(token: str | None, token_file: str | None) -> str | None:
    """The configured token (from the option/variable or the file), checked; None if neither."""
    if token and token_file:
        raise InvalidParameter(
            "Give --auth-token (or LEDGERFLOW_SCORING_TOKEN) or --auth-token-file, not both."
        )
    if token_file:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidParameter(
                f"Cannot read --auth-token-file '{token_file}': {error.strerror}."
            ) from None
        lines = text.strip().splitlines()
        return check_token(lines[0] if lines else "")
    return check_token(token) if token else None


def check_bind(host: str, token: str | None, no_auth: bool) -> None:
    """Refuse to serve other machines without a token unless --no-auth says so."""
    if no_auth and token:
        raise InvalidParameter("--no-auth contradicts --auth-token / --auth-token-file.")
    if token is None and not no_auth and host not in LOOPBACK:
        raise InvalidParameter(
            f"Refusing to serve the model on {host} without authentication: anyone who reaches the "
            f"port could use it. Set {TOKEN_ENV} (or --auth-token-file), or pass --no-auth."
        )


class TokenAuth:
    """Requires ``Authorization: Bearer <token>`` on every path but the health checks."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = _digest(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = b""
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                header = value
        scheme, _, given = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(_digest(given.strip()), self.expected):
            await answer(
                send, 401, "UNAUTHENTICATED", "A valid 'Authorization: Bearer <token>' header is required."
            )
            return
        await self.app(scope, receive, send)


def secure(app: ASGIApp, token: str | None, allowed_hosts: tuple[str, ...] | None) -> ASGIApp:
    """*app* behind the token check (when a token is set) and the browser-hardening layer."""
    from ledgerflow.security.web.hosts import HostPolicy
    from ledgerflow.security.web.middleware import WebGuard

    inner = TokenAuth(app, token) if token is not None else app
    return WebGuard(inner, HostPolicy(allowed_hosts))
