"""The server-rendered web UI: experiments list, runs table, run page, logged model page, model
registry pages, static files.

Pages read through :class:`ledgerflow.server.ui.data.UiData` (the service layer, never HTTP)
and render Jinja2 templates with autoescaping on. Every response carries the security headers
from :mod:`ledgerflow.server.ui.headers`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles

from ledgerflow.server.ui import audit_page, logged_model_page
from ledgerflow.server.ui.data import UiData
from ledgerflow.server.ui.headers import SecurityHeaders
from ledgerflow.server.ui.models_data import ModelsData
from ledgerflow.server.ui.models_pages import ModelsPages
from ledgerflow.server.ui.monitoring_page import PATH as MONITORING_PATH
from ledgerflow.server.ui.monitoring_page import MonitoringPage
from ledgerflow.server.ui.pages import Pages
from ledgerflow.server.ui.rendering import Renderer
from ledgerflow.server.ui.run_page import RunPage

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

STATIC = Path(__file__).parent / "static"


def routes(services: Services) -> list[BaseRoute]:
    data = UiData(services)
    renderer = Renderer()
    pages = Pages(data, renderer)
    run_page = RunPage(data, renderer)
    models = ModelsPages(ModelsData(services, data), renderer)
    logged_model = logged_model_page.LoggedModelPage(data, renderer)

    def page(path: str, handler: Callable[[Request], Awaitable[Response]]) -> Route:
        return Route(path, SecurityHeaders(request_response(handler)), methods=["GET"])

    return [
        page("/", pages.experiments),
        page("/experiments/{experiment_id}", pages.runs),
        page("/runs/{run_id}", run_page.page),
        page("/runs/{run_id}/artifact", run_page.artifact),
        page(logged_model_page.PATH, logged_model.page),
        page(logged_model_page.ARTIFACT_PATH, logged_model.artifact),
        page("/models", models.models),
        page("/models/{name}", models.model),
        page("/models/{name}/versions/{version}", models.version),
        *governance_routes(services),
        page(MONITORING_PATH, MonitoringPage(services, renderer).page),
        page(audit_page.PATH, audit_page.AuditPage(services.db, renderer).page),
        page("/favicon.ico", favicon),
        Mount("/static", app=SecurityHeaders(StaticFiles(directory=str(STATIC))), name="static"),
    ]


def governance_routes(services: Services) -> list[BaseRoute]:
    from ledgerflow.server.ui.governance_panel import decision_route

    base = "/models/{name}/versions/{version}/promotion-requests"
    return [
        Route(
            f"{base}/approve",
            SecurityHeaders(request_response(decision_route(services, True))),
            methods=["POST"],
        ),
        Route(
            f"{base}/reject",
            SecurityHeaders(request_response(decision_route(services, False))),
            methods=["POST"],
        ),
    ]


async def favicon(_request: Request) -> Response:
    # Browsers ask for /favicon.ico whatever the page links; an SVG answers them all.
    icon = (STATIC / "favicon.svg").read_bytes()
    return Response(icon, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
