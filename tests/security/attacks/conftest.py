"""Shared world for the attack suite: one auth-on server per module (a real uvicorn on loopback,
so raw request paths reach the app exactly as a client sent them), a team experiment with a
run, an artifact, a logged model and a registered model with a version, users per role, and a
secret file beside the artifact root that no request may read, change or delete.

Every case asserts the refusal (status and MLflow error_code) and that nothing changed: the
tracking/registry/grant rows, the files under the artifact root and the files beside it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.authz.support import ADMIN, World, basic, build_world, snapshot
from tests.conftest import LiveServer

SECRET = "TOP-SECRET-do-not-serve-4f1c"


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Target:
    """A live server and the world inside it."""

    live: LiveServer
    world: World
    outside: Path

    @property
    def services(self) -> Any:
        return self.world.services

    def request(
        self,
        method: str,
        path: str,
        *,
        who: str | None = ADMIN,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Raw:
        """Send *path* byte for byte (no client-side normalisation of dots or encodings)."""
        sent = dict(basic(who)) if who else {}
        data: bytes | None
        if isinstance(body, dict):
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        else:
            data = body
        sent.update(headers or {})
        connection = http.client.HTTPConnection("127.0.0.1", self.live.port, timeout=30)
        try:
            connection.putrequest(method, path, skip_host="Host" in sent, skip_accept_encoding=True)
            for key, value in sent.items():
                connection.putheader(key, value)
            connection.putheader("Content-Length", str(len(data or b"")))
            connection.endheaders(data)
            answer = connection.getresponse()
            return Raw(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            connection.close()

    def state(self) -> tuple[Any, ...]:
        beside = tuple(
            sorted(
                (str(p.relative_to(self.outside)), p.read_bytes() if p.is_file() else b"")
                for p in self.outside.rglob("*")
            )
        )
        return (*snapshot(self.world), beside)

    @contextlib.contextmanager
    def unchanged(self) -> Iterator[None]:
        before = self.state()
        yield
        assert self.state() == before, "a refused request changed state"


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    """The MLflow error JSON of a refusal, which never echoes the secret."""
    actual = response.status_code if hasattr(response, "status_code") else response.status
    assert actual == status, response.text
    payload: dict[str, Any] = response.json()
    assert payload["error_code"] == code, payload
    assert SECRET not in response.text
    return payload


def attack_config(base: Path, **extra: Any) -> ServerConfig:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{base / 'ledgerflow.db'}",
        artifacts_destination=str(base / "store" / "artifacts"),
    )
    return replace(config, auth_required=True, **extra)


def start_target(base: Path, **extra: Any) -> tuple[Target, LiveServer]:
    outside = base / "store" / "outside"
    outside.mkdir(parents=True)
    (outside / "secret.txt").write_text(SECRET)
    live = LiveServer(attack_config(base, **extra))
    client = TestClient(live.app, base_url=live.url, raise_server_exceptions=False)
    world = build_world(client, base / "store" / "artifacts")
    return Target(live, world, outside), live


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    made, live = start_target(tmp_path_factory.mktemp("attack"))
    try:
        yield made
    finally:
        live.stop()
