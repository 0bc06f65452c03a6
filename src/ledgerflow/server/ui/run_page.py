"""The run page (info, params, metrics with charts, tags, logged models, artifacts) and the artifact bytes
route its download links and image previews use."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ledgerflow.errors import LedgerflowError
from ledgerflow.server.ui.artifact_browser import browse, check_artifact_path, file_response
from ledgerflow.server.ui.charts import Point, line_chart
from ledgerflow.server.ui.data import UiData
from ledgerflow.server.ui.models_pages import version_url
from ledgerflow.server.ui.pages import error_page, logged_model_url
from ledgerflow.server.ui.queries import MAX_RUN_MODELS
from ledgerflow.server.ui.rendering import Renderer
from ledgerflow.server.ui.runs_table import by_key

# A page of a hundred charts is slow to draw and to read; the metrics table lists them all.
MAX_CHARTS = 60
# Points drawn per chart; longer histories are thinned evenly (first and last kept).
MAX_CHART_POINTS = 2000
MAX_HISTORY_POINTS = 50_000
SYSTEM_TAG_PREFIX = "mlflow."
PARENT_TAG = "mlflow.parentRunId"
# The run page lists at most this many child runs (the runs table can filter for the rest).
MAX_CHILD_RUNS = 100
RUN_INFO_DEFAULTS: dict[str, Any] = {
    "run_name": "",
    "user_id": "",
    "status": "",
    "start_time": None,
    "end_time": None,
    "artifact_uri": "",
    "lifecycle_stage": "active",
}


@dataclass
class Chart:
    key: str
    svg: Markup
    count: int
    shown: int
    low: float | None
    high: float | None


def thin(points: list[Point], limit: int = MAX_CHART_POINTS) -> list[Point]:
    if len(points) <= limit:
        return points
    stride = (len(points) - 1) / (limit - 1)
    return [points[round(i * stride)] for i in range(limit)]


class RunPage:
    def __init__(self, data: UiData, renderer: Renderer) -> None:
        self.data = data
        self.renderer = renderer

    async def page(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        selected = request.query_params.get("artifact", "")
        model_id = request.query_params.get("model", "")
        try:
            context = await run_in_threadpool(self._context, run_id, selected, model_id)
        except LedgerflowError as error:
            return error_page(self.renderer, error)
        return self.renderer.page("run.html", **context)

    async def artifact(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        path = request.query_params.get("path", "")
        inline = request.query_params.get("inline") == "1"
        model_id = request.query_params.get("model", "")
        try:
            check_artifact_path(path)
            run = await run_in_threadpool(self.data.run, run_id)
            if model_id:
                await run_in_threadpool(self.data.check_run_model, run, model_id)
            download = await run_in_threadpool(self.data.open_artifact, run, path, model_id)
        except LedgerflowError as error:
            return error_page(self.renderer, error)
        return file_response(download, path, inline)

    def _context(self, run_id: str, selected: str, model_id: str) -> dict[str, Any]:
        run = self.data.run(run_id)
        # The wire shape omits empty fields (a running run has no end_time); templates are strict.
        info = {**RUN_INFO_DEFAULTS, **run["info"]}
        data = run.get("data", {})
        tags = sorted(data.get("tags", []), key=lambda t: t["key"])
        tag_values = by_key(tags)
        try:
            experiment: dict[str, Any] | None = self.data.experiment(info["experiment_id"])
        except LedgerflowError:
            experiment = None
        metrics = sorted(data.get("metrics", []), key=lambda m: m["key"])
        context: dict[str, Any] = {
            "info": info,
            "experiment": experiment,
            "params": sorted(data.get("params", []), key=lambda p: p["key"]),
            "metrics": metrics,
            "tags": [t for t in tags if not t["key"].startswith(SYSTEM_TAG_PREFIX)],
            "system_tags": [t for t in tags if t["key"].startswith(SYSTEM_TAG_PREFIX)],
            "note": tag_values.get("mlflow.note.content", {}).get("value", ""),
            "source": tag_values.get("mlflow.source.name", {}).get("value", ""),
            "source_type": tag_values.get("mlflow.source.type", {}).get("value", ""),
            "git_commit": tag_values.get("mlflow.source.git.commit", {}).get("value", ""),
            "parent_run_id": tag_values.get(PARENT_TAG, {}).get("value", ""),
        }
        context["child_runs"] = self._children(info)
        models, registered, models_truncated = self.data.run_logged_models(str(info["run_id"]))
        context["logged_models"] = models
        context["registered"] = registered
        context["models_truncated"] = models_truncated
        context["models_limit"] = MAX_RUN_MODELS
        browsed = None
        if model_id:
            # Only the run's own models (listed above) can be browsed from its page.
            browsed = next((m for m in models if m.model_id == model_id), None)
            if browsed is None:
                self.data.check_run_model(run, model_id)
        context["browsed_model"] = browsed
        context["version_url"] = version_url
        context["logged_model_url"] = logged_model_url
        charts = self._charts(info["run_id"], [m["key"] for m in metrics])
        # Latest alone misleads after early stopping; min and max come free with the history.
        context["charts"] = charts
        context["ranges"] = {c.key: (c.low, c.high) for c in charts}
        context.update(self._artifacts(run, selected, model_id))
        return context

    def _children(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        """Runs of the same experiment naming this one as their parent (MLflow's nested runs)."""
        run_id = str(info["run_id"])
        if "'" in run_id or "\\" in run_id:
            return []
        found = self.data.services.runs.search(
            experiment_ids=[str(info["experiment_id"])],
            filter_string=f"tags.`{PARENT_TAG}` = '{run_id}'",
            run_view_type="ACTIVE_ONLY",
            max_results=MAX_CHILD_RUNS,
            order_by=["attributes.start_time ASC"],
            page_token=None,
        )
        return [{**RUN_INFO_DEFAULTS, **child["info"]} for child in found.get("runs", [])]

    def _charts(self, run_id: str, keys: list[str]) -> list[Chart]:
        charts = []
        for key in keys[:MAX_CHARTS]:
            points = self.data.metric_history(run_id, key, MAX_HISTORY_POINTS)
            shown = thin(points)
            finite = [p.value for p in points if math.isfinite(p.value)]
            low, high = (min(finite), max(finite)) if finite else (None, None)
            charts.append(Chart(key, line_chart(key, shown), len(points), len(shown), low, high))
        return charts

    def _artifacts(self, run: dict[str, Any], selected: str, model_id: str) -> dict[str, Any]:
        base = f"/runs/{quote(run['info']['run_id'], safe='')}"
        # Browsing a logged model's files: every link carries the model id along.
        context = browse(
            lambda path: self.data.list_artifacts(run, path, model_id),
            lambda path, limit: self.data.read_artifact_head(run, path, limit, model_id),
            selected,
            base,
            f"{base}/artifact",
            {"model": model_id} if model_id else None,
        )
        context["run_artifacts_url"] = f"{base}#artifacts"
        return context
