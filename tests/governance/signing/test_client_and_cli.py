"""Load and serve refusals on the client side, and the keys CLI on the backend store."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

import ledgerflow.pyfunc
from ledgerflow.cli.main import cli, main
from ledgerflow.client.client import Client
from ledgerflow.config import ServerConfig
from ledgerflow.errors import LedgerflowError, PermissionDenied
from ledgerflow.governance.signing.client_checks import verify_registered_download
from ledgerflow.governance.signing.keys import SigningKey
from ledgerflow.store.schema import audit_log


def test_load_and_serve_refused_while_unsigned(
    register: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    reg = register(require_signature=True)
    with pytest.raises(LedgerflowError) as caught:
        ledgerflow.pyfunc.load_model(f"models:/{reg.name}/{reg.version}")
    assert caught.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "models",
                "serve",
                "-m",
                f"models:/{reg.name}/{reg.version}",
                "--tracking-uri",
                reg.url,
                "-p",
                "0",
            ]
        )
    assert done.value.code != 0
    assert "Refusing to serve" in capsys.readouterr().err
    with reg.services.db.read() as conn:
        actions = {
            row.action
            for row in conn.execute(sa.select(audit_log.c.action).where(audit_log.c.outcome == "denied"))
        }
    assert {"signatures.download_refused", "signatures.serve_refused"} <= actions


def test_client_checks_the_downloaded_bytes(register: Callable[..., Any], tmp_path: Path) -> None:
    reg = register(sign_models_at_registration=True)
    client = Client(reg.url)
    copy = tmp_path / "downloaded"
    shutil.copytree(reg.artifact_dir, copy)
    verify_registered_download(client, reg.name, reg.version, copy)
    # Bytes altered after they left the server (a cache, a proxy) are caught locally.
    (copy / "MLmodel").write_text((copy / "MLmodel").read_text() + "\n# changed\n")
    with pytest.raises(PermissionDenied, match="file changed after signing: MLmodel"):
        verify_registered_download(client, reg.name, reg.version, copy)


def test_client_setting_requires_signatures(
    register: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = register()  # the server does not require signatures; this client does
    copy = tmp_path / "downloaded"
    shutil.copytree(reg.artifact_dir, copy)
    verify_registered_download(Client(reg.url), reg.name, reg.version, copy)
    monkeypatch.setenv("LEDGERFLOW_REQUIRE_SIGNATURE", "true")
    with pytest.raises(PermissionDenied, match="no valid signature"):
        verify_registered_download(Client(reg.url), reg.name, reg.version, copy)


def test_keys_cli(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = ["--backend-store-uri", f"sqlite:///{db}"]
    first, second = (SigningKey(ec.generate_private_key(ec.SECP256R1())) for _ in range(2))
    (tmp_path / "a.pem").write_text(first.public_pem)
    (tmp_path / "b.pem").write_text(second.public_pem)
    runner = CliRunner()
    added = runner.invoke(
        cli, ["keys", "add", *store, "--public-key", str(tmp_path / "a.pem"), "--label", "ci"]
    )
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == first.key_id
    rotated = runner.invoke(
        cli, ["keys", "rotate", *store, first.key_id, "--public-key", str(tmp_path / "b.pem")]
    )
    assert rotated.exit_code == 0 and rotated.stdout.strip() == second.key_id
    revoked = runner.invoke(cli, ["keys", "revoke", *store, second.key_id, "--reason", "test"])
    assert revoked.exit_code == 0, revoked.output
    listed = runner.invoke(cli, ["keys", "list", *store]).stdout.splitlines()
    rows = {line.split("\t")[0]: line.split("\t") for line in listed}
    assert rows[first.key_id][2] == "active" and rows[first.key_id][5] == second.key_id
    assert rows[second.key_id][2] == "revoked"
    assert any(row[1] == "ledgerflow-server" for row in rows.values())  # the server's own key

    with pytest.raises(SystemExit) as done:
        main(["keys", "revoke", *store, "f" * 64])
    assert done.value.code != 0
    (tmp_path / "ed.pem").write_text(
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    )
    with pytest.raises(SystemExit) as done:
        main(["keys", "add", *store, "--public-key", str(tmp_path / "ed.pem")])
    assert done.value.code != 0

    from ledgerflow.tracking.services import build_services

    services = build_services(ServerConfig(backend_store_uri=f"sqlite:///{db}"))
    try:
        with services.db.read() as conn:
            actions = [row.action for row in conn.execute(sa.select(audit_log.c.action))]
    finally:
        services.close()
    assert {"keys.add", "keys.rotate", "keys.revoke", "signing_keys.trust"} <= set(actions)
    assert json.dumps(actions)
