"""Who the audit trail names: every write made on this machine without a server is
``cli:<os user>`` from "local", and token records keep the token's id but never its value."""

from __future__ import annotations

import getpass
import io
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.client.transport import LocalTransport
from ledgerflow.config import ServerConfig
from ledgerflow.store.database import create_db_engine
from tests.auth.conftest import ADMIN, basic
from tests.cli.conftest import CliResult
from tests.conftest import Api


@pytest.fixture
def secured_with_audit(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig
) -> tuple[Api, str]:
    config = replace(server_config, auth_required=True)
    client = make_client(config)
    client.app.state.services.auth.create_user(*ADMIN, is_admin=True)  # type: ignore[attr-defined]
    return Api(client), config.backend_store_uri


def _exported(cli: Callable[[list[str]], CliResult], uri: str) -> list[dict[str, object]]:
    result = cli(["audit", "export", "--backend-store-uri", uri])
    assert result.exit_code == 0, result
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_every_local_write_names_the_same_actor(
    cli: Callable[[list[str]], CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'ledgerflow.db'}"
    store = ["--backend-store-uri", uri, "--artifacts-destination", str(tmp_path / "store" / "artifacts")]
    monkeypatch.setattr(sys, "stdin", io.StringIO("Admin-Pass-Long-77\n"))
    commands = [
        ["users", "create-admin", "--username", "ops", "--password-stdin"],
        ["users", "create", "ci", "--service"],
        ["groups", "create", "data-team"],
        ["groups", "add-member", "data-team", "ops"],
        ["grants", "create", "experiment", "0", "group:data-team", "editor"],
        ["tokens", "create", "--username", "ci", "--name", "nightly"],
    ]
    for command in commands:
        result = cli([*command, *store])
        assert result.exit_code == 0, (command, result)
    # The in-process client on the same store (the folder holding ledgerflow.db).
    transport = LocalTransport(str(tmp_path / "store"))
    try:
        transport.call("POST", "/2.0/mlflow/experiments/create", {"name": "offline"})
    finally:
        transport.close()
    caused = [record for record in _exported(cli, uri) if record["actor"] != "system"]
    actions = {str(record["action"]) for record in caused}
    assert {
        "auth.create_user",
        "authz.create_group",
        "authz.add_member",
        "authz.grant",
        "auth.create_token",
        "experiments.create_experiment",
    } <= actions
    assert {(record["actor"], record.get("source_address")) for record in caused} == {
        (f"cli:{getpass.getuser()}", "local")
    }


def test_token_records_keep_the_id_and_never_the_value(
    secured_with_audit: tuple[Api, str], cli: Callable[[list[str]], CliResult]
) -> None:
    api, uri = secured_with_audit
    made = api.client.post(
        "/api/2.0/ledgerflow/tokens/create", json={"name": "ci", "scopes": ["read"]}, headers=basic(*ADMIN)
    )
    assert made.status_code == 200, made.text
    token_id, secret = made.json()["token"]["token_id"], made.json()["secret"]
    used = api.client.get(
        "/api/2.0/mlflow/experiments/search",
        params={"max_results": 1},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert used.status_code == 200, used.text
    revoked = api.client.post(
        "/api/2.0/ledgerflow/tokens/revoke", json={"token_id": token_id}, headers=basic(*ADMIN)
    )
    assert revoked.status_code == 200, revoked.text
    records = _exported(cli, uri)
    by_action = {str(record["action"]): record for record in records}
    for action in ("auth.create_token", "auth.token_use", "auth.revoke_token"):
        details = by_action[action]["details"]
        assert isinstance(details, dict) and details["token_id"] == token_id, (action, details)
    # Nowhere in any stored column, of any record, is the token's value.
    engine = create_db_engine(uri)
    try:
        with engine.connect() as conn:
            dump = json.dumps([list(row) for row in conn.execute(sa.text("SELECT * FROM audit_log"))])
    finally:
        engine.dispose()
    assert secret not in dump and secret.rsplit("_", 1)[-1] not in dump
    assert token_id in dump
