"""One place that turns exceptions into HTTP answers: MLflow's error JSON for the API,
a small HTML page for the browser UI."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ledgerflow.errors import LedgerflowError
from ledgerflow.server import jsonio

log = logging.getLogger("ledgerflow.server")

_STATUS_CODES = {404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "BAD_REQUEST"}


def json_error(error: LedgerflowError) -> Response:
    return Response(
        jsonio.dumps(error.to_json()), status_code=error.http_status, media_type="application/json"
    )


def _wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/ajax-api/", "/get-artifact", "/model-versions/get-artifact")):
        return True
    return "text/html" not in request.headers.get("accept", "")


HtmlPage = Callable[[int, str], Response]


def render_error(request: Request, status: int, code: str, message: str, html_page: HtmlPage) -> Response:
    if _wants_json(request):
        body = {"error_code": code, "message": message}
        return Response(jsonio.dumps(body), status_code=status, media_type="application/json")
    return html_page(status, message)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _handlers(html_page: HtmlPage) -> tuple[Handler, Handler, Handler]:
    async def ledgerflow_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LedgerflowError)
        return render_error(request, exc.http_status, exc.error_code, exc.message, html_page)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        code = _STATUS_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if status == 404 and not _wants_json(request):
            # Starlette's detail is a bare "Not Found"; a person needs to know what was missing.
            message = f"There is no page at {request.url.path}."
        return render_error(request, status, code, message, html_page)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Never leak a traceback to the client; the log keeps it for the operator.
        log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        message = "Internal server error. The server log has details."
        return render_error(request, 500, "INTERNAL_ERROR", message, html_page)

    return ledgerflow_error, http_error, unexpected


def install_error_handlers(app: Starlette) -> None:
    # Browser requests get the UI's own styled error page (its templates, stylesheet, headers).
    from ledgerflow.server.ui.error_pages import HtmlErrors

    ledgerflow_error, http_error, unexpected = _handlers(HtmlErrors().response)
    app.add_exception_handler(LedgerflowError, ledgerflow_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
