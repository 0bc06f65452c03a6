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
import gc
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerflow import __version__
from ledgerflow.config import ServerConfig
from ledgerflow.errors import LedgerflowError
from ledgerflow.models.pyfunc_model import PyFuncModel
from ledgerflow.models.scoring import parsing
from ledgerflow.models.scoring.access_log import AccessLog
from ledgerflow.models.scoring.auth import secure
from ledgerflow.models.scoring.batching import BatchSettings, Dispatcher
from ledgerflow.models.scoring.matrix import DEPTH as MATRIX_DEPTH
from ledgerflow.models.scoring.matrix import Matrix
from ledgerflow.models.scoring.messages import model_error_message
from ledgerflow.models.scoring.parsing import NOT_DECODED
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
JSON = b"application/json"
PLAIN = b"text/plain; charset=utf-8"


def _response(status: int, body: bytes, media_type: bytes = JSON) -> tuple[int, bytes, bytes]:
    return status, body, media_type


def _error(code: str, message: str, status: int = 400) -> tuple[int, bytes, bytes]:
    return status, json.dumps({"error_code": code, "message": message}).encode(), JSON


def _plain(status: int, text: str) -> tuple[int, bytes, bytes]:
    return status, text.encode(), PLAIN


def _parse_content_type(header: str | None) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in (header or "").split(";")]
    options = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        options[key.strip().lower()] = value.strip()
    return parts[0].lower(), options


