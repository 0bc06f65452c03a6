from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.governance.policy.support import World, build_world


@pytest.fixture
def governed_config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'gov.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        auth_required=True,
        promotion_gate=True,
        sign_models_at_registration=True,
    )


@pytest.fixture
def world(make_client: Callable[[ServerConfig], TestClient], governed_config: ServerConfig) -> World:
    return build_world(make_client(governed_config))
