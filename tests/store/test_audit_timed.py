"""Time-bound checkpoints: the head is signed shortly after writes, and on shutdown, so the
unsigned tail since the last count-based checkpoint stays short in time as well."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app
from ledgerflow.store.database import create_db_engine
from tests.cli.conftest import invoke
from tests.conftest import Api


def _head_and_checkpoints(uri: str) -> tuple[int, set[int]]:
    engine = create_db_engine(uri)
    try:
        with engine.connect() as conn:
            head = conn.execute(sa.text("SELECT seq FROM audit_head")).scalar_one()
            signed = {row.seq for row in conn.execute(sa.text("SELECT seq FROM audit_checkpoints"))}
    finally:
        engine.dispose()
    return int(head), signed


def _config(server_config: ServerConfig, tmp_path: Path, seconds: float) -> ServerConfig:
    return replace(
        server_config,
        audit_signing_key_path=str(tmp_path / "audit.pem"),
        audit_checkpoint_interval=100,
        audit_checkpoint_seconds=seconds,
    )


def test_the_head_is_signed_soon_after_writes(server_config: ServerConfig, tmp_path: Path) -> None:
    config = _config(server_config, tmp_path, 0.2)
    with TestClient(create_app(config)) as client:
        api = Api(client)
        for index in range(3):
            api.ok("post", "experiments/create", {"name": f"timed{index}"})
        head, signed = _head_and_checkpoints(config.backend_store_uri)
        deadline = time.monotonic() + 20
        while head not in signed and time.monotonic() < deadline:
            time.sleep(0.1)
            head, signed = _head_and_checkpoints(config.backend_store_uri)
        assert head in signed, (head, signed)
        # Far below the interval of 100: only the timer can have signed it.
        assert head < 100
    result = invoke(["audit", "verify", "--backend-store-uri", config.backend_store_uri])
    assert result.exit_code == 0, result


def test_shutdown_signs_the_unsigned_tail(server_config: ServerConfig, tmp_path: Path) -> None:
    config = _config(server_config, tmp_path, 3600)
    with TestClient(create_app(config)) as client:
        Api(client).ok("post", "experiments/create", {"name": "last words"})
        head, signed = _head_and_checkpoints(config.backend_store_uri)
        assert head not in signed
    head, signed = _head_and_checkpoints(config.backend_store_uri)
    assert head in signed


def test_no_writes_no_timed_checkpoint(server_config: ServerConfig, tmp_path: Path) -> None:
    config = _config(server_config, tmp_path, 0.1)
    with TestClient(create_app(config)):
        _, before = _head_and_checkpoints(config.backend_store_uri)
        time.sleep(0.5)
        head, after = _head_and_checkpoints(config.backend_store_uri)
    # Start-up records may be signed once; idle time adds nothing after that.
    assert after - before <= {head}
