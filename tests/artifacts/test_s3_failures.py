"""An S3 destination that cannot be used (no bucket, refused or missing credentials, nothing
listening) answers every artifact call with a clear MLflow error, not a 500 INTERNAL_ERROR
"see the log", and logs each kind of failure once, without a traceback."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.artifacts.support import PROXY
from tests.artifacts.test_s3 import moto_endpoint, s3  # noqa: F401  (fixtures)
from tests.listening import refusing_port

Calls = list[tuple[str, str]]
ARTIFACT_CALLS: Calls = [
    ("PUT", f"{PROXY}/1/r/artifacts/a.txt"),
    ("GET", f"{PROXY}/1/r/artifacts/a.txt"),
    ("GET", PROXY + "?path=1/r"),
    ("DELETE", f"{PROXY}/1/r/artifacts"),
]


def config_for(db_uri: str, tmp_path: Path, bucket: str, endpoint: str) -> ServerConfig:
    return ServerConfig(
        backend_store_uri=db_uri,
        artifacts_destination=f"s3://{bucket}/prefix",
        s3_endpoint_url=endpoint,
        audit_signing_key_path=str(tmp_path / "audit.pem"),
    )


def call_every_route(client: TestClient) -> list[tuple[int, dict[str, str]]]:
    answers = []
    for method, path in ARTIFACT_CALLS:
        response = client.request(method, path, content=b"data" if method == "PUT" else None)
        answers.append((response.status_code, response.json()))
    return answers


def assert_logged_once_without_traceback(caplog: pytest.LogCaptureFixture, expected: str) -> None:
    ours = [r for r in caplog.records if r.name == "ledgerflow.artifacts.s3"]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    assert expected in ours[0].getMessage()
    assert ours[0].exc_info is None
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.fixture
def make(
    make_client: Callable[[ServerConfig], TestClient], db_uri: str, tmp_path: Path
) -> Callable[[str, str], TestClient]:
    def build(bucket: str, endpoint: str) -> TestClient:
        return make_client(config_for(db_uri, tmp_path, bucket, endpoint))

    return build


def test_missing_bucket(
    make: Callable[[str, str], TestClient],
    s3: object,  # noqa: F811
    moto_endpoint: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:12]}"
    client = make(bucket, moto_endpoint)
    caplog.set_level(logging.WARNING)
    for status, body in call_every_route(client):
        assert status == 500
        assert body["error_code"] == "INTERNAL_ERROR"
        assert f"The artifact store bucket '{bucket}' does not exist" in body["message"]
    assert_logged_once_without_traceback(caplog, "does not exist")


def test_refused_credentials(
    make: Callable[[str, str], TestClient],
    s3: object,  # noqa: F811
    moto_endpoint: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = f"lf-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    from moto import settings

    # From here on the moto server checks keys against its (empty) IAM: ours are unknown.
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    client = make(bucket, moto_endpoint)
    caplog.set_level(logging.WARNING)
    for status, body in call_every_route(client):
        assert status == 500
        assert body["error_code"] == "INTERNAL_ERROR"
        assert "refused the server's credentials (InvalidAccessKeyId" in body["message"]
    assert_logged_once_without_traceback(caplog, "refused the server's credentials")


def test_missing_credentials(
    make: Callable[[str, str], TestClient],
    moto_endpoint: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = make("any-bucket", moto_endpoint)
    caplog.set_level(logging.WARNING)
    for status, body in call_every_route(client):
        assert status == 500
        assert body["error_code"] == "INTERNAL_ERROR"
        assert "has no usable S3 credentials" in body["message"]
    assert_logged_once_without_traceback(caplog, "no usable S3 credentials")


def test_unreachable_endpoint_is_503(
    make: Callable[[str, str], TestClient],
    s3: object,  # noqa: F811  (dummy credentials in the environment)
    caplog: pytest.LogCaptureFixture,
) -> None:
    with refusing_port() as port:
        closed = f"http://127.0.0.1:{port}"
        client = make("bucket", closed)
        caplog.set_level(logging.WARNING)
        started = time.monotonic()
        for status, body in call_every_route(client):
            assert status == 503
            assert body["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert body["message"].startswith("The artifact store is unreachable: ")
            assert closed in body["message"]
    assert time.monotonic() - started < 120
    assert_logged_once_without_traceback(caplog, "unreachable")
