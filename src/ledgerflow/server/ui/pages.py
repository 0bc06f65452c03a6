"""The experiments list and an experiment's page (its runs table and newest logged models)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ledgerflow.errors import BadRequest, InvalidParameter, LedgerflowError
from ledgerflow.server.ui.data import UiData
from ledgerflow.server.ui.error_pages import heading_for
from ledgerflow.server.ui.queries import MAX_EXPERIMENT_MODELS
from ledgerflow.server.ui.rendering import Renderer
from ledgerflow.server.ui.runs_table import (
    ATTRIBUTE_COLUMNS,
    VIEWS,
    TableState,
    metric_column,
    param_column,
    to_row,
)

EXPERIMENT_SORTS = ("name", "creation_time", "last_update_time")
EXPERIMENT_ORDERS = {f"{key} {d}" for key in EXPERIMENT_SORTS for d in ("ASC", "DESC")}
_GRAMMAR_HINT = re.compile(r"[=<>!]|\b(like|ilike|in|is)\b", re.IGNORECASE)


def experiment_filter(text: str) -> str:
    """Plain words search names; anything that looks like the grammar is passed through."""
    if not text or _GRAMMAR_HINT.search(text) or "'" in text:
        return text
    return f"name ILIKE '%{text}%'"


def logged_model_url(model_id: str) -> str:
    return f"/logged-models/{quote(model_id, safe='')}"


def error_page(renderer: Renderer, error: LedgerflowError) -> Response:
    status = error.http_status
    return renderer.page(
        "error.html", status, status=status, heading=heading_for(status), message=error.message
    )


class Pages:
    def __init__(self, data: UiData, renderer: Renderer) -> None:
        self.data = data
        self.renderer = renderer

    async def experiments(self, request: Request) -> Response:
        query = request.query_params
        view = "deleted" if query.get("view") == "deleted" else "active"
        text = query.get("q", "").strip()
        order_by = query.get("order_by", "") if query.get("order_by") in EXPERIMENT_ORDERS else ""
        token = query.get("page_token", "")
        back = query.getlist("back")
        error = ""
        experiments: list[dict[str, Any]] = []
        counts: dict[int, int] = {}
        next_token: str | None = None
        try:
            experiments, counts, next_token = await run_in_threadpool(
                self.data.experiments, view, experiment_filter(text), order_by, token
            )
        except (InvalidParameter, BadRequest) as bad:
            error = bad.message

        def url(**changes: Any) -> str:
            state: dict[str, Any] = {
                "q": text,
                "view": view if view != "active" else "",
                "order_by": order_by,
            }
            state.update(changes)
            pairs = [(k, v) for k, v in state.items() if k not in ("back", "page_token") and v]
            if state.get("page_token"):
                pairs.extend(("back", b) for b in state.get("back", ()))
                pairs.append(("page_token", state["page_token"]))
            return "/" + ("?" + urlencode(pairs) if pairs else "")

        sort_links = {}
        for key in EXPERIMENT_SORTS:
            flip = f"{key} ASC" if order_by == f"{key} DESC" else f"{key} DESC"
            sort_links[key] = url(order_by=flip)
        return self.renderer.page(
            "experiments.html",
            experiments=experiments,
            counts=counts,
            view=view,
            text=text,
            order_by=order_by,
            error=error,
            sort_links=sort_links,
            view_links={"active": url(view=""), "deleted": url(view="deleted")},
            next_url=url(page_token=next_token, back=[*back, token]) if next_token else None,
            prev_url=url(page_token=back[-1], back=back[:-1]) if back else None,
            page_number=len(back) + 1,
        )

    async def runs(self, request: Request) -> Response:
        experiment_id = request.path_params["experiment_id"]
        state = TableState.from_query(request.query_params)
        try:
            context = await run_in_threadpool(self._runs_context, experiment_id, state)
        except LedgerflowError as error:
            return error_page(self.renderer, error)
        return self.renderer.page("runs.html", **context)

    def _runs_context(self, experiment_id: str, state: TableState) -> dict[str, Any]:
        experiment = self.data.experiment(experiment_id)
        eid = experiment["experiment_id"]
        base_url = f"/experiments/{quote(eid, safe='')}"
        param_keys, metric_keys = self.data.run_keys(int(eid))
        shown_params, shown_metrics = state.visible(param_keys, metric_keys)
        error = ""
        runs: list[dict[str, Any]] = []
        next_token: str | None = None
        try:
            runs, next_token = self.data.search_runs(eid, state, VIEWS[state.view])
        except (InvalidParameter, BadRequest) as bad:
            # A mistyped filter is part of normal use: show why, keep the rest of the page.
            error = bad.message
        columns = [
            *ATTRIBUTE_COLUMNS,
            *(param_column(k) for k in shown_params),
            *(metric_column(k) for k in shown_metrics),
        ]
        sort_links = {c.sort_key: state.sorted_by(c.sort_key).url(base_url) for c in columns if c.sort_key}
        sort_directions = {
            c.sort_key: d for c in columns if c.sort_key and (d := state.sort_direction(c.sort_key))
        }
        previous = state.previous_page()
        # Pin the column set when switching views or pages so the default cannot shift under you.
        view_links = [(name, replace(state.first_page(), view=name).url(base_url)) for name in VIEWS]
        logged_models, models_truncated = self.data.experiment_logged_models(int(eid))
        return {
            "logged_models": logged_models,
            "models_truncated": models_truncated,
            "models_limit": MAX_EXPERIMENT_MODELS,
            "logged_model_url": logged_model_url,
            "experiment": experiment,
            "state": state,
            "state_pairs": state.pairs(),
            "base_url": base_url,
            "columns": columns,
            "rows": [to_row(run) for run in runs],
            "error": error,
            "param_keys": param_keys,
            "metric_keys": metric_keys,
            "shown_params": set(shown_params),
            "shown_metrics": set(shown_metrics),
            "sort_links": sort_links,
            "sort_directions": sort_directions,
            "next_url": state.next_page(next_token).url(base_url) if next_token and not error else None,
            "prev_url": previous.url(base_url) if previous is not None else None,
            "clear_filter_url": replace(state.first_page(), filter="").url(base_url),
            "view_links": view_links,
        }
