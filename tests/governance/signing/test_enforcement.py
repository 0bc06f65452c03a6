"""Signatures enforced at registration, download, promotion and load, on a live server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import ledgerflow.pyfunc
from ledgerflow.errors import LedgerflowError
from ledgerflow.models.uri import download_model
from ledgerflow.store.schema import audit_log

LF = "/api/2.0/ledgerflow"
MV = "/api/2.0/mlflow/model-versions"


def refusals(reg: Any, action: str) -> list[dict[str, Any]]:
    with reg.services.db.read() as conn:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.action == action, audit_log.c.outcome == "denied")
        )
        return [{"resource_id": row.resource_id, **json.loads(row.details)} for row in rows]


def test_platform_signature_then_tampering_is_refused_everywhere(register: Callable[..., Any]) -> None:
    reg = register(sign_models_at_registration=True)
    version = httpx.get(f"{reg.url}{MV}/get", params={"name": reg.name, "version": reg.version}).json()
    assert version["model_version"]["status"] == "READY"
    state = httpx.get(
        f"{reg.url}{LF}/model-versions/signature", params={"name": reg.name, "version": reg.version}
    )
    signature = state.json()["signature"]
    key_id = reg.services.signing.key.key_id
    assert (
        signature["status"] == "valid" and signature["key_id"] == key_id and signature["mode"] == "platform"
    )
    assert (
        httpx.get(
            f"{reg.url}{MV}/get-download-uri", params={"name": reg.name, "version": reg.version}
        ).status_code
        == 200
    )
    # The download path load_model takes (before any unpickling) passes while files match.
    assert (Path(download_model(f"models:/{reg.name}/{reg.version}")) / "model.pkl").is_file()

    # One byte of the stored pickle changes behind the server's back.
    pickle = reg.artifact_dir / "model.pkl"
    data = bytearray(pickle.read_bytes())
    data[len(data) // 2] ^= 0x01
    pickle.write_bytes(bytes(data))

    refused = httpx.get(f"{reg.url}{MV}/get-download-uri", params={"name": reg.name, "version": reg.version})
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert "file changed after signing: model.pkl" in refused.json()["message"]
    with pytest.raises(LedgerflowError) as caught:
        ledgerflow.pyfunc.load_model(f"models:/{reg.name}/{reg.version}")
    assert caught.value.error_code == "PERMISSION_DENIED"
    promote = httpx.post(
        f"{reg.url}/api/2.0/mlflow/registered-models/alias",
        json={"name": reg.name, "alias": "champion", "version": reg.version},
    )
    assert promote.status_code == 403
    single = httpx.get(
        f"{reg.url}/model-versions/get-artifact",
        params={"name": reg.name, "version": reg.version, "path": "model.pkl"},
    )
    assert single.status_code == 403
    facts = reg.services.facts.collect(reg.name, int(reg.version))["signature"]
    assert facts["status"] == "invalid" and facts["key_id"] == key_id

    for action in ("signatures.download_refused", "signatures.promote_refused"):
        found = refusals(reg, action)
        assert found and all(r["key_id"] == key_id for r in found), action
        assert found[0]["resource_id"] == f"{reg.name}/{reg.version}"


def test_an_added_file_is_refused(register: Callable[..., Any]) -> None:
    reg = register(sign_models_at_registration=True)
    (reg.artifact_dir / "extra.py").write_text("print('hi')\n")
    refused = httpx.get(f"{reg.url}{MV}/get-download-uri", params={"name": reg.name, "version": reg.version})
    assert refused.status_code == 403 and "file added after signing: extra.py" in refused.json()["message"]
    single = httpx.get(
        f"{reg.url}/model-versions/get-artifact",
        params={"name": reg.name, "version": reg.version, "path": "extra.py"},
    )
    assert single.status_code == 403 and "file not signed" in single.json()["message"]


def test_stage_promotion_refused_and_attestation_routes(register: Callable[..., Any]) -> None:
    reg = register(sign_models_at_registration=True)
    base = f"{reg.url}{LF}/model-versions/attestations"
    params = {"name": reg.name, "version": reg.version}
    listed = httpx.get(base, params=params).json()["attestations"]
    assert [a["predicate_type"] for a in listed] == [
        "https://cyclonedx.org/bom/v1.6",
        "https://slsa.dev/provenance/v1",
    ]
    one = listed[1]["attestation_id"]
    got = httpx.get(f"{base}/get", params={**params, "attestation_id": one}).json()["attestation"]
    assert got["predicate"]["runDetails"]["metadata"]["invocationId"] == reg.run_id
    checked = httpx.get(f"{base}/verify", params={**params, "attestation_id": one, "check_files": "true"})
    assert checked.json()["verification"] == {
        "attestation_id": one,
        "valid": True,
        "key_id": reg.services.signing.key.key_id,
        "files_match": True,
    }
    other = httpx.get(f"{base}/get", params={"name": reg.name, "version": "2", "attestation_id": one})
    assert other.status_code == 404

    (reg.artifact_dir / "MLmodel").write_text("flavors: {}\n")
    staged = httpx.post(
        f"{reg.url}/api/2.0/mlflow/model-versions/transition-stage",
        json={
            "name": reg.name,
            "version": reg.version,
            "stage": "Production",
            "archive_existing_versions": False,
        },
    )
    assert staged.status_code == 403 and "file changed after signing: MLmodel" in staged.json()["message"]
    checked = httpx.get(f"{base}/verify", params={**params, "attestation_id": one, "check_files": "true"})
    assert checked.json()["verification"]["files_match"] is False


def test_key_changes_through_the_api_are_audited(register: Callable[..., Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from ledgerflow.governance.signing.keys import SigningKey

    reg = register()
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    assert httpx.post(f"{reg.url}{LF}/keys/create", json={"public_key": key.public_pem}).status_code == 200
    assert httpx.post(f"{reg.url}{LF}/keys/revoke", json={"key_id": key.key_id}).status_code == 200
    with reg.services.db.read() as conn:
        rows = list(conn.execute(sa.select(audit_log).where(audit_log.c.action.like("signing.%"))))
    assert {row.action for row in rows} >= {"signing.create_key", "signing.revoke_key"}
    assert all(row.outcome == "success" for row in rows)
