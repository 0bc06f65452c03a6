"""Client fixtures: a tracking URI for a live server on loopback or a local SQLite store,
clean fluent state per test, and small real HTTP servers for failure scenarios."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ledgerflow.client.fluent import reset_fluent_state
from ledgerflow.config import ServerConfig
from tests.listening import loopback_socket

ENV_VARS = (
    "LEDGERFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_URI",
    "LEDGERFLOW_ASYNC_LOGGING",
    "MLFLOW_ENABLE_ASYNC_LOGGING",
    "LEDGERFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_NAME",
    "LEDGERFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_ID",
    "LEDGERFLOW_ARTIFACTS_DESTINATION",
)


@pytest.fixture(autouse=True)
def clean_fluent_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    reset_fluent_state()
    yield
    reset_fluent_state()


@pytest.fixture(params=["server", "local"])
def tracking_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests against a real server on loopback and an in-process local store
    (a test that builds its own server parametrizes this to "none")."""
    if request.param == "none":
        return ""
    if request.param == "server":
        make = request.getfixturevalue("make_live_server")
        config = ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
            artifacts_destination=str(tmp_path / "server-artifacts"),
        )
        return str(make(config).url)
    return f"sqlite:///{tmp_path / 'local' / 'store.db'}"


ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


class ThreadServer:
    """Any ASGI app under uvicorn on a loopback port, in a background thread; on *sock* when
    given (see tests/listening.py), else on a free port, bound here and never released."""

    def __init__(self, app: Any, sock: socket.socket | None = None) -> None:
        self._sock = sock or loopback_socket()
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError("test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ThreadServer]]:
    servers: list[ThreadServer] = []

    def start(app: Any, sock: socket.socket | None = None) -> ThreadServer:
        server = ThreadServer(app, sock)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
