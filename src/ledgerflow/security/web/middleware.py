"""One cheap ASGI layer in front of every route: Host allow-list, Origin checks, CORS and
security headers (see :mod:`ledgerflow.security.web.hosts` for the policy).

It runs before authentication, so a rebinding page or a foreign origin is refused before any
credential is looked at, and a CORS preflight (which never carries credentials) is answered
here. The per-request cost is one pass over the request headers, a cached dict lookup for the
Host, and a header merge on the response start.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerflow.security.web.hosts import HostPolicy, normalise_origin
from ledgerflow.server import jsonio

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Pages render no inline script or style; nothing may frame any response of this server.
HTML_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# JSON and file bodies are never documents: should a browser be talked into rendering one,
# it gets no script, no subresources and an opaque origin.
OTHER_POLICY = b"default-src 'none'; frame-ancestors 'none'; sandbox"
HSTS = b"max-age=31536000; includeSubDomains"
BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
CORS_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE"
CORS_HEADERS = b"authorization, content-type, x-request-id"
# Static files and the icon may be cached; every other answer may hold private data.
CACHEABLE_PREFIXES = ("/static/", "/favicon.ico")


class WebGuard:
    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host: bytes | None = None
        origin: bytes | None = None
        referer: bytes | None = None
        preflight = False
        for name, value in scope.get("headers") or ():
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"referer":
                referer = value
            elif name == b"access-control-request-method":
                preflight = True
        if host is not None:
            allowed = self.policy.host_allowed(host)
            if allowed is None:
                await answer(
                    send, 400, "INVALID_PARAMETER_VALUE", "Bad Request. The Host header is malformed."
                )
                return
            if not allowed:
                await answer(
                    send,
                    403,
                    "PERMISSION_DENIED",
                    "This server does not answer to that Host name (see --allowed-hosts); "
                    "refused as a possible DNS rebinding attack.",
                )
                return
        method: str = scope["method"]
        cors: bytes | None = None
        listed = self.policy.cors_origins
        if origin is not None and listed and normalise_origin(origin.decode("latin-1")) in listed:
            cors = origin
        if preflight and method == "OPTIONS" and origin is not None:
            if cors is None:
                await answer(
                    send, 403, "PERMISSION_DENIED", "Cross-origin requests from this origin are not allowed."
                )
                return
            await _preflight(send, cors)
            return
        if method not in SAFE_METHODS and cors is None:
            source = origin if origin is not None else referer
            if source is not None and not self._same_origin(scope, host, source):
                await answer(
                    send,
                    403,
                    "PERMISSION_DENIED",
                    "Cross-origin state-changing request refused (the Origin is neither this "
                    "server nor one of --cors-allowed-origins).",
                )
                return
        await self.app(scope, receive, self._with_headers(scope, send, cors))

    def _same_origin(self, scope: Scope, host: bytes | None, source: bytes) -> bool:
        given = normalise_origin(source.decode("latin-1"))
        if given is None:
            return False  # "null" (sandboxed frames, file: pages) or garbage
        # Compared without the scheme: behind a TLS-terminating proxy the app sees http while
        # the browser says https; the host and port are what a foreign site cannot fake.
        own = self.policy.own_origin("http", host)
        return own is not None and given.split("://", 1)[1] == own.split("://", 1)[1]

    def _with_headers(self, scope: Scope, send: Send, cors: bytes | None) -> Send:
        https = scope.get("scheme") == "https"
        path: str = scope["path"]
        no_store = not path.startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in BASE_HEADERS if pair[0] not in present)
                if b"content-security-policy" not in present:
                    html = any(
                        n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers
                    )
                    headers.append((b"content-security-policy", HTML_POLICY if html else OTHER_POLICY))
                if no_store and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if https and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", HSTS))
                if cors is not None:
                    headers.append((b"access-control-allow-origin", cors))
                    headers.append((b"vary", b"Origin"))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers


async def _preflight(send: Send, origin: bytes) -> None:
    headers = [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-methods", CORS_METHODS),
        (b"access-control-allow-headers", CORS_HEADERS),
        (b"access-control-max-age", b"600"),
        (b"vary", b"Origin"),
        (b"content-length", b"0"),
        *BASE_HEADERS,
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def answer(send: Send, status: int, code: str, message: str) -> None:
    body = jsonio.dumps({"error_code": code, "message": message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"content-security-policy", OTHER_POLICY),
        *BASE_HEADERS,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
