"""Request counters and latency histograms, labelled by route template, method and status class.

Labels are bounded by construction: the route is the *template* the request matched
(``/api/2.0/mlflow/runs/get``, ``/runs/{run_id}``), never the raw path; a request that
matched no route is ``unmatched``; methods outside the HTTP set are ``OTHER``; statuses are
classes (``2xx`` ... ``5xx``). No run id, user or free text ever becomes a label.

Under several server workers prometheus-client's multiprocess mode writes each worker's
values to files in ``PROMETHEUS_MULTIPROC_DIR`` (set by ``ledgerflow server --workers N``
before the workers start), and the scrape sums them; in one process the values live in the
app's own registry.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets from 5 ms (a cached read) to 60 s (a large artifact upload).
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

RouteResolver = Callable[[Scope], str | None]
# A cap on the cache below, whatever the labels: a method outside _METHODS is one label
# ("OTHER") but many keys, and a client chooses it.
_MAX_CACHED_CHILDREN = 4096


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class HttpMetrics:
    """The request metrics of one app. In multiprocess mode they are registered nowhere (the
    scrape reads every worker's files); otherwise on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        target = None if multiprocess_dir() else registry
        self.requests = Counter(
            "ledgerflow_http_requests_total",
            "HTTP requests answered, by route template, method and status class.",
            ["route", "method", "status"],
            registry=target,
        )
        self.latency = Histogram(
            "ledgerflow_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template and method.",
            ["route", "method"],
            buckets=_BUCKETS,
            registry=target,
        )

        # How often the business gauges were recomputed (each time one DB query set).
        self.gauge_refreshes = Counter(
            "ledgerflow_business_gauge_refreshes_total",
            "Recomputations of the business gauges from the database (one query set each).",
            registry=target,
        )

        # The labelled children of each (route, method, status) seen: the labels are bounded
        # (see the module doc), and labels() validates and locks on every call (~10 us a
        # request for the pair, a tenth of a log-metric's handler).
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            label = method if method in _METHODS else "OTHER"
            children = (
                self.requests.labels(route, label, f"{status // 100}xx"),
                self.latency.labels(route, label),
            )
            if len(self._children) < _MAX_CACHED_CHILDREN:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class HttpMetricsMiddleware:
    """Times each HTTP request and counts it under its route template.

    The router records the matched route in the scope; requests refused before routing (no
    credentials, a bad Host) are matched against the routes by ``resolve`` instead.
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, resolve: RouteResolver) -> None:
        self.app = app
        self.metrics = metrics
        self.resolve = resolve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) if route is not None else self.resolve(scope)
            self.metrics.observe(
                template or UNMATCHED, scope["method"], status, time.perf_counter() - started
            )
