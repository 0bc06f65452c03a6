"""The S3 backend against a real moto S3 server on loopback (no patched boto3).

The proxy, run-artifact and traversal tests of tests/store run here again with an
``s3://bucket/prefix`` artifacts destination.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ledgerflow.artifacts.s3 import S3ArtifactRepository, make_client
from ledgerflow.config import ServerConfig
from ledgerflow.errors import MissingExtra
from tests.artifacts.support import PROXY, create_run, get, listing, proxy_path, put, sha256
from tests.conftest import Api

# Re-run the backend-independent tests against S3 (collected again in this module, where the
# fixtures below replace the local destination).
from tests.store.test_artifacts_digests import (  # noqa: F401
    test_download_carries_the_upload_digest,
    test_overwrite_and_delete_keep_digests_current,
)
from tests.store.test_artifacts_proxy import (  # noqa: F401
    test_active_content_is_served_as_an_attachment,
    test_ajax_prefix_serves_the_same_store,
    test_delete_does_not_touch_siblings_sharing_a_name_prefix,
    test_delete_file_tree_and_missing_path,
    test_empty_file,
    test_empty_path_is_rejected,
    test_listing_a_missing_dir_or_a_file_is_an_empty_object,
    test_listing_matches_mlflow_shape,
    test_listing_path_is_normalised,
    test_missing_file_and_directory_give_json_404,
    test_multi_part_sized_file,
    test_overwrite_replaces_the_file,
    test_paths_with_spaces_and_colons_keep_their_characters,
    test_put_answers_empty_json_object,
    test_put_then_get_round_trips_bytes_and_type,
    test_unicode_names,
)
from tests.store.test_artifacts_runs import (  # noqa: F401
    test_get_artifact_routes,
    test_list_artifacts_shape,
    test_log_text_and_log_dict_layout,
    test_logged_model_artifact_routes,
    test_paths_with_spaces,
    test_ui_upload_artifact,
)
from tests.store.test_artifacts_security import (  # noqa: F401
    outside,
    test_ordinary_nested_paths_are_unaffected,
    test_traversal_is_rejected_on_every_route,
)

PREFIX = "store/root"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3(moto_endpoint: str) -> Iterator[Any]:
    """A boto3 client on the moto server, with dummy credentials in the environment for the
    session (building a boto3 client is slow, so the tests share one)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        yield make_client(moto_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"lf-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def server_config(db_uri: str, bucket: str, moto_endpoint: str) -> ServerConfig:
    return ServerConfig(
        backend_store_uri=db_uri,
        artifacts_destination=f"s3://{bucket}/{PREFIX}",
        s3_endpoint_url=moto_endpoint,
    )


def _keys(s3: Any, bucket: str) -> list[str]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(found)


@pytest.fixture
def outside_state(outside: Path, s3: Any, bucket: str) -> Any:  # noqa: F811
    def snapshot() -> Any:
        local = sorted(str(p.relative_to(outside)) for p in outside.rglob("*"))
        stray = [key for key in _keys(s3, bucket) if not key.startswith(PREFIX + "/")]
        return local, stray, s3.list_buckets()["Buckets"].__len__()

    return snapshot


def test_objects_land_under_the_prefix(client: TestClient, s3: Any, bucket: str) -> None:
    put(client, "1/abc/artifacts/dir/notes.txt", b"in s3")
    assert _keys(s3, bucket) == [f"{PREFIX}/1/abc/artifacts/dir/notes.txt"]
    body = s3.get_object(Bucket=bucket, Key=f"{PREFIX}/1/abc/artifacts/dir/notes.txt")["Body"].read()
    assert body == b"in s3"


def test_large_files_use_multipart_upload(client: TestClient, s3: Any, bucket: str) -> None:
    data = b"m" * (8 * 1024 * 1024) * 2 + b"rest"
    put(client, "1/r/artifacts/big.bin", data)
    head = s3.head_object(Bucket=bucket, Key=f"{PREFIX}/1/r/artifacts/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 8 MiB, 8 MiB, 4 bytes
    assert sha256(get(client, "1/r/artifacts/big.bin").content) == sha256(data)


def test_aborted_upload_leaves_no_object_and_no_pending_parts(
    client: TestClient, s3: Any, bucket: str
) -> None:
    artifacts = client.app.state.services.artifacts  # type: ignore[attr-defined]
    upload = artifacts.open_upload(artifacts.proxy_target("1/r/artifacts/partial.bin"))
    upload.write(b"p" * (9 * 1024 * 1024))
    upload.abort()
    assert _keys(s3, bucket) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert get(client, "1/r/artifacts/partial.bin").status_code == 404


def test_verify_detects_an_object_replaced_behind_the_server(
    client: TestClient, s3: Any, bucket: str
) -> None:
    artifacts = client.app.state.services.artifacts  # type: ignore[attr-defined]
    put(client, "1/r/artifacts/model.pkl", b"original")
    assert artifacts.verify("1/r/artifacts/model.pkl")
    assert artifacts.verify(f"s3://{bucket}/{PREFIX}/1/r/artifacts/model.pkl")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/1/r/artifacts/model.pkl", Body=b"replaced")
    assert not artifacts.verify("1/r/artifacts/model.pkl")


def test_delete_tree_of_a_run(api: Api, s3: Any, bucket: str) -> None:
    artifacts = api.client.app.state.services.artifacts  # type: ignore[attr-defined]
    keep, purge = create_run(api), create_run(api)
    put(api.client, f"{proxy_path(keep['artifact_uri'])}/a.txt", b"keep")
    for index in range(3):
        put(api.client, f"{proxy_path(purge['artifact_uri'])}/d/{index}.txt", b"purge")
    artifacts.delete_tree(purge["artifact_uri"])
    assert _keys(s3, bucket) == [f"{PREFIX}/{proxy_path(keep['artifact_uri'])}/a.txt"]


def test_listing_skips_folder_markers_and_unsafe_keys(client: TestClient, s3: Any, bucket: str) -> None:
    # Objects written by other tools: a console "folder", and keys no client path can name.
    for key in ("1/r/artifacts/folder/", "1/r/artifacts/../escape.txt", "1/r/artifacts/a\\b.txt"):
        s3.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=b"")
    put(client, "1/r/artifacts/ok.txt", b"ok")
    assert listing(client, "1/r/artifacts") == {
        "files": [{"path": "folder", "is_dir": True}, {"path": "ok.txt", "is_dir": False, "file_size": 2}]
    }


def test_run_under_an_allowed_s3_root(
    make_client: Any, db_uri: str, s3: Any, bucket: str, moto_endpoint: str, tmp_path: Path
) -> None:
    # Direct (non-proxied) S3 locations under a configured root are listed and served too.
    config = ServerConfig(
        backend_store_uri=db_uri,
        artifacts_destination=str(tmp_path / "local-dest"),
        allowed_artifact_roots=(f"s3://{bucket}/direct",),
        s3_endpoint_url=moto_endpoint,
    )
    api = Api(make_client(config))
    experiment_id = api.ok(
        "post", "experiments/create", {"name": "s3", "artifact_location": f"s3://{bucket}/direct/exp"}
    )["experiment_id"]
    run = create_run(api, experiment_id)
    key = f"{run['artifact_uri'][len(f's3://{bucket}/') :]}/metrics.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=b"a,b\n")
    listed = api.ok("get", "artifacts/list", {"run_id": run["run_id"]})
    assert listed == {
        "root_uri": run["artifact_uri"],
        "files": [{"path": "metrics.csv", "is_dir": False, "file_size": 4}],
    }
    response = api.client.get("/get-artifact", params={"run_id": run["run_id"], "path": "metrics.csv"})
    assert response.content == b"a,b\n"


def test_endpoint_from_the_environment(
    s3: Any, bucket: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto_endpoint)
    repo = S3ArtifactRepository(f"s3://{bucket}/env")
    writer = repo.open_writer("x.txt")
    writer.write(b"env")
    writer.commit()
    assert _keys(s3, bucket) == ["env/x.txt"]


def test_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingExtra, match=r"pip install 'ledgerflow\[s3\]'"):
        S3ArtifactRepository("s3://bucket/prefix")


def test_proxy_delete_of_missing_path_on_s3(client: TestClient) -> None:
    assert client.delete(f"{PROXY}/1/none").status_code == 200
