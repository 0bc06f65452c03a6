"""The authentication choke point: one pure-ASGI middleware in front of every route.

Each request is authenticated (HTTP Basic, Bearer token, or the UI session cookie) before any
route runs; only :data:`EXEMPT_PATHS` and static assets are served to anonymous callers. The
hot path is a header split, one SHA-256 and a dict lookup: the database is consulted on a
cache miss or when a cached credential is due for its revocation re-check.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerflow.security.auth import csrf
from ledgerflow.security.auth.identity import ADMIN, READ, WRITE, Identity, bind_identity, local_identity
from ledgerflow.security.auth.service import AuthService, no_admin_message
from ledgerflow.security.auth.sessions import COOKIE, read_cookie
from ledgerflow.server import jsonio

if TYPE_CHECKING:
    from ledgerflow.config import ServerConfig

# /version answers only the wire-protocol version string, which clients read before they
# authenticate (as MLflow serves it); /health says only "OK"; /favicon.ico is a static asset
# browsers fetch on their own (also for the login page).
EXEMPT_PATHS = frozenset({"/health", "/version", "/login", "/favicon.ico"})
EXEMPT_PREFIXES = ("/static/",)
API_PREFIXES = ("/api/", "/ajax-api/", "/get-artifact", "/model-versions/get-artifact")
# Read by machines (Prometheus), not browsers: refused with 401, never sent to the login page.
MACHINE_PATHS = frozenset({"/metrics"})
# POST endpoints that only read (MLflow sends searches as POST bodies).
_READ_POSTS = ("/search", "/search-datasets", "/get-latest-versions")
_ADMIN_PATHS = (
    "/2.0/ledgerflow/users/create",
    "/2.0/ledgerflow/users/disable",
    "/2.0/ledgerflow/users/list",
    "/2.0/mlflow/users/create",
    "/2.0/mlflow/users/update-admin",
    "/2.0/mlflow/users/delete",
)
BAD_CREDENTIALS = "Invalid credentials, or too many failed attempts; try again later."
REALM = b'Basic realm="ledgerflow"'


def required_scope(method: str, path: str) -> str:
    """The token scope a request needs: read for reads, write for changes, admin for users."""
    if any(path.endswith(suffix) for suffix in _ADMIN_PATHS):
        return ADMIN
    if method in csrf.SAFE_METHODS:
        return READ
    if method == "POST" and path.endswith(_READ_POSTS):
        return READ
    return WRITE


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in MACHINE_PATHS


class AuthMiddleware:
    def __init__(self, app: ASGIApp, auth: AuthService, config: ServerConfig, local_user: str) -> None:
        self.app = app
        self.auth = auth
        self.required = config.auth_required
        self.local = local_identity(local_user)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.required:
            await self._serve(self.local, scope, receive, send)
            return
        path: str = scope["path"]
        if path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        headers = dict(scope.get("headers") or [])
        identity = await self._from_authorization(headers.get(b"authorization"), scope)
        if identity is False:
            await self._unauthenticated(scope, send, BAD_CREDENTIALS)
            return
        if identity is None:
            cookie = read_cookie(headers.get(b"cookie", b"").decode("latin-1"), COOKIE)
            if cookie:
                found = self.auth.session_cached(cookie) or await run_in_threadpool(
                    self.auth.authenticate_session, cookie
                )
                if found is not None:
                    identity, token = found
                    if method not in csrf.SAFE_METHODS:
                        receive, passed = await _check_csrf(scope, headers, receive, token)
                        if not passed:
                            await _answer(send, 403, "PERMISSION_DENIED", "Missing or wrong CSRF token.")
                            return
        if not isinstance(identity, Identity):
            if not self.auth._admin_known and not await run_in_threadpool(self.auth.has_admin):
                await _answer(send, 401, "UNAUTHENTICATED", no_admin_message(self.auth.config), realm=True)
                return
            await self._unauthenticated(scope, send, "Authentication required.")
            return
        needed = required_scope(method, path)
        if not identity.has_scope(needed):
            await _answer(send, 403, "PERMISSION_DENIED", f"This credential lacks the '{needed}' scope.")
            return
        await self._serve(identity, scope, receive, send)

    async def _from_authorization(self, header: bytes | None, scope: Scope) -> Identity | None | bool:
        """The identity the Authorization header proves; None without one, False if it is bad."""
        if not header:
            return None
        scheme, _, value = header.decode("latin-1").partition(" ")
        value = value.strip()
        scheme = scheme.lower()
        if scheme == "bearer" and value:
            found = self.auth.token_cached(value) or await run_in_threadpool(
                self.auth.authenticate_token, value
            )
            return found or False
        if scheme == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            username, sep, password = decoded.partition(":")
            if not sep:
                return False
            client = scope.get("client")
            address = client[0] if client else None
            found = self.auth.basic_cached(username, password) or await run_in_threadpool(
                self.auth.authenticate_password, username, password, address
            )
            return found or False
        return False

    async def _serve(self, identity: Identity, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        state["identity"] = identity
        if self.required:
            _tell_audit(identity)
        with bind_identity(identity):
            await self.app(scope, receive, send)

    async def _unauthenticated(self, scope: Scope, send: Send, message: str) -> None:
        path: str = scope["path"]
        if not is_api(path) and scope["method"] in ("GET", "HEAD"):
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + ("?" + query if query else "")
            location = "/login?next=" + quote(target, safe="")
            await send(
                {"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode())]}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await _answer(send, 401, "UNAUTHENTICATED", message, realm=True)


def _tell_audit(identity: Identity) -> None:
    """Name the actor in the audit trail's request context, when the audit layer set one up."""
    try:
        from ledgerflow.security.audit import context as audit_context
    except ImportError:  # pragma: no cover - the audit package ships with the server
        return
    current = audit_context.current()
    if current is not None:
        current.actor = identity.username
        current.extra["identity"] = identity


async def _answer(send: Send, status: int, code: str, message: str, *, realm: bool = False) -> None:
    body = jsonio.dumps({"error_code": code, "message": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if realm:
        headers.append((b"www-authenticate", REALM))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _check_csrf(
    scope: Scope, headers: dict[bytes, bytes], receive: Receive, expected: str
) -> tuple[Receive, bool]:
    """Whether a cookie-authenticated change carries the session's CSRF token (header or form)."""
    origin = headers.get(b"origin")
    host = headers.get(b"host")
    if not csrf.origin_ok(
        origin.decode("latin-1") if origin else None,
        host.decode("latin-1") if host else None,
        scope.get("scheme", "http"),
    ):
        return receive, False
    given = headers.get(csrf.HEADER)
    if given is not None:
        return receive, csrf.same(expected, given.decode("latin-1"))
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type != b"application/x-www-form-urlencoded":
        return receive, False
    # Read the (small) form to find the token, then replay it to the route.
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return receive, False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > csrf.MAX_FORM_BYTES:
            return receive, False
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay, csrf.same(expected, csrf.form_field(body))
