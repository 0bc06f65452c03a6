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
