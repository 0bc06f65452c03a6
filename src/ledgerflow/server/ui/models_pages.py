"""The model registry pages: the registered models list, a model's page and a version's page
(lineage, signature, files and alias history)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ledgerflow.errors import BadRequest, InvalidParameter, LedgerflowError, ResourceDoesNotExist
from ledgerflow.server.ui.artifact_tree import MAX_ENTRIES, build_tree
from ledgerflow.server.ui.model_signature import MAX_MLMODEL_BYTES, MLMODEL, ModelMeta, read_model_meta
from ledgerflow.server.ui.models_data import ModelsData
from ledgerflow.server.ui.pages import error_page, experiment_filter
from ledgerflow.server.ui.rendering import Renderer
from ledgerflow.server.ui.runs_table import by_key

DEFAULT_MODELS_PAGE = 50
MAX_MODELS_PAGE = 200
VERSIONS_PAGE = 100
SYSTEM_TAG_PREFIX = "mlflow."


def model_url(name: str) -> str:
    # Names may hold spaces, quotes, '?', '#' and any unicode: every character that is not
    # unreserved is percent-encoded so the name is one path segment.
    return f"/models/{quote(name, safe='')}"


def version_url(name: str, version: Any) -> str:
    return f"{model_url(name)}/versions/{quote(str(version), safe='')}"


def file_url(name: str, version: Any, path: str) -> str:
    return "/model-versions/get-artifact?" + urlencode({"name": name, "version": str(version), "path": path})


def page_size(text: str | None) -> int:
    try:
        size = int(text or DEFAULT_MODELS_PAGE)
    except ValueError:
        size = DEFAULT_MODELS_PAGE
    return min(MAX_MODELS_PAGE, max(1, size))


def latest_version(model: dict[str, Any]) -> str | None:
    numbers = [int(v["version"]) for v in model.get("latest_versions", [])]
    return str(max(numbers)) if numbers else None


def user_tags(tags: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return sorted(
        (t for t in tags or [] if not t["key"].startswith(SYSTEM_TAG_PREFIX)), key=lambda t: t["key"]
    )


def system_tags(tags: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return sorted((t for t in tags or [] if t["key"].startswith(SYSTEM_TAG_PREFIX)), key=lambda t: t["key"])


LINKS: dict[str, Any] = {"model_url": model_url, "version_url": version_url}


class ModelsPages:
    def __init__(self, data: ModelsData, renderer: Renderer) -> None:
        self.data = data
        self.renderer = renderer

    # -- the list ------------------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        query = request.query_params
        text = query.get("q", "").strip()
        size = page_size(query.get("per_page"))
        token = query.get("page_token", "")
        back = query.getlist("back")
        error = ""
        models: list[dict[str, Any]] = []
        next_token: str | None = None
        try:
            models, next_token = await run_in_threadpool(
                self.data.search_models, experiment_filter(text), size, token
            )
        except (InvalidParameter, BadRequest) as bad:
            # A mistyped filter (or a stale page token) is shown inline, the page stays usable.
            error = bad.message

        def url(page_token: str = "", back_tokens: list[str] | None = None) -> str:
            pairs = [(k, v) for k, v in (("q", text), ("per_page", str(size))) if v]
            if size == DEFAULT_MODELS_PAGE:
                pairs = [p for p in pairs if p[0] != "per_page"]
            if page_token:
                pairs.extend(("back", b) for b in back_tokens or [])
                pairs.append(("page_token", page_token))
            return "/models" + ("?" + urlencode(pairs) if pairs else "")

        rows = [
            {
                "model": m,
                "latest": latest_version(m),
                "aliases": sorted(m.get("aliases", []), key=lambda a: a["alias"]),
                "tags": user_tags(m.get("tags")),
            }
            for m in models
        ]
        return self.renderer.page(
            "models.html",
            rows=rows,
            text=text,
            error=error,
            per_page=size if size != DEFAULT_MODELS_PAGE else None,
            clear_url="/models",
            next_url=url(next_token, [*back, token]) if next_token else None,
            prev_url=url(back[-1], back[:-1]) if back else None,
            page_number=len(back) + 1,
            **LINKS,
        )

    # -- a model -------------------------------------------------------------------------------

    async def model(self, request: Request) -> Response:
        name = request.path_params["name"]
        below_text = request.query_params.get("below", "")
        try:
            below = int(below_text) if below_text else None
            context = await run_in_threadpool(self._model_context, name, below)
        except ValueError:
            return error_page(self.renderer, InvalidParameter(f"Invalid version bound: '{below_text}'"))
        except LedgerflowError as error:
            return error_page(self.renderer, error)
        return self.renderer.page("model.html", **context)

    def _model_context(self, name: str, below: int | None) -> dict[str, Any]:
        model = self.data.model(name)
        versions, next_below = self.data.versions_page(name, below, VERSIONS_PAGE)
        base = model_url(model["name"])
        return {
            "model": model,
            "description": model.get("description", ""),
            "tags": user_tags(model.get("tags")),
            "system_tags": system_tags(model.get("tags")),
            "aliases": sorted(model.get("aliases", []), key=lambda a: a["alias"]),
            "versions": versions,
            "next_url": f"{base}?{urlencode({'below': next_below})}" if next_below else None,
            "first_url": base if below is not None else None,
            **LINKS,
        }

    # -- a version -----------------------------------------------------------------------------

    async def version(self, request: Request) -> Response:
        name = request.path_params["name"]
        number = request.path_params["version"]
        try:
            context = await run_in_threadpool(self._version_context, name, number)
        except LedgerflowError as error:
            return error_page(self.renderer, error)
        from ledgerflow.server.ui.governance_panel import governance_context

        # The policy evaluation and promotion requests (with approve/reject for approvers).
        context["governance"] = await run_in_threadpool(
            governance_context, self.data.services, request, context["model"]["name"], number
        )
        return self.renderer.page("model_version.html", **context)

    def _version_context(self, name: str, number: str) -> dict[str, Any]:
        version, storage = self.data.version(name, number)
        model = self.data.model(name)
        timelines, history_truncated = self.data.alias_timelines(model)
        context: dict[str, Any] = {
            "model": model,
            "version": version,
            "number": int(version["version"]),
            "storage": storage,
            "tags": user_tags(version.get("tags")),
            "system_tags": system_tags(version.get("tags")),
            "aliases": sorted(version.get("aliases", [])),
            "timelines": timelines,
            "history_truncated": history_truncated,
            **LINKS,
        }
        context.update(self._lineage(version.get("run_id") or ""))
        context.update(self._files(version, storage.storage_location))
        context["scan"] = self._scan(name, number)
        return context

    def _scan(self, name: str, number: str) -> dict[str, Any] | None:
        """The version's stored model-file scan (a page view never starts a scan)."""
        try:
            return self.data.services.scanning.result(name, number, rescan_stale=False)
        except LedgerflowError:
            return None

    def _lineage(self, run_id: str) -> dict[str, Any]:
        context: dict[str, Any] = {
            "run": None,
            "run_id": run_id,
            "run_note": "",
            "experiment": None,
            "params": [],
            "metrics": [],
            "datasets": [],
        }
        if not run_id:
            return context
        try:
            run = self.data.run(run_id)
        except ResourceDoesNotExist:
            context["run_note"] = "The source run no longer exists."
            return context
        data = run.get("data", {})
        info = run["info"]
        try:
            context["experiment"] = self.data.data.experiment(info["experiment_id"])
        except LedgerflowError:
            context["experiment"] = None
        context["run"] = info
        context["run_name"] = info.get("run_name") or info["run_id"]
        context["params"] = sorted(data.get("params", []), key=lambda p: p["key"])
        context["metrics"] = sorted(data.get("metrics", []), key=lambda m: m["key"])
        datasets = []
        for item in run.get("inputs", {}).get("dataset_inputs", []):
            dataset = item.get("dataset", {})
            context_tag = by_key(item.get("tags")).get("mlflow.data.context", {}).get("value", "")
            datasets.append({**dataset, "context": context_tag})
        context["datasets"] = datasets
        return context

    def _files(self, version: dict[str, Any], location: str) -> dict[str, Any]:
        name, number = version["name"], version["version"]

        def link(path: str) -> str:
            return file_url(name, number, path)

        context: dict[str, Any] = {
            "tree_nodes": [],
            "tree_truncated": False,
            "tree_limit": MAX_ENTRIES,
            "files_note": "",
            "meta": ModelMeta(note="The MLmodel file could not be read."),
        }
        try:
            tree = build_tree(lambda path: self.data.list_files(location, path), "", link, link)
        except LedgerflowError as error:
            # A source outside this server's roots (a remote bucket, say) cannot be listed here.
            context["files_note"] = (
                f"The files of this version are not stored on this server: {error.message}"
            )
            context["meta"] = ModelMeta(note="The MLmodel file is not stored on this server.")
            return context
        context["tree_nodes"] = tree.nodes
        context["tree_truncated"] = tree.truncated
        has_mlmodel = any(node.name == MLMODEL and not node.is_dir for node in tree.nodes)
        if not has_mlmodel:
            context["meta"] = read_model_meta(None)
            return context
        try:
            head = self.data.read_file_head(location, MLMODEL, MAX_MLMODEL_BYTES)
        except LedgerflowError:
            return context
        context["meta"] = read_model_meta(head)
        return context
