"""Helpers shared by the artifact tests (local and S3 destinations)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.testclient import TestClient

from tests.conftest import Api

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
AJAX_PROXY = "/ajax-api/2.0/mlflow-artifacts/artifacts"
SECRET = b"TOP-SECRET-CONTENT"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def url_path(raw: str) -> str:
    """Put *raw* into a URL path so that the server decodes exactly *raw*: dots are escaped
    too, because HTTP clients collapse literal ``..`` segments before sending."""
    return quote(raw, safe="/%").replace(".", "%2E")


def put(client: TestClient, path: str, data: bytes, prefix: str = PROXY) -> Any:
    response = client.put(f"{prefix}/{url_path(path)}", content=data)
    assert response.status_code == 200, response.text
    return response


def get(client: TestClient, path: str, prefix: str = PROXY) -> Any:
    return client.get(f"{prefix}/{url_path(path)}")


def listing(client: TestClient, path: str | None = None, prefix: str = PROXY) -> Any:
    response = client.get(prefix, params={} if path is None else {"path": path})
    assert response.status_code == 200, response.text
    return response.json()


def create_run(api: Api, experiment_id: str = "0") -> dict[str, Any]:
    info: dict[str, Any] = api.ok("post", "runs/create", {"experiment_id": experiment_id})["run"]["info"]
    return info


def create_logged_model(api: Api, experiment_id: str = "0", name: str = "model") -> dict[str, Any]:
    response = api.client.post(
        "/api/2.0/mlflow/logged-models", json={"experiment_id": experiment_id, "name": name}
    )
    assert response.status_code == 200, response.text
    info: dict[str, Any] = response.json()["model"]["info"]
    return info


def proxy_path(artifact_uri: str) -> str:
    """The proxy path of an ``mlflow-artifacts:/...`` URI."""
    assert artifact_uri.startswith("mlflow-artifacts:/"), artifact_uri
    return artifact_uri[len("mlflow-artifacts:/") :]


def traversal_payloads(target: Path) -> list[str]:
    """Client paths that would reach *target* (an absolute path) if taken literally, in every
    spelling MLflow's advisories list."""
    tail = str(target).lstrip("/")
    up = 24  # more than enough levels to climb from any test directory to "/"
    return [
        "../" * up + tail,
        "a/" + "../" * (up + 1) + tail,
        "./" + "../" * up + tail,
        "/" + tail,
        "%2E%2E%2F" * up + tail,
        "%2e%2e/" * up + tail,
        "%252E%252E%252F" * up + tail,
        "%25252e%25252e%25252f" * up + tail,
        "..\\" * up + tail.replace("/", "\\"),
        "..%5C" * up + tail,
        "ok.txt\x00/" + "../" * up + tail,
        "C:/" + tail,
        "C:\\" + tail.replace("/", "\\"),
        "\\\\host\\share\\" + tail.replace("/", "\\"),
    ]
