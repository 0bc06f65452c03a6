"""The UI's styled error page for browser requests that no UI handler answered: an unknown
path (``/experiments`` without an id, ``/runs/``), a wrong method, an unexpected failure.

The server's exception handlers call :meth:`HtmlErrors.response` only for requests that want
HTML on non-API paths; API paths keep MLflow's JSON error.
"""

from __future__ import annotations

from starlette.responses import Response

from ledgerflow.server.ui.headers import PAGE_POLICY, header_pairs
from ledgerflow.server.ui.rendering import Renderer


def heading_for(status: int) -> str:
    if status == 404:
        return "Not found"
    if status == 405:
        return "Method not allowed"
    return "Bad request" if status < 500 else "Server error"


class HtmlErrors:
    """Owns its own template environment: one per app, built with the error handlers."""

    def __init__(self) -> None:
        self.renderer = Renderer()

    def response(self, status: int, message: str) -> Response:
        page = self.renderer.page(
            "error.html", status, status=status, heading=heading_for(status), message=message
        )
        # These answers bypass the UI routes' SecurityHeaders wrapper, so set the same headers.
        for name, value in header_pairs(PAGE_POLICY):
            page.headers[name.decode()] = value.decode()
        return page
