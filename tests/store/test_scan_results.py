"""Stored scan results on every backend: written at registration, rescanned (update of the
same row), overridden, stale after an allow-list change, gone with the version."""

from __future__ import annotations

import pickle
import time

import sqlalchemy as sa

from tests.conftest import Api
from tests.governance.scanning import payloads as p
from tests.store.registry_support import create_model, create_version, ok

SCAN = "/api/2.0/ledgerflow/model-versions/scan"
PATH = "0/models/m-scan/artifacts"


def _upload(api: Api, name: str, data: bytes) -> None:
    response = api.client.put(f"/api/2.0/mlflow-artifacts/artifacts/{PATH}/{name}", content=data)
    assert response.status_code == 200, response.text


def test_scan_rows_through_the_api(api: Api) -> None:
    _upload(api, "model.pkl", p.logger_pickle())
    _upload(api, "MLmodel", b"flavors:\n  python_function:\n    loader_module: evil.loader\n")
    create_model(api, "scanned")
    create_version(api, "scanned", source=f"mlflow-artifacts:/{PATH}")
    scan = api.client.get(SCAN, params={"name": "scanned", "version": "1"}).json()["scan"]
    assert scan["status"] == "findings" and scan["trigger"] == "registration"
    messages = " ".join(f["message"] for f in scan["findings"])
    assert "logging.getLogger" in messages and "evil.loader" in messages
    again = api.client.post(SCAN + "/rescan", json={"name": "scanned", "version": 1}).json()["scan"]
    assert again["trigger"] == "rescan" and again["manifest_digest"] == scan["manifest_digest"]
    expires = int(time.time() * 1000) + 60_000
    body = {"name": "scanned", "version": "1", "reason": "reviewed", "expires_at": expires}
    overridden = api.client.post(SCAN + "/override", json=body).json()["scan"]
    assert overridden["effective_status"] == "overridden" and overridden["override"]["expires_at"] == expires
    services = api.client.app.state.services  # type: ignore[attr-defined]
    with services.db.write() as conn:
        conn.execute(sa.text("UPDATE model_version_scans SET scanner_version = '0.0.1'"))
    stale = api.client.get(SCAN, params={"name": "scanned", "version": "1"}).json()["scan"]
    assert stale["trigger"] == "stale" and stale["scanner_version"] != "0.0.1"
    assert stale["effective_status"] == "overridden"  # same files: the override still holds
    ok(api, "DELETE", "model-versions/delete", {"name": "scanned", "version": "1"})
    with services.db.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM model_version_scans")).scalar() == 0


def test_clean_version_and_missing_version(api: Api) -> None:
    _upload(api, "model.pkl", pickle.dumps(p.forest()))
    create_model(api, "plain")
    create_version(api, "plain", source=f"mlflow-artifacts:/{PATH}")
    scan = api.client.get(SCAN, params={"name": "plain", "version": "1"}).json()["scan"]
    # The server writes the version's SBOM into its folder before the registration scan.
    assert scan["status"] == "clean" and [f["path"] for f in scan["files"]] == [
        "model.pkl",
        "sbom/cyclonedx.json",
    ]
    missing = api.client.get(SCAN, params={"name": "plain", "version": "9"})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    bad = api.client.get(SCAN, params={"name": "plain", "version": "x"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
