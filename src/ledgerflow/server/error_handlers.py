"""One place that turns exceptions into HTTP answers: MLflow's error JSON for the API,
a small HTML page for the browser UI."""

from __future__ import annotations

import html
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

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


def render_error(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_json(request):
        body = {"error_code": code, "message": message}
        return Response(jsonio.dumps(body), status_code=status, media_type="application/json")
    page = (
        "<!doctype html><html><head><title>Error</title></head><body>"
        f"<h1>{status}</h1><p>{html.escape(message)}</p><p><a href='/'>Experiments</a></p></body></html>"
    )
    return HTMLResponse(page, status_code=status)


async def _ledgerflow_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LedgerflowError)
    return render_error(request, exc.http_status, exc.error_code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "BAD_REQUEST")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return render_error(request, exc.status_code, code, message)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Never leak a traceback to the client; the log keeps it for the operator.
    log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render_error(request, 500, "INTERNAL_ERROR", "Internal server error. The server log has details.")


def install_error_handlers(app: Starlette) -> None:
    app.add_exception_handler(LedgerflowError, _ledgerflow_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
