"""A model version's monitoring page: its latest evaluation, reference profile and drift
windows, with the windows' scores charted by the run page's SVG charts (step = window)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ledgerflow.errors import LedgerflowError, ResourceDoesNotExist
from ledgerflow.server.ui.charts import Point, line_chart
from ledgerflow.server.ui.models_pages import LINKS
from ledgerflow.server.ui.pages import error_page
from ledgerflow.server.ui.rendering import Renderer
from ledgerflow.server.ui.run_page import Chart, thin

PATH = "/models/{name}/versions/{version}/monitoring"
WINDOWS_SHOWN = 200
# The statistic charted per feature: one that every feature of its kind has.
CHARTED = {"numeric": "wasserstein_normed", "categorical": "jensen_shannon"}


def _chart(title: str, points: list[Point]) -> Chart:
    shown = thin(points)
    values = [p.value for p in points]
    return Chart(title, line_chart(title, shown), len(points), len(shown), min(values), max(values))


def charts_for(windows: list[dict[str, Any]]) -> list[Chart]:
    if not windows:
        return []
    charts = [_chart("drift.share_drifted", [Point(w["window"], float(w["share_drifted"])) for w in windows])]
    series: dict[str, list[Point]] = {}
    for window in windows:
        for feature in window["results"]["features"]:
            for statistic in ("psi", CHARTED[feature["kind"]]):
                key = f"drift.{statistic}.{feature['feature']}"
                series.setdefault(key, []).append(
                    Point(window["window"], float(feature["statistics"][statistic]))
                )
    charts.extend(_chart(key, points) for key, points in sorted(series.items()))
    return charts


class MonitoringPage:
    def __init__(self, services: Any, renderer: Renderer) -> None:
        self.services = services
        self.renderer = renderer

    def _context(self, name: str, version: str) -> dict[str, Any]:
        monitoring = self.services.monitoring
        found = monitoring.evaluations.list(name, version, 1, with_report=False)
        try:
            reference: dict[str, Any] | None = monitoring.drift.get_reference(
                name, version, with_profile=False
            )
        except ResourceDoesNotExist:
            reference = None
        windows = monitoring.drift.list_windows(name, version, WINDOWS_SHOWN)["windows"] if reference else []
        return {
            "name": name,
            "number": version,
            "evaluation": found[0] if found else None,
            "reference": reference,
            "windows": list(reversed(windows)),
            "charts": charts_for(windows),
            **LINKS,
        }

    async def page(self, request: Request) -> Response:
        try:
            context = await run_in_threadpool(
                self._context, request.path_params["name"], request.path_params["version"]
            )
        except LedgerflowError as error:
            return error_page(self.renderer, error)
        return self.renderer.page("monitoring.html", **context)
