"""``GET /metrics``: a fresh registry per scrape, holding the request metrics (this process's,
or every worker's through the multiprocess files) and the cached business gauges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, Router
from starlette.types import Scope

from .business import BusinessCollector
from .http_metrics import HttpMetrics, RouteResolver, multiprocess_dir

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

METRICS_PATH = "/metrics"


class MetricsEndpoint:
    """The metrics of one app: what the middleware records and what a scrape returns."""

    def __init__(self, services: Services) -> None:
        self.local = CollectorRegistry()
        self.http = HttpMetrics(self.local)
        self.shared_dir = multiprocess_dir()
        self.business = BusinessCollector(
            services.db,
            services.config.metrics_cache_seconds,
            shared_dir=self.shared_dir,
            on_refresh=self.http.gauge_refreshes.inc,
        )

    def render(self) -> bytes:
        registry = CollectorRegistry()
        # The gauges first: a refresh they make is then already in the counters read next.
        registry.register(self.business)
        if self.shared_dir:
            MultiProcessCollector(registry, path=self.shared_dir)  # type: ignore[no-untyped-call]
        else:
            registry.register(self.local)
        return bytes(generate_latest(registry))

    def route(self) -> Route:
        async def metrics(_request: Request) -> Response:
            body = await run_in_threadpool(self.render)
            return Response(body, media_type=CONTENT_TYPE_LATEST)

        return Route(METRICS_PATH, metrics, methods=["GET"])


def route_resolver(router: Router) -> RouteResolver:
    """The template of the route a request would have matched (for requests refused before
    the router saw them)."""

    def resolve(scope: Scope) -> str | None:
        for route in router.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", "")) or None
        return None

    return resolve
