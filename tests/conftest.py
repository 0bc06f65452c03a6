"""Shared fixtures: a fresh app (its own database and artifact folder) per test.

Tests under ``tests/store/`` run on every backend: SQLite, and the PostgreSQL and MariaDB
servers on 127.0.0.1 (set LEDGERFLOW_TEST_BACKENDS=sqlite to skip the network ones while
iterating). Each test gets its own database, created and dropped here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app

PG_ADMIN_URI = os.environ.get("LEDGERFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN_URI = os.environ.get("LEDGERFLOW_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/")
ALL_BACKENDS = ("sqlite", "postgres", "mysql")


@pytest.fixture(autouse=True)
def isolated_fluent_state() -> Iterator[None]:
    """Every test starts and ends with no fluent tracking state (URI, experiment, cached client).

    That state lives in the process, and one xdist worker runs many test files (--dist loadfile).
    A URI left by ``ledgerflow.set_tracking_uri`` outranks LEDGERFLOW_TRACKING_URI, so a later
    test's in-process CLI calls (CliRunner) went to the earlier test's stopped server ("Could
    not reach the tracking server"), depending on which files shared the worker. The name is
    distinct from the folders' own ``clean_fluent_state`` fixtures so none of them hides it.
    """
    from ledgerflow.client.fluent import reset_fluent_state

    reset_fluent_state()
    yield
    reset_fluent_state()


def selected_backends() -> tuple[str, ...]:
    wanted = os.environ.get("LEDGERFLOW_TEST_BACKENDS")
    return tuple(b for b in ALL_BACKENDS if not wanted or b in wanted.split(","))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        in_store_suite = "tests/store/" in str(metafunc.definition.path).replace(os.sep, "/")
        backends = selected_backends() if in_store_suite else ("sqlite",)
        metafunc.parametrize("backend", backends, scope="function")


@pytest.fixture
def db_uri(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledgerflow.db'}"
        return
    name = f"lf_test_{uuid.uuid4().hex[:12]}"
    admin_uri = PG_ADMIN_URI if backend == "postgres" else MYSQL_ADMIN_URI
    admin = sa.create_engine(admin_uri, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "mysql":
            # The server's default (case-insensitive) collation, as an operator would create it:
            # the migrations must make keys case-sensitive themselves.
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        else:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    base = admin_uri.rstrip("/").rsplit("/", 1)[0] if backend == "postgres" else admin_uri.rstrip("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            if backend == "postgres":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@pytest.fixture
def server_config(db_uri: str, tmp_path: Path) -> ServerConfig:
    return ServerConfig(backend_store_uri=db_uri, artifacts_destination=str(tmp_path / "artifacts"))


class Api:
    """A thin helper over Starlette's TestClient speaking MLflow's REST paths."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def post(self, path: str, body: dict[str, Any] | None = None, *, version: str = "2.0") -> Any:
        return self.client.post(f"/api/{version}/mlflow/{path}", json=body or {})

    def get(self, path: str, params: dict[str, Any] | None = None, *, version: str = "2.0") -> Any:
        return self.client.get(f"/api/{version}/mlflow/{path}", params=params or {})

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        response = getattr(self, method)(path, body, **kw)
        assert response.status_code == 200, response.text
        return response.json()

    def error(self, method: str, path: str, body: dict[str, Any] | None, status: int, code: str) -> str:
        response = getattr(self, method)(path, body)
        assert response.status_code == status, response.text
        payload = response.json()
        assert payload["error_code"] == code, payload
        return str(payload["message"])


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[[ServerConfig], TestClient]]:
    clients: list[TestClient] = []

    def make(config: ServerConfig) -> TestClient:
        client = TestClient(create_app(config), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig) -> TestClient:
    return make_client(server_config)


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


class LiveServer:
    """A real uvicorn server on a loopback port, running our app in a background thread."""

    def __init__(self, config: ServerConfig) -> None:
        import threading

        import uvicorn

        from tests.listening import loopback_socket

        self.config = config
        self.app = create_app(config)
        # uvicorn serves the socket bound here, so the port is never free for another test.
        self._sock = loopback_socket()
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        import time

        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError("live server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()


@pytest.fixture
def make_live_server() -> Iterator[Callable[[ServerConfig], LiveServer]]:
    servers: list[LiveServer] = []

    def make(config: ServerConfig) -> LiveServer:
        server = LiveServer(config)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(
    make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig
) -> LiveServer:
    """A real server on loopback over a fresh SQLite store (the backend fixture picks the store)."""
    return make_live_server(server_config)
