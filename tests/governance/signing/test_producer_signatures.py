"""CI signs (``ledgerflow sign``), uploads, the server verifies; require_signature holds
unsigned versions back; replayed, revoked and expired signatures are refused."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerflow.cli.main import cli
from ledgerflow.governance.signing.keys import SigningKey, private_pem

LF = "/api/2.0/ledgerflow"
MV = "/api/2.0/mlflow/model-versions"


def ci_key(tmp_path: Path, reg: Any, **window: int) -> tuple[Path, str]:
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    path = tmp_path / f"ci-{key.key_id[:8]}.pem"
    path.write_bytes(private_pem(key))
    body = {"public_key": key.public_pem, "label": "ci", **window}
    made = httpx.post(f"{reg.url}{LF}/keys/create", json=body)
    assert made.status_code == 200, made.text
    return path, key.key_id


def sign(tmp_path: Path, reg: Any, key: Path, version: str | None = None) -> dict[str, Any]:
    out = tmp_path / f"bundle-{time.monotonic_ns()}.sig"
    result = CliRunner().invoke(
        cli,
        [
            "sign",
            "-m",
            str(reg.artifact_dir),
            "--key",
            str(key),
            "--name",
            reg.name,
            "--version",
            version or reg.version,
            "--run-id",
            reg.run_id,
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def status(reg: Any, version: str | None = None) -> str:
    got = httpx.get(f"{reg.url}{MV}/get", params={"name": reg.name, "version": version or reg.version})
    return str(got.json()["model_version"]["status"])


def upload(reg: Any, bundle: dict[str, Any], version: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{reg.url}{LF}/model-versions/signature",
        json={"name": reg.name, "version": version or reg.version, "bundle": bundle},
    )


def test_required_signature_from_ci(register: Callable[..., Any], tmp_path: Path) -> None:
    reg = register(require_signature=True)
    assert status(reg) == "PENDING_REGISTRATION"
    params = {"name": reg.name, "version": reg.version}
    refused = httpx.get(f"{reg.url}{MV}/get-download-uri", params=params)
    assert refused.status_code == 403 and "not signed" in refused.json()["message"]
    served = httpx.get(f"{reg.url}{LF}/model-versions/signature", params={**params, "use": "serve"})
    assert served.status_code == 403

    key, key_id = ci_key(tmp_path, reg)
    answer = upload(reg, sign(tmp_path, reg, key))
    assert answer.status_code == 200, answer.text
    assert answer.json()["signature"]["key_id"] == key_id
    assert status(reg) == "READY"
    assert httpx.get(f"{reg.url}{MV}/get-download-uri", params=params).status_code == 200
    facts = reg.services.facts.collect(reg.name, int(reg.version))
    assert facts["signature"]["status"] == "valid" and facts["signature"]["key_id"] == key_id


def test_replay_onto_another_version_is_refused(register: Callable[..., Any], tmp_path: Path) -> None:
    first = register(require_signature=True)
    second = register(require_signature=True)  # same files, next version number
    assert second.version != first.version
    key, key_id = ci_key(tmp_path, first)
    bundle = sign(tmp_path, first, key)
    assert upload(first, bundle).status_code == 200
    replayed = upload(second, bundle)
    assert replayed.status_code == 403
    assert f"made for {first.name} version {first.version}" in replayed.json()["message"]
    assert status(second) == "PENDING_REGISTRATION"
    with second.services.db.read() as conn:
        import sqlalchemy as sa

        from ledgerflow.store.schema import audit_log

        rows = list(
            conn.execute(sa.select(audit_log).where(audit_log.c.action == "signatures.upload_refused"))
        )
    assert rows and json.loads(rows[-1].details)["key_id"] == key_id


def test_revoked_and_expired_keys(register: Callable[..., Any], tmp_path: Path) -> None:
    reg = register(require_signature=True)
    now = int(time.time() * 1000)
    expired, _ = ci_key(tmp_path, reg, not_before=now - 10_000, not_after=now - 5_000)
    refused = upload(reg, sign(tmp_path, reg, expired))
    assert refused.status_code == 403 and "expired" in refused.json()["message"]

    key, key_id = ci_key(tmp_path, reg)
    assert upload(reg, sign(tmp_path, reg, key)).status_code == 200
    revoked = httpx.post(f"{reg.url}{LF}/keys/revoke", json={"key_id": key_id, "reason": "leaked"})
    assert revoked.status_code == 200 and revoked.json()["key"]["status"] == "revoked"
    state = httpx.get(
        f"{reg.url}{LF}/model-versions/signature", params={"name": reg.name, "version": reg.version}
    )
    assert (
        state.json()["signature"]["status"] == "invalid"
        and "revoked: leaked" in state.json()["signature"]["reason"]
    )
    params = {"name": reg.name, "version": reg.version}
    assert httpx.get(f"{reg.url}{MV}/get-download-uri", params=params).status_code == 403


def test_rotation_keeps_earlier_signatures(register: Callable[..., Any], tmp_path: Path) -> None:
    reg = register(require_signature=True)
    key, key_id = ci_key(tmp_path, reg)
    assert upload(reg, sign(tmp_path, reg, key)).status_code == 200
    successor = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    rotated = httpx.post(
        f"{reg.url}{LF}/keys/rotate", json={"key_id": key_id, "public_key": successor.public_pem}
    )
    assert rotated.status_code == 200 and rotated.json()["previous"]["rotated_to"] == successor.key_id
    params = {"name": reg.name, "version": reg.version}
    assert httpx.get(f"{reg.url}{MV}/get-download-uri", params=params).status_code == 200
    # The old key cannot sign anything new after the rotation.
    later = register(require_signature=True)
    refused = upload(later, sign(tmp_path, later, key))
    assert refused.status_code == 403 and "expired" in refused.json()["message"]


def test_bad_uploads_are_clean_errors(register: Callable[..., Any]) -> None:
    reg = register(require_signature=True)
    for bundle, code in (
        ("not json", "INVALID_PARAMETER_VALUE"),
        ({"mediaType": "x"}, "INVALID_PARAMETER_VALUE"),
        (7, "INVALID_PARAMETER_VALUE"),
    ):
        answer = upload(reg, bundle)  # type: ignore[arg-type]
        assert answer.status_code == 400 and answer.json()["error_code"] == code, answer.text
    bad_key = httpx.post(f"{reg.url}{LF}/keys/create", json={"public_key": "-----BEGIN nonsense"})
    assert bad_key.status_code == 400
    missing = httpx.post(f"{reg.url}{LF}/keys/revoke", json={"key_id": "0" * 64})
    assert missing.status_code == 404
