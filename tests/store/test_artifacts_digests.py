"""SHA-256 digests recorded at upload and sent with every download."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.store.schema import artifact_digests
from tests.artifacts.support import PROXY, create_run, get, proxy_path, put, sha256
from tests.conftest import Api


def _services(client: TestClient) -> object:
    return client.app.state.services  # type: ignore[attr-defined]


def test_download_carries_the_upload_digest(client: TestClient) -> None:
    data = b"digest me" * 1000
    put(client, "1/r/artifacts/d.bin", data)
    response = get(client, "1/r/artifacts/d.bin")
    assert response.headers["x-ledgerflow-sha256"] == sha256(data)
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert response.headers["repr-digest"] == f"sha-256=:{expected}:"


def test_verify_detects_a_file_changed_on_disk(client: TestClient, server_config: ServerConfig) -> None:
    services = _services(client)
    put(client, "1/r/artifacts/model.pkl", b"original weights")
    assert services.artifacts.verify("1/r/artifacts/model.pkl")  # type: ignore[attr-defined]
    assert services.artifacts.verify("mlflow-artifacts:/1/r/artifacts/model.pkl")  # type: ignore[attr-defined]

    on_disk = Path(server_config.artifacts_destination) / "1" / "r" / "artifacts" / "model.pkl"
    on_disk.write_bytes(b"tampered weights")  # same size, different bytes
    assert not services.artifacts.verify("1/r/artifacts/model.pkl")  # type: ignore[attr-defined]
    # A client checking the header against what it received sees the mismatch too.
    response = get(client, "1/r/artifacts/model.pkl")
    assert response.content == b"tampered weights"
    assert response.headers["x-ledgerflow-sha256"] == sha256(b"original weights")
    assert sha256(response.content) != response.headers["x-ledgerflow-sha256"]


def test_verify_without_a_digest_or_a_file_is_false(client: TestClient, server_config: ServerConfig) -> None:
    services = _services(client)
    assert not services.artifacts.verify("1/r/artifacts/missing.txt")  # type: ignore[attr-defined]
    outside_upload = Path(server_config.artifacts_destination) / "1" / "r" / "artifacts" / "copied.txt"
    outside_upload.parent.mkdir(parents=True)
    outside_upload.write_bytes(b"not uploaded through the server")
    assert not services.artifacts.verify("1/r/artifacts/copied.txt")  # type: ignore[attr-defined]


def test_overwrite_and_delete_keep_digests_current(client: TestClient) -> None:
    services = _services(client)
    put(client, "1/r/artifacts/a.txt", b"one")
    put(client, "1/r/artifacts/a.txt", b"two")
    assert get(client, "1/r/artifacts/a.txt").headers["x-ledgerflow-sha256"] == sha256(b"two")
    assert services.artifacts.verify("1/r/artifacts/a.txt")  # type: ignore[attr-defined]
    client.delete(f"{PROXY}/1/r/artifacts")
    assert not services.artifacts.verify("1/r/artifacts/a.txt")  # type: ignore[attr-defined]
    with services.db.read() as conn:  # type: ignore[attr-defined]
        assert conn.execute(sa.select(sa.func.count()).select_from(artifact_digests)).scalar() == 0


def test_digest_rows_follow_the_schema_contract(api: Api, server_config: ServerConfig) -> None:
    run = create_run(api)
    put(api.client, f"{proxy_path(run['artifact_uri'])}/x.txt", b"12345")
    location = os.path.join(
        os.path.abspath(server_config.artifacts_destination), proxy_path(run["artifact_uri"]), "x.txt"
    )
    with api.client.app.state.services.db.read() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(sa.select(artifact_digests)).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["location"] == location
    assert row["location_hash"] == hashlib.sha256(location.encode()).hexdigest()
    assert row["size"] == 5
    assert row["sha256"] == sha256(b"12345")
    assert row["created_time"] > 0


def test_deleting_one_tree_keeps_digests_of_similar_names(client: TestClient) -> None:
    services = _services(client)
    put(client, "1/r/artifacts/dir/a.txt", b"a")
    put(client, "1/r/artifacts/dir_2/b.txt", b"b")
    put(client, "1/r/artifacts/dir%25/c.txt", b"c")
    client.delete(f"{PROXY}/1/r/artifacts/dir")
    assert services.artifacts.verify("1/r/artifacts/dir_2/b.txt")  # type: ignore[attr-defined]
