"""The ASGI application factory.

``create_app(config)`` builds a fresh app with its own services; nothing lives in module
globals, so tests build as many independent servers as they like.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ledgerflow.config import ServerConfig
from ledgerflow.errors import BadRequest, InvalidParameter, LedgerflowError
from ledgerflow.observability.exposition import MetricsEndpoint, route_resolver
from ledgerflow.observability.http_metrics import HttpMetricsMiddleware
from ledgerflow.security.audit import context as audit_context
from ledgerflow.security.audit.middleware import AuditContextMiddleware
from ledgerflow.security.auth.middleware import AuthMiddleware
from ledgerflow.security.auth.proxy import ForwardedHeaders
from ledgerflow.security.web.hosts import HostPolicy
from ledgerflow.security.web.middleware import WebGuard
from ledgerflow.server import jsonio
from ledgerflow.server.body_limits import check_depth, read_limited_body
from ledgerflow.server.endpoints import Endpoint, EndpointTable, Handler
from ledgerflow.server.error_handlers import install_error_handlers, json_error
from ledgerflow.server.fast_router import install_fast_dispatch
from ledgerflow.server.payload import Payload
from ledgerflow.store.database import WouldBlock
from ledgerflow.tracking.services import Services, build_services

JSON = "application/json"
_BODY_METHODS = ("POST", "PATCH", "DELETE", "PUT")


def api_table() -> EndpointTable:
    """Every REST endpoint, from the route modules, in one table."""
    from ledgerflow.server.routes import ALL_TABLES

    table = EndpointTable()
    for part in ALL_TABLES:
        table.extend(part)
    return table


async def read_payload(request: Request, path_params: dict[str, Any]) -> Payload:
    if request.method in _BODY_METHODS:
        content_type = request.headers.get("content-type")
        limits = request.app.state.services.config
        body = await read_limited_body(request, limits.max_request_bytes)
        if not body and request.method == "DELETE" and not content_type:
            return Payload(dict(request.query_params) | path_params)
        if not content_type:
            raise InvalidParameter("Bad Request. Content-Type header is missing.")
        if not content_type.split(";")[0].strip().lower() == JSON:
            raise InvalidParameter(
                f"Bad Request. Content-Type must be application/json, got '{content_type}'."
            )
        try:
            data = jsonio.loads(body) if body else {}
        except ValueError:
            raise BadRequest("Bad Request. The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadRequest("Bad Request. The request body must be a JSON object.")
        check_depth(body, data, limits.max_json_depth)
        return Payload(data | path_params)
    query: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in query:
            existing = query[key]
            query[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            query[key] = value
    return Payload(query | path_params, from_query=True)


# The largest body a handler marked ``inline`` runs on the event loop for: a log-metric, or a
# log-batch of a couple of hundred points (~1 ms). Bigger ones go to a worker thread, so one
# request never holds up the others for long.
INLINE_MAX_BODY = 16 * 1024


def make_endpoint_route(prefix: str, endpoint: Endpoint, services: Services) -> Route:
    handler = endpoint.handler
    inline = endpoint.inline if services.db.writes_without_waiting else None

    async def call(request: Request) -> Response:
        try:
            payload = await read_payload(request, dict(request.path_params))
            # Names the change for the audit record Database.run_write appends. Auth will
            # check endpoint.permission here ("admin" endpoints: admins only).
            audit_context.set_action(endpoint.action, payload.data)
            if inline is not None and _small(request) and inline(payload):
                result = await _run_inline(handler, services, payload)
            else:
                result = await run_in_threadpool(handler, services, payload)
        except LedgerflowError as error:
            return json_error(error)
        return Response(jsonio.dumps(result), media_type=JSON)

    return Route(prefix + endpoint.path, call, methods=[endpoint.method])


def _small(request: Request) -> bool:
    length = request.headers.get("content-length")
    return length is not None and length.isdigit() and int(length) <= INLINE_MAX_BODY


async def _run_inline(handler: Handler, services: Services, payload: Payload) -> dict[str, Any]:
    """Run a short write on the event loop: a thread hop costs more than the write itself. The
    write never waits (see Database.no_wait); when the database is busy it runs again in a
    worker thread, where waiting for the lock is harmless."""
    try:
        with services.db.no_wait():
            return handler(services, payload)
    except WouldBlock:
        return await run_in_threadpool(handler, services, payload)


def build_routes(services: Services, table: EndpointTable) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for endpoint in table.endpoints:
        prefixes = ("/ajax-api",) if endpoint.ajax_only else ("/api", "/ajax-api")
        routes.extend(make_endpoint_route(prefix, endpoint, services) for prefix in prefixes)
    from ledgerflow.server.routes import extra_routes

    routes.extend(extra_routes(services))
    return routes


def create_app(config: ServerConfig | None = None, services: Services | None = None) -> Starlette:
    config = config or ServerConfig()
    services = services or build_services(config)
    table = api_table()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # SQLite's WAL is copied back into the database off the request path while serving.
        services.db.start_background_checkpoints()
        # The webhook delivery worker runs only while the app serves.
        services.webhooks.start()
        # Metric alert rules are checked in the background while the app serves.
        services.alerts.start()
        # Results of an older scanner or allow-list are rescanned in the background.
        services.scanning.start()
        yield
        services.close()

    from ledgerflow.security.authz.enforce import install as install_authorization

    routes = build_routes(services, table)
    # Prometheus metrics: request counters/latency by route template, cached business gauges.
    metrics = MetricsEndpoint(services)
    routes.append(metrics.route())
    # Every route gets its declared permission check (default deny for undeclared ones).
    install_authorization(routes, services)
    app = Starlette(routes=routes, lifespan=lifespan)
    install_fast_dispatch(app.router)
    app.state.services = services
    app.state.endpoints = table
    install_error_handlers(app)
    # Starlette runs the last-added middleware first: forwarded headers are settled before the
    # audit context reads the client address, and authentication runs inside that context so
    # it can name the actor.
    app.add_middleware(AuthMiddleware, auth=services.auth, config=config, local_user=audit_context.ANONYMOUS)
    app.add_middleware(AuditContextMiddleware, audit=services.audit)
    # Host allow-list, Origin checks, CORS and security headers, ahead of any credential work
    # (and after forwarded headers settled the scheme, which decides HSTS).
    app.add_middleware(WebGuard, policy=HostPolicy(config.allowed_hosts, config.cors_allowed_origins))
    # Inside ForwardedHeaders (which may copy the scope), so the router's matched route is seen.
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.http, resolve=route_resolver(app.router))
    app.add_middleware(ForwardedHeaders, trusted=config.trusted_proxies)
    return app
