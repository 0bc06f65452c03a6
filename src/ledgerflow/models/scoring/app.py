"""The scoring server: MLflow's ``/invocations`` protocol for one loaded model.

``/ping`` and ``/health`` answer 200 once the model is loaded, ``/version`` names the
server. ``/invocations`` takes JSON, CSV or Parquet. Every failure caused by the request is
a 4xx: MLflow's error JSON for bad input (400), plain text for an unsupported content type
(415); an unexpected error inside the model is a 400 BAD_REQUEST as MLflow answers it, so
no request can produce a 500 or a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ledgerflow import __version__
from ledgerflow.config import ServerConfig
from ledgerflow.errors import LedgerflowError
from ledgerflow.models.pyfunc_model import PyFuncModel
from ledgerflow.models.scoring import parsing
from ledgerflow.models.scoring.auth import secure
from ledgerflow.models.scoring.messages import model_error_message
from ledgerflow.server.body_limits import read_limited_body

log = logging.getLogger(__name__)

CONTENT_TYPES = ("text/csv", "application/json", "application/vnd.apache.parquet")
PROTOCOL_NOTE = (
    "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0; the "
    "'format' content type parameter is gone. Send one of the input fields in a JSON body instead."
)
# The same defaults as the tracking server's JSON API limits.
DEFAULT_MAX_REQUEST_BYTES = ServerConfig.max_request_bytes
DEFAULT_MAX_JSON_DEPTH = ServerConfig.max_json_depth


def _error(code: str, message: str, status: int = 400) -> Response:
    return Response(
        json.dumps({"error_code": code, "message": message}), status, media_type="application/json"
    )


def _parse_content_type(header: str | None) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in (header or "").split(";")]
    options = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        options[key.strip().lower()] = value.strip()
    return parts[0].lower(), options


class ScoringApp:
    """State of one scoring server: the model and its input schema."""

    def __init__(
        self,
        model: PyFuncModel,
        timeout: float | None = None,
        observe: Callable[[Any], None] | None = None,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    ) -> None:
        self.model = model
        self.max_request_bytes = max_request_bytes
        self.max_json_depth = max_json_depth
        signature = model.metadata.signature
        self.schema = signature.inputs if signature is not None else None
        self.timeout = timeout
        # Sees each successfully scored request's input (drift-monitoring sampling).
        self.observe = observe

    def predict(self, body: bytes, mime: str) -> Response:
        try:
            if mime == "application/json":
                data, params = parsing.parse_json(body, self.schema, self.max_json_depth)
            elif mime == "text/csv":
                data, params = parsing.parse_csv(body, self.schema), None
            else:
                data, params = parsing.parse_parquet(body), None
        except LedgerflowError as error:
            return _error(error.error_code, error.message)
        try:
            predictions = self.model.predict(data, params)
        except LedgerflowError as error:
            return _error(error.error_code, f"Failed to predict data. \nError: {error.message}")
        except Exception as error:
            log.exception("Model raised while predicting")
            return _error("BAD_REQUEST", model_error_message(error))
        try:
            content = json.dumps({"predictions": parsing.to_jsonable(predictions)})
        except (TypeError, ValueError) as error:
            return _error("BAD_REQUEST", f"The model's predictions cannot be serialized as JSON: {error}")
        if self.observe is not None:
            self.observe(data)
        return Response(content, 200, media_type="application/json")

    async def invocations(self, request: Request) -> Response:
        mime, options = _parse_content_type(request.headers.get("content-type"))
        charset = options.pop("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            return PlainTextResponse("The scoring server only supports UTF-8", 415)
        if options:
            return PlainTextResponse(
                f"Unrecognized content type parameters: {', '.join(sorted(options))}. {PROTOCOL_NOTE}", 415
            )
        if mime not in CONTENT_TYPES:
            return PlainTextResponse(
                "This predictor only supports the following content types: "
                f"Types: {list(CONTENT_TYPES)}. Got '{request.headers.get('content-type', '')}'.",
                415,
            )
        try:
            # Refused from Content-Length before reading, or as soon as the stream passes it.
            body = await read_limited_body(request, self.max_request_bytes)
        except LedgerflowError as error:
            return _error(error.error_code, error.message, error.http_status)
        work = asyncio.to_thread(self.predict, body, mime)
        try:
            return await asyncio.wait_for(work, timeout=self.timeout)
        except TimeoutError:
            return Response("Request processing time exceeded limit", 504, media_type="application/json")

    async def ping(self, request: Request) -> Response:
        return Response("\n", 200, media_type="application/json")

    async def version(self, request: Request) -> Response:
        return Response(__version__, 200, media_type="application/json")


def create_scoring_app(
    model: PyFuncModel,
    timeout: float | None = None,
    observe: Callable[[Any], None] | None = None,
    *,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
) -> Starlette:
    state = ScoringApp(
        model, timeout, observe, max_request_bytes=max_request_bytes, max_json_depth=max_json_depth
    )
    return Starlette(
        routes=[
            Route("/ping", state.ping, methods=["GET"]),
            Route("/health", state.ping, methods=["GET"]),
            Route("/version", state.version, methods=["GET"]),
            Route("/invocations", state.invocations, methods=["POST"]),
        ]
    )


def serve(
    model: PyFuncModel,
    host: str,
    port: int,
    timeout: float | None = None,
    sock: socket.socket | None = None,
    observe: Callable[[Any], None] | None = None,
    *,
    auth_token: str | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> None:
    """Serve until interrupted; on *sock* when given (bound by the caller, who reports errors)."""
    import uvicorn

    app = create_scoring_app(model, timeout, observe, max_request_bytes=max_request_bytes)
    # A bearer token on /invocations when configured; Host allow-list, Origin check and
    # security headers always (see models/scoring/auth.py).
    served = secure(app, auth_token, allowed_hosts)
    if sock is None:
        uvicorn.run(served, host=host, port=port, log_level="info")
        return
    server = uvicorn.Server(uvicorn.Config(served, host=host, port=port, log_level="info"))
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])


def predictions_payload(predictions: Any) -> Any:
    return {"predictions": parsing.to_jsonable(predictions)}
