"""Loopback ports for test servers that no other test can take in between.

Picking a port by binding to port 0, closing the socket and handing the number to a server
races other pytest-xdist workers doing the same. Instead a server either binds port 0 itself
and says which port it got (``ledgerflow server``, ``models serve`` and ``listen`` print it on
stderr; uvicorn logs it), or is handed a socket that stays bound (in-process uvicorn). A port
that must refuse connections stays bound, not listening, while it is used. (``mlflow models
serve`` cannot take port 0: tests/models/test_interop.py retries it on another port instead.)
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The lines our commands print once their socket listens (with the real port for --port 0).
SERVER_LINE = re.compile(r"serving on https?://127\.0\.0\.1:(\d+)")
MODEL_LINE = re.compile(r"Serving the model on http://127\.0\.0\.1:(\d+)")
LISTENER_LINE = re.compile(r"Listening on http://127\.0\.0\.1:(\d+)")
# uvicorn's start-up log line, which reports the port it bound for port 0.
UVICORN_LINE = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def loopback_socket(port: int = 0) -> socket.socket:
    """A listening loopback socket, to hand to a server; on a free port, or on a *port* held by
    ``refusing_port(shared=True)``."""
    sock = socket.socket()
    try:
        if port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def refusing_port(shared: bool = False) -> Iterator[int]:
    """A loopback port that refuses connections while the block runs: bound but not listening,
    so nothing else can start listening on it meanwhile.

    *shared* lets this test's own servers listen on it in turn (``loopback_socket(port)``, both
    with SO_REUSEPORT), for a server that stops and comes back on the same port; connections are
    refused again whenever none of them listens."""
    with socket.socket() as sock:
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def announced_port(
    process: subprocess.Popen[Any], log: Path, line: re.Pattern[str] = SERVER_LINE, seconds: float = 120
) -> int:
    """The port *process* announced in *log* (where its stderr goes) with a *line* match.

    Fails with the log when the process exits first or says nothing within *seconds*."""
    deadline = time.monotonic() + seconds
    while True:
        # Exit status first, then the log: a line written just before exiting is still seen.
        exited = process.poll() is not None
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        match = line.search(text)
        if match:
            return int(match.group(1))
        assert not exited, f"exited ({process.returncode}) before announcing its port:\n{text}"
        assert time.monotonic() < deadline, f"no port announced within {seconds:g} s:\n{text}"
        time.sleep(0.05)
