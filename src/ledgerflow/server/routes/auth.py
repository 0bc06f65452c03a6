"""Users and tokens over REST (``/api/2.0/ledgerflow/users|tokens``), and the UI's login and
logout pages.

Handlers read the caller from the request's identity (set by the auth middleware). Creating,
listing and disabling users is for admins; anyone may manage their own tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.auth import csrf
from ledgerflow.security.auth.identity import require_admin, require_identity
from ledgerflow.security.auth.service import no_admin_message
from ledgerflow.security.auth.sessions import COOKIE, clear_header, cookie_header, read_cookie
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_USERS = "/2.0/ledgerflow/users"
_TOKENS = "/2.0/ledgerflow/tokens"


@TABLE.route("POST", f"{_USERS}/create", permission="admin")
def create_user(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_admin()
    user = services.auth.create_user(
        payload.req_string("username"),
        payload.string("password"),
        is_admin=bool(payload.boolean("is_admin", default=False)),
        kind=payload.string("kind", default="user") or "user",
        actor=caller.username,
    )
    return {"user": user}


@TABLE.route("GET", f"{_USERS}/list", permission="admin")
def list_users(services: Services, payload: Payload) -> dict[str, Any]:
    require_admin()
    return {"users": services.auth.list_users()}


@TABLE.route("POST", f"{_USERS}/disable", permission="admin")
def disable_user(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_admin()
    username = payload.req_string("username")
    if username == caller.username:
        raise InvalidParameter("You cannot disable yourself.")
    services.auth.set_disabled(username, True, actor=caller.username)
    return {}


@TABLE.route("GET", f"{_USERS}/current")
def current_user(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_identity()
    return {
        "user": {
            "user_id": caller.user_id or "",
            "username": caller.username,
            "kind": caller.kind,
            "is_admin": caller.is_admin,
            "scopes": sorted(caller.scopes),
            "groups": sorted(caller.groups),
        }
    }


@TABLE.route("POST", f"{_TOKENS}/create")
def create_token(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_identity()
    return services.auth.create_token(
        caller,
        payload.req_string("name"),
        payload.raw("scopes"),
        payload.raw("expires_in_days"),
        payload.string("username"),
    )


@TABLE.route("GET", f"{_TOKENS}/list")
def list_tokens(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_identity()
    everyone = bool(payload.boolean("all", default=False))
    return {"tokens": services.auth.list_tokens(caller, everyone)}


@TABLE.route("POST", f"{_TOKENS}/revoke")
def revoke_token(services: Services, payload: Payload) -> dict[str, Any]:
    services.auth.revoke_token(require_identity(), payload.req_string("token_id"))
    return {}


def safe_next(target: str | None) -> str:
    """Only a path on this server (never ``//host`` or a full URL): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def routes(services: Services) -> list[BaseRoute]:
    from ledgerflow.server.ui.headers import SecurityHeaders
    from ledgerflow.server.ui.rendering import Renderer

    renderer = Renderer()
    auth = services.auth

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    def login_page(request: Request, token: str, message: str = "", status: int = 200) -> Response:
        if not message and not auth.has_admin():
            message = no_admin_message(services.config)
        response = renderer.page(
            "login.html",
            status,
            csrf_token=token,
            next=safe_next(request.query_params.get("next")),
            message=message,
        )
        response.headers.append(
            "set-cookie",
            cookie_header(csrf.LOGIN_COOKIE, token, secure=secure(request), max_age=3600, same_site="Strict"),
        )
        response.headers["cache-control"] = "no-store"
        return response

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return await run_in_threadpool(login_page, request, csrf.new_token())
        form = await request.form()
        cookie_token = request.cookies.get(csrf.LOGIN_COOKIE)
        origin_ok = csrf.origin_ok(
            request.headers.get("origin"), request.headers.get("host"), request.url.scheme
        )
        if not origin_ok or not csrf.same(cookie_token, str(form.get(csrf.FIELD) or "")):
            return renderer.page(
                "login.html",
                403,
                csrf_token=csrf.new_token(),
                next="/",
                message="The form expired; try again.",
            )
        username = str(form.get("username") or "")
        password = str(form.get("password") or "")
        client = request.client.host if request.client else None
        identity = await run_in_threadpool(auth.authenticate_password, username, password, client)
        if identity is None:
            return await run_in_threadpool(
                login_page,
                request,
                csrf.new_token(),
                "Invalid credentials, or too many failed attempts.",
                401,
            )
        secret, _ = await run_in_threadpool(auth.start_session, identity)
        target = safe_next(str(form.get("next") or "/"))
        response = RedirectResponse(target, status_code=303)
        max_age = int(services.config.session_seconds)
        response.headers.append(
            "set-cookie", cookie_header(COOKIE, secret, secure=secure(request), max_age=max_age)
        )
        response.headers.append("set-cookie", clear_header(csrf.LOGIN_COOKIE, secure=secure(request)))
        return response

    async def logout(request: Request) -> Response:
        secret = read_cookie(request.headers.get("cookie"), COOKIE)
        if secret:
            await run_in_threadpool(auth.end_session, secret, request.state.identity)
        response = RedirectResponse("/login", status_code=303)
        response.headers.append("set-cookie", clear_header(COOKIE, secure=secure(request)))
        return response

    return [
        Route("/login", SecurityHeaders(_endpoint(login)), methods=["GET", "POST"]),
        Route("/logout", SecurityHeaders(_endpoint(logout)), methods=["POST"]),
    ]


def _endpoint(handler: Any) -> Any:
    from starlette.routing import request_response

    return request_response(handler)
