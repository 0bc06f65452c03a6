"""Fixtures for the browser-hardening suite: apps with a Host allow-list and CORS origins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
APP_ORIGIN = "https://notebooks.example.org"


@pytest.fixture
def guarded_config(server_config: ServerConfig) -> ServerConfig:
    """What `ledgerflow server --host 127.0.0.1 --cors-allowed-origins <APP_ORIGIN>` builds."""
    return replace(server_config, allowed_hosts=LOCAL_HOSTS, cors_allowed_origins=(APP_ORIGIN,))


@pytest.fixture
def make_guarded(
    make_client: Callable[[ServerConfig], TestClient],
) -> Callable[..., TestClient]:
    def make(config: ServerConfig, base_url: str = "http://localhost:5000") -> TestClient:
        client = make_client(config)
        return TestClient(client.app, base_url=base_url, raise_server_exceptions=False)

    return make


@pytest.fixture
def guarded(make_guarded: Callable[..., TestClient], guarded_config: ServerConfig) -> TestClient:
    return make_guarded(guarded_config)


def experiment_names(client: TestClient) -> list[str]:
    found = client.post("/api/2.0/mlflow/experiments/search", json={"max_results": 1000})
    assert found.status_code == 200, found.text
    return sorted(e["name"] for e in found.json().get("experiments", []))


__all__ = ["APP_ORIGIN", "LOCAL_HOSTS", "create_app", "experiment_names"]
