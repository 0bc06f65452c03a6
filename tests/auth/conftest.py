"""Fixtures for the authentication suite: an app with auth on and an admin, plus helpers."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig

ADMIN = ("root-admin", "Correct-Horse-Battery-9")
ALICE = ("alice", "Wonder-land-Strong-Pw0")


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth_config(server_config: ServerConfig) -> ServerConfig:
    return replace(server_config, auth_required=True, lockout_threshold=3, lockout_seconds=2.0)


@pytest.fixture
def secured(make_client: Callable[[ServerConfig], TestClient], auth_config: ServerConfig) -> TestClient:
    """A client of an auth-on app that has an admin and a plain user."""
    client = make_client(auth_config)
    auth = client.app.state.services.auth  # type: ignore[attr-defined]
    auth.create_user(*ADMIN, is_admin=True)
    auth.create_user(*ALICE)
    # Authorization is on with auth: these tests read the Default experiment as a plain user.
    client.app.state.services.authz.grant("experiment", "0", "all", "*", "viewer", actor=None)  # type: ignore[attr-defined]
    return client


def make_token(client: TestClient, who: tuple[str, str], scopes: list[str], **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/2.0/ledgerflow/tokens/create",
        json={"name": "t", "scopes": scopes, **extra},
        headers=basic(*who),
    )
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()
    return made


@pytest.fixture
def tmp_root(tmp_path: Path) -> Path:
    return tmp_path
