"""Which sources a model version may be registered from (BC-48), on a server whose runs keep
artifacts in a local folder and which also owns one S3 bucket prefix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.conftest import Api
from tests.store.registry_support import create_model, create_version, fails, make_run, ok


@pytest.fixture
def local_api(make_client: Callable[[ServerConfig], TestClient], db_uri: str, tmp_path: Path) -> Api:
    config = ServerConfig(
        backend_store_uri=db_uri,
        artifacts_destination=str(tmp_path / "mlruns"),
        serve_artifacts=False,
        allowed_artifact_roots=("s3://bkt",),
    )
    return Api(make_client(config))


def _invalid(api: Api, source: str, run_id: str | None = None) -> str:
    body = {"name": "m", "source": source}
    if run_id is not None:
        body["run_id"] = run_id
    message = fails(api, "POST", "model-versions/create", body, 400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Invalid model version source"), message
    return message


def test_sources_inside_the_runs_artifact_directory_are_accepted(local_api: Api) -> None:
    api = local_api
    run = make_run(api)
    artifact_uri = run["artifact_uri"]
    assert artifact_uri.startswith("/")
    create_model(api, "m")
    # (a) the run's artifact directory itself, (b) a path below it, also as file: URIs.
    for source in (
        artifact_uri,
        f"{artifact_uri}/model",
        f"file://{artifact_uri}/model",
        f"file:{artifact_uri}",
    ):
        version = create_version(api, "m", source, run_id=run["run_id"])
        uri = ok(api, "GET", "model-versions/get-download-uri", {"name": "m", "version": version["version"]})
        assert uri == {"artifact_uri": source}


def test_local_sources_outside_the_run_are_rejected(local_api: Api, tmp_path: Path) -> None:
    api = local_api
    run = make_run(api)
    other = make_run(api)
    create_model(api, "m")
    # (c), (d): no run_id, relative file: URIs and plain paths.
    assert "run_id request parameter has to be specified" in _invalid(api, "file://./foo")
    _invalid(api, "/etc")
    _invalid(api, "relative/path", run["run_id"])
    # Another run's directory, a sibling sharing the prefix, and an escape with '..'.
    _invalid(api, other["artifact_uri"] + "/model", run["run_id"])
    _invalid(api, run["artifact_uri"] + "-evil", run["run_id"])
    _invalid(api, run["artifact_uri"] + "/../../../secret", run["run_id"])
    _invalid(api, str(tmp_path), run["run_id"])
    assert "latest_versions" not in ok(api, "GET", "registered-models/get", {"name": "m"})["registered_model"]


def test_encoded_traversal_and_nul_bytes_are_rejected(local_api: Api) -> None:
    api = local_api
    run = make_run(api)
    create_model(api, "m")
    # (e) a NUL byte behind percent-encoding, (f) '..' behind (double) percent-encoding.
    _invalid(api, "mlflow-artifacts://host:9000/models/artifact%00", run["run_id"])
    _invalid(api, f"dbfs:/{run['run_id']}/artifacts/a%3f/../../../../", run["run_id"])
    _invalid(api, "s3://bkt/a/%252e%252e/%252e%252e/x", run["run_id"])
    _invalid(api, "s3://bkt/a\\..\\x")
    _invalid(api, "s3://bkt/a/\x01")


def test_remote_sources_only_under_the_servers_roots(local_api: Api) -> None:
    api = local_api
    run = make_run(api)
    create_model(api, "m")
    # (g) a runs:/ URI and (h) an S3 URI under the bucket the server owns.
    assert create_version(api, "m", f"runs:/{run['run_id']}/model")["run_id"] == run["run_id"]
    assert create_version(api, "m", "s3://bkt/model")["source"] == "s3://bkt/model"
    for source in (
        "s3://other-bucket/model",
        "s3://bkt-evil/model",
        "http://169.254.169.254/latest/meta-data",
        "https://example.com/model",
        "ftp://host/model",
    ):
        _invalid(api, source)


def test_default_server_accepts_proxied_sources(api: Api) -> None:
    create_model(api, "m")
    assert create_version(api, "m", "mlflow-artifacts:/0/x/model")["version"] == "1"
    _invalid(api, "s3://b/x")
    _invalid(api, "/tmp/x")
