"""Streaming a stored file whose bytes are checked as they go out.

A model file the gate could not hash before the headers (governance/scanning/files.py) is
hashed on the way out, and the stream stops before its last chunk if the bytes are not the
ones scanned. Headers (200, Content-Length) are sent by then, so the only honest signal left
is to close the connection short of Content-Length: every HTTP client sees an incomplete body
instead of a complete one. That is logged as one warning naming the file, not as the ASGI
server's traceback of an application error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ledgerflow.governance.scanning.files import ArtifactChanged

log = logging.getLogger(__name__)

# The ASGI server's own line for a response left incomplete: expected after a deliberate cut.
_INCOMPLETE = "ASGI callable returned without completing response."


class _Cut:
    """Set by the response that cut its body short on purpose, for the log filter."""

    def __init__(self) -> None:
        self.done = False


_current_cut: ContextVar[_Cut | None] = ContextVar("ledgerflow_download_cut", default=None)


class _ExpectedIncomplete(logging.Filter):
    """Drops uvicorn's error line for a response this module cut on purpose (already logged
    as a warning with the reason); every other incomplete response is still reported."""

    def filter(self, record: logging.LogRecord) -> bool:
        cut = _current_cut.get()
        return not (cut is not None and cut.done and record.getMessage() == _INCOMPLETE)


def install_log_filter() -> None:
    """Idempotent: one filter on uvicorn's error logger per process."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _ExpectedIncomplete) for existing in logger.filters):
        logger.addFilter(_ExpectedIncomplete())


class CheckedFileResponse(StreamingResponse):
    """A StreamingResponse that ends a body whose bytes failed their check by closing the
    connection (no final empty chunk), without raising into the ASGI server."""

    def __init__(self, chunks: Iterator[bytes], **kwargs: Any) -> None:
        super().__init__(chunks, **kwargs)
        self._cut = _Cut()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Set in the request's own task, so the filter sees it when the server logs after the
        # application returned (the body may be streamed from a child task).
        _current_cut.set(self._cut)
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except ArtifactChanged as error:
            self._cut.done = True
            log.warning("%s The connection was closed before the end of the body.", error)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
