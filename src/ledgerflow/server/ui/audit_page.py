"""The audit trail page: newest records first, filtered like the audit API.

Admin-only once authentication exists: :data:`PERMISSION` is what the auth layer must check
for :data:`PATH` (as ``Endpoint.permission`` for the audit API). Until then it is served as-is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.audit.export import Filters, parse_time, search
from ledgerflow.server.ui.rendering import Renderer
from ledgerflow.store.database import Database

PATH = "/audit"
PERMISSION = "admin"
PAGE_SIZE = 100
FILTER_FIELDS = ("since", "until", "actor", "action", "resource", "outcome")
OUTCOMES = ("success", "failure", "denied")
OPTIONAL_FIELDS = ("resource_type", "resource_id", "source_address", "request_id")


class AuditPage:
    def __init__(self, db: Database, renderer: Renderer) -> None:
        self.db = db
        self.renderer = renderer

    def _search(self, filters: Filters, token: str | None) -> dict[str, Any]:
        with self.db.read() as conn:
            return search(conn, filters, PAGE_SIZE, token)

    async def page(self, request: Request) -> Response:
        query = request.query_params
        values = {name: query.get(name, "").strip() for name in FILTER_FIELDS}
        error = ""
        answer: dict[str, Any] = {}
        try:
            filters = Filters(
                since_ms=parse_time(values["since"], "since"),
                until_ms=parse_time(values["until"], "until"),
                actor=values["actor"] or None,
                action=values["action"] or None,
                resource=values["resource"] or None,
                outcome=values["outcome"] or None,
            )
            answer = await run_in_threadpool(self._search, filters, query.get("page_token") or None)
        except InvalidParameter as bad:
            # A mistyped date or a stale page token is shown inline; the page stays usable.
            error = bad.message
        kept = [(name, value) for name, value in values.items() if value]
        next_url = None
        if answer.get("next_page_token"):
            next_url = PATH + "?" + urlencode([*kept, ("page_token", answer["next_page_token"])])
        # Exported records omit empty fields; the table shows them as blanks.
        records = [{**dict.fromkeys(OPTIONAL_FIELDS, ""), **r} for r in answer.get("records", [])]
        return self.renderer.page(
            "audit.html",
            records=records,
            values=values,
            outcomes=OUTCOMES,
            error=error,
            next_url=next_url,
            clear_url=PATH if kept else None,
        )
