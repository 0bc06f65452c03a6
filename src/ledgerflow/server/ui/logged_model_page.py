"""A logged model's page (MLflow 3: info, params, tags, metrics, the registry versions made
from it, its files) and the bytes route its download links and image previews use.

Every logged model gets one, with or without a source run. Read permission is the model's
experiment's, checked by the route guard from the ``model_id`` in the path.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ledgerflow.errors import LedgerflowError
from ledgerflow.server.ui.artifact_browser import browse, check_artifact_path, file_response
from ledgerflow.server.ui.data import UiData
from ledgerflow.server.ui.models_pages import system_tags, user_tags, version_url
from ledgerflow.server.ui.pages import error_page, logged_model_url
from ledgerflow.server.ui.rendering import Renderer

PATH = "/logged-models/{model_id}"
ARTIFACT_PATH = "/logged-models/{model_id}/artifact"
STATUS_PREFIX = "LOGGED_MODEL_"
# Optional fields the wire shape leaves out when empty; the templates are strict.
INFO_DEFAULTS: dict[str, Any] = {
    "model_type": "",
    "source_run_id": "",
    "creator_id": "",
    "status_message": "",
    "last_updated_timestamp_ms": None,
}


def status_label(status: str) -> str:
    """``LOGGED_MODEL_UPLOAD_FAILED`` -> ``upload failed``, as the run page shows it."""
    return status.removeprefix(STATUS_PREFIX).replace("_", " ").lower()


class LoggedModelPage:
    def __init__(self, data: UiData, renderer: Renderer) -> None:
        self.data = data
        self.renderer = renderer

    async def page(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        selected = request.query_params.get("artifact", "")
        try:
            context = await run_in_threadpool(self._context, model_id, selected)
        except LedgerflowError as error:
            return error_page(self.renderer, error)
        return self.renderer.page("logged_model.html", **context)

    async def artifact(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        path = request.query_params.get("path", "")
        inline = request.query_params.get("inline") == "1"
        try:
            check_artifact_path(path)
            # A deleted model's files are gone with it, as its page is.
            await run_in_threadpool(self.data.logged_model, model_id)
            download = await run_in_threadpool(self.data.open_model_artifact, model_id, path)
        except LedgerflowError as error:
            return error_page(self.renderer, error)
        return file_response(download, path, inline)

    def _context(self, model_id: str, selected: str) -> dict[str, Any]:
        model = self.data.logged_model(model_id)
        info = {**INFO_DEFAULTS, **model["info"]}
        data = model.get("data", {})
        try:
            experiment: dict[str, Any] | None = self.data.experiment(str(info["experiment_id"]))
        except LedgerflowError:
            experiment = None
        source_run = None
        if info["source_run_id"]:
            found = self.data.readable_run(str(info["source_run_id"]))
            source_run = found["info"] if found is not None else None
        base = logged_model_url(str(info["model_id"]))
        context: dict[str, Any] = {
            "info": info,
            "status": status_label(str(info["status"])),
            "experiment": experiment,
            "source_run": source_run,
            "params": sorted(data.get("params", []), key=lambda p: p["key"]),
            "metrics": data.get("metrics", []),
            "tags": user_tags(info.get("tags")),
            "system_tags": system_tags(info.get("tags")),
            "registrations": self.data.model_registrations(str(info["model_id"])),
            "version_url": version_url,
        }
        context.update(
            browse(
                lambda path: self.data.list_model_artifacts(model_id, path),
                lambda path, limit: self.data.read_model_artifact_head(model_id, path, limit),
                selected,
                base,
                f"{base}/artifact",
            )
        )
        return context
