"""The scoring server's access log: uvicorn's line for every response, written in batches.

uvicorn's own access log goes through :mod:`logging` for each response (a record, a copy of
it in the formatter, a locked write and flush): ~40 us of CPU and ~50 us of latency per
request measured on a trivial app, as much as the rest of uvicorn's work and a fifth of a
small model's whole answer. This middleware writes the same line
(``INFO:     127.0.0.1:53422 - "POST /invocations HTTP/1.1" 200 OK``, without colours)
to the same stream (stdout), but collects the lines and writes them together, at most
:data:`FLUSH_SECONDS` after the first one or as soon as :data:`MAX_LINES` wait, like nginx's
buffered ``access_log``. A line therefore appears up to a tenth of a second late, and the
last tenth of a second is lost if the process is killed outright (SIGKILL); a normal stop
writes everything.
"""

from __future__ import annotations

import asyncio
import http
import sys
from typing import TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FLUSH_SECONDS = 0.1
MAX_LINES = 512
_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}


def _request_line(scope: Scope) -> str:
    # As uvicorn prints it: the raw path, the query string, quotes escaped.
    path = scope.get("raw_path", scope["path"].encode())
    line = path.decode("latin1") if isinstance(path, bytes) else str(path)
    if scope.get("query_string"):
        line = f"{line}?{scope['query_string'].decode('ascii', 'replace')}"
    return f"{scope['method']} {line.replace(chr(34), '%22')} HTTP/{scope.get('http_version', '1.1')}"


class AccessLog:
    def __init__(self, app: ASGIApp, stream: TextIO | None = None) -> None:
        self.app = app
        self.stream = stream
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(scope, message["status"])
            await send(message)

        await self.app(scope, receive, logged)

    def _add(self, scope: Scope, status: int) -> None:
        client = scope.get("client")
        address = f"{client[0]}:{client[1]}" if client else ""
        phrase = _PHRASES.get(status, "")
        self._lines.append(f'INFO:     {address} - "{_request_line(scope)}" {status} {phrase}\n')
        if len(self._lines) >= MAX_LINES:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write the waiting lines (also called once the server has stopped)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write("".join(lines))
        stream.flush()