def _encode(predictions: Any) -> bytes:
    """``{"predictions": ...}`` as JSON. Arrays of ints, booleans and finite doubles go
    through orjson directly (a 1,000-row answer in microseconds); anything else, and any
    value orjson would write differently (NaN as null, float32 in its own precision), takes
    the standard encoder MLflow's server uses."""
    try:
        import numpy as np
        import orjson
    except ModuleNotFoundError:
        return json.dumps(predictions_payload(predictions)).encode()
    if isinstance(predictions, np.ndarray) and predictions.ndim <= 2:
        kind = predictions.dtype.kind
        if kind in "iub" or (predictions.dtype == np.float64 and bool(np.isfinite(predictions).all())):
            array = np.ascontiguousarray(predictions)
            return orjson.dumps({"predictions": array}, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(predictions_payload(predictions)).encode()


class _Endpoint:
    """A raw ASGI endpoint: Starlette routes to it without building a Request/Response."""

    def __init__(self, handler: ASGIApp) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


class ScoringApp:
    """One scoring server: the model, its input schema and the way its predicts run.

    It is the ASGI app: ``POST /invocations`` is answered here without Starlette's routing
    and Response objects (~13 us of the ~110 us of CPU a one-row request costs in-process);
    every other path and method goes to the Starlette router, which answers them (and
    404/405) exactly as before."""

    def __init__(
        self,
        model: PyFuncModel,
        timeout: float | None = None,
        observe: Callable[[Any], None] | None = None,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
        batching: BatchSettings | None = None,
        matrix_path: bool = True,
    ) -> None:
        self.model = model
        self.max_request_bytes = max_request_bytes
        self.max_json_depth = max_json_depth
        signature = model.metadata.signature
        self.schema = signature.inputs if signature is not None else None
        self.timeout = timeout
        # Sees each successfully scored request's input (drift-monitoring sampling).
        self.observe = observe
        self.matrix: Matrix | None = None
        self.dispatcher: Dispatcher | None = None
        if matrix_path:
            self.matrix, self.dispatcher = self._matrix_path(batching or BatchSettings())
        self.router = Starlette(
            routes=[
                Route("/ping", self.ping, methods=["GET"]),
                Route("/health", self.ping, methods=["GET"]),
                Route("/version", self.version, methods=["GET"]),
                Route("/invocations", _Endpoint(self.invocations), methods=["POST"]),
            ],
            lifespan=self._lifespan,
        )

    def _matrix_path(self, batching: BatchSettings) -> tuple[Matrix | None, Dispatcher | None]:
        """The matrix builder and dispatcher when the model can take a float matrix in place
        of the DataFrame (see matrix.py and the sklearn flavor's array_predictor)."""
        matrix = Matrix.for_schema(self.schema)
        array_predictor = getattr(self.model.impl, "array_predictor", None)
        if matrix is None or array_predictor is None or self.max_json_depth < MATRIX_DEPTH:
            return None, None
        predict = array_predictor(matrix.names)
        if predict is None:
            return None, None
        exact = getattr(self.model.impl, "batches_exactly", lambda: False)()
        return matrix, Dispatcher(predict, batching.resolved(bool(exact)), self.timeout)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        yield
        if self.dispatcher is not None:
            self.dispatcher.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/invocations"
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            await self.invocations(scope, receive, send)
            return
        await self.router(scope, receive, send)

    def predict(self, body: bytes, mime: str, decoded: Any = NOT_DECODED) -> tuple[int, bytes, bytes]:
        """The general path: parse to the model's input, predict, encode (on a worker thread)."""
        try:
            if mime == "application/json":
                data, params = parsing.parse_json(body, self.schema, self.max_json_depth, decoded=decoded)
            elif mime == "text/csv":
                data, params = parsing.parse_csv(body, self.schema), None
            else:
                data, params = parsing.parse_parquet(body), None
        except LedgerflowError as error:
            return _error(error.error_code, error.message)
        except Exception as error:  # a body the parsers did not foresee is still bad input
            log.exception("Unexpected error while parsing a scoring request")
            return _error("BAD_REQUEST", f"Failed to parse the input. Error: {type(error).__name__}: {error}")
        try:
            predictions = self.model.predict(data, params)
        except Exception as error:
            return _model_error(error)
        result = self._answer(predictions)
        if result[0] == 200 and self.observe is not None:
            self.observe(data)
        return result

    def _answer(self, predictions: Any) -> tuple[int, bytes, bytes]:
        try:
            return _response(200, _encode(predictions))
        except (TypeError, ValueError) as error:
            return _error("BAD_REQUEST", f"The model's predictions cannot be serialized as JSON: {error}")

    def _decode_matrix(self, body: bytes) -> tuple[Any, Any]:
        """(decoded body or NOT_DECODED, the request's matrix or None)."""
        assert self.matrix is not None
        try:
            decoded = parsing.decode_json(body)
        except (ValueError, UnicodeDecodeError):
            return NOT_DECODED, None  # the general path words the error
        return decoded, self.matrix.build(decoded)

    async def _score(self, body: bytes, mime: str) -> tuple[int, bytes, bytes]:
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout
        decoded: Any = NOT_DECODED
        try:
            if self.dispatcher is not None and mime == "application/json":
                if len(body) <= INLINE_PARSE_BYTES:
                    decoded, matrix = self._decode_matrix(body)
                else:
                    # Big bodies are parsed off the loop, inside the request's time limit.
                    work = asyncio.to_thread(self._decode_matrix, body)
                    decoded, matrix = await asyncio.wait_for(work, _remaining(loop, deadline))
                if matrix is not None:
                    return await self._score_matrix(matrix, self.dispatcher, loop, deadline)
            general = asyncio.to_thread(self.predict, body, mime, decoded)
            return await asyncio.wait_for(general, _remaining(loop, deadline))
        except TimeoutError:
            return TIMED_OUT

    async def _score_matrix(
        self, matrix: Any, dispatcher: Dispatcher, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> tuple[int, bytes, bytes]:
        try:
            if dispatcher.can_inline(len(matrix)):
                predictions = dispatcher.run_inline(matrix)
            else:
                predictions = await asyncio.wait_for(dispatcher.submit(matrix), _remaining(loop, deadline))
        except TimeoutError:
            raise
        except Exception as error:
            return _model_error(error)
        result = self._answer(predictions)
        if result[0] == 200 and self.observe is not None:
            import pandas as pd

            self.observe(pd.DataFrame(matrix, columns=self.matrix.names if self.matrix else None))
        return result

    async def invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body, media_type = await self._invocations(Request(scope, receive))
        except ClientDisconnect:
            return  # the client left before sending its whole body: nobody to answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", media_type), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _invocations(self, request: Request) -> tuple[int, bytes, bytes]:
        mime, options = _parse_content_type(request.headers.get("content-type"))
        charset = options.pop("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            return _plain(415, "The scoring server only supports UTF-8")
        if options:
            return _plain(
                415, f"Unrecognized content type parameters: {', '.join(sorted(options))}. {PROTOCOL_NOTE}"
            )
        if mime not in CONTENT_TYPES:
            return _plain(
                415,
                "This predictor only supports the following content types: "
                f"Types: {list(CONTENT_TYPES)}. Got '{request.headers.get('content-type', '')}'.",
            )
        try:
            # Refused from Content-Length before reading, or as soon as the stream passes it.
            body = await read_limited_body(request, self.max_request_bytes)
        except LedgerflowError as error:
            return _error(error.error_code, error.message, error.http_status)
        return await self._score(body, mime)

    async def ping(self, request: Request) -> Response:
        return Response("\n", 200, media_type="application/json")

    async def version(self, request: Request) -> Response:
        return Response(__version__, 200, media_type="application/json")


def _model_error(error: Exception) -> tuple[int, bytes, bytes]:
    if isinstance(error, LedgerflowError):
        return _error(error.error_code, f"Failed to predict data. \nError: {error.message}")
    log.exception("Model raised while predicting")
    return _error("BAD_REQUEST", model_error_message(error))


TIMED_OUT = _response(504, b"Request processing time exceeded limit")
# Bodies up to this size are decoded on the event loop for the matrix path (~1 ms at most:
# orjson reads ~1 MB/ms and the matrix build takes about twice that); larger ones on a thread.
INLINE_PARSE_BYTES = 256 * 1024


def _remaining(loop: asyncio.AbstractEventLoop, deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - loop.time(), 0.0)


def create_scoring_app(
    model: PyFuncModel,
    timeout: float | None = None,
    observe: Callable[[Any], None] | None = None,
    *,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    batching: BatchSettings | None = None,
    matrix_path: bool = True,
) -> ScoringApp:
    """The scoring app; ``matrix_path=False`` sends every request the general way (pandas),
    for comparing the two."""
    return ScoringApp(
        model,
        timeout,
        observe,
        max_request_bytes=max_request_bytes,
        max_json_depth=max_json_depth,
        batching=batching,
        matrix_path=matrix_path,
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
    batching: BatchSettings | None = None,
) -> None:
    """Serve until interrupted; on *sock* when given (bound by the caller, who reports errors)."""
    import uvicorn

    app = create_scoring_app(model, timeout, observe, max_request_bytes=max_request_bytes, batching=batching)
    # A bearer token on /invocations when configured; Host allow-list, Origin check and
    # security headers always (see models/scoring/auth.py).
    served = secure(app, auth_token, allowed_hosts)
    # uvicorn's line for every response, written in batches (see access_log.py).
    access = AccessLog(served)
    config = uvicorn.Config(access, host=host, port=port, log_level="info", access_log=False)
    config.load()
    # Everything alive now (the model, pandas, scikit-learn: ~160,000 objects) lives as long
    # as the server. Frozen, the collector stops rescanning it: a full collection, which
    # request garbage triggers every few hundred 1,000-row requests, took 30-280 ms over it.
    gc.collect()
    gc.freeze()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)
    finally:
        access.flush()


def predictions_payload(predictions: Any) -> Any:
    return {"predictions": parsing.to_jsonable(predictions)}
