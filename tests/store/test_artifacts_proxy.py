"""The artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``), as the MLflow client uses it.

The tests that do not look at the local disk run again against an S3 destination
(tests/artifacts/test_s3.py imports them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.artifacts.support import AJAX_PROXY, PROXY, get, listing, put, sha256, url_path


def test_put_then_get_round_trips_bytes_and_type(client: TestClient) -> None:
    put(client, "1/abc/artifacts/notes.txt", b"hello artifacts")
    put(client, "1/abc/artifacts/conf.json", b'{"k": "v"}')
    response = get(client, "1/abc/artifacts/notes.txt")
    assert response.status_code == 200
    assert response.content == b"hello artifacts"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-length"] == "15"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-disposition" not in response.headers
    assert get(client, "1/abc/artifacts/conf.json").headers["content-type"] == "application/json"


def test_put_answers_empty_json_object(client: TestClient) -> None:
    response = put(client, "1/r/artifacts/x.bin", b"\x00\x01")
    assert response.json() == {}


def test_listing_matches_mlflow_shape(client: TestClient) -> None:
    put(client, "1/r/artifacts/a.txt", b"a")
    put(client, "1/r/artifacts/dir/b.txt", b"bb")
    assert listing(client, "1/r/artifacts") == {
        "files": [{"path": "a.txt", "is_dir": False, "file_size": 1}, {"path": "dir", "is_dir": True}]
    }
    assert listing(client, "1/r/artifacts/dir") == {
        "files": [{"path": "b.txt", "is_dir": False, "file_size": 2}]
    }
    assert listing(client, "1") == {"files": [{"path": "r", "is_dir": True}]}
    assert listing(client) == {"files": [{"path": "1", "is_dir": True}]}


def test_listing_a_missing_dir_or_a_file_is_an_empty_object(client: TestClient) -> None:
    put(client, "1/r/artifacts/a.txt", b"a")
    assert listing(client, "1/nope") == {}
    assert listing(client, "1/r/artifacts/a.txt") == {}
    assert listing(client, "1/r/artifacts/a.txt/deeper") == {}


def test_listing_path_is_normalised(client: TestClient) -> None:
    put(client, "1/r/artifacts/a.txt", b"a")
    expected = {"files": [{"path": "a.txt", "is_dir": False, "file_size": 1}]}
    assert listing(client, "1/r/artifacts/") == expected
    assert listing(client, "./1//r/./artifacts") == expected


def test_missing_file_and_directory_give_json_404(client: TestClient) -> None:
    put(client, "1/r/artifacts/model/MLmodel", b"flavors: {}")
    for path in ("1/r/artifacts/missing.txt", "1/r/artifacts/model", "2/x"):
        response = get(client, path)
        assert response.status_code == 404, path
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_overwrite_replaces_the_file(client: TestClient) -> None:
    put(client, "1/r/artifacts/a.txt", b"first version")
    put(client, "1/r/artifacts/a.txt", b"second")
    assert get(client, "1/r/artifacts/a.txt").content == b"second"
    assert listing(client, "1/r/artifacts") == {"files": [{"path": "a.txt", "is_dir": False, "file_size": 6}]}


def test_empty_file(client: TestClient) -> None:
    put(client, "1/r/artifacts/empty", b"")
    response = get(client, "1/r/artifacts/empty")
    assert response.status_code == 200
    assert response.content == b""
    assert listing(client, "1/r/artifacts") == {"files": [{"path": "empty", "is_dir": False, "file_size": 0}]}


def test_multi_part_sized_file(client: TestClient) -> None:
    # Larger than one S3 part (8 MiB) and than one upload flush, not a multiple of either.
    data = os.urandom(1024 * 1024) * 19 + b"tail"
    put(client, "1/r/artifacts/big.bin", data)
    response = get(client, "1/r/artifacts/big.bin")
    assert response.status_code == 200
    assert sha256(response.content) == sha256(data)
    assert response.headers["x-ledgerflow-sha256"] == sha256(data)


def test_delete_file_tree_and_missing_path(client: TestClient) -> None:
    put(client, "1/r/artifacts/a.txt", b"a")
    put(client, "1/r/artifacts/dir/b.txt", b"b")
    put(client, "1/r/artifacts/dir/sub/c.txt", b"c")
    assert client.delete(f"{PROXY}/1/r/artifacts/a.txt").json() == {}
    assert get(client, "1/r/artifacts/a.txt").status_code == 404
    assert client.delete(f"{PROXY}/1/r/artifacts/dir").json() == {}
    assert listing(client, "1/r/artifacts") == {}
    assert get(client, "1/r/artifacts/dir/sub/c.txt").status_code == 404
    response = client.delete(f"{PROXY}/1/r/artifacts/never-existed")
    assert response.status_code == 200


def test_delete_does_not_touch_siblings_sharing_a_name_prefix(client: TestClient) -> None:
    put(client, "1/r/artifacts/dir/a.txt", b"a")
    put(client, "1/r/artifacts/dir2/b.txt", b"b")
    put(client, "1/r/artifacts/dir.txt", b"c")
    client.delete(f"{PROXY}/1/r/artifacts/dir")
    assert get(client, "1/r/artifacts/dir2/b.txt").content == b"b"
    assert get(client, "1/r/artifacts/dir.txt").content == b"c"


def test_ajax_prefix_serves_the_same_store(client: TestClient) -> None:
    put(client, "1/r/artifacts/a.txt", b"via api")
    assert get(client, "1/r/artifacts/a.txt", prefix=AJAX_PROXY).content == b"via api"
    put(client, "1/r/artifacts/b.txt", b"via ajax", prefix=AJAX_PROXY)
    assert listing(client, "1/r/artifacts", prefix=AJAX_PROXY) == listing(client, "1/r/artifacts")
    assert client.delete(f"{AJAX_PROXY}/1/r/artifacts/b.txt").status_code == 200
    assert get(client, "1/r/artifacts/b.txt").status_code == 404


def test_paths_with_spaces_and_colons_keep_their_characters(client: TestClient) -> None:
    # BC-30: a %20 exists only on the wire.
    put(client, "1/r/artifacts/models/logistic regression/model.pkl", b"pickle")
    put(client, "1/r/artifacts/2024-01-01T10:00:00.txt", b"time")
    assert listing(client, "1/r/artifacts/models") == {
        "files": [{"path": "logistic regression", "is_dir": True}]
    }
    assert listing(client, "1/r/artifacts/models/logistic regression") == {
        "files": [{"path": "model.pkl", "is_dir": False, "file_size": 6}]
    }
    assert get(client, "1/r/artifacts/models/logistic regression/model.pkl").content == b"pickle"
    assert get(client, "1/r/artifacts/2024-01-01T10:00:00.txt").content == b"time"


def test_unicode_names(client: TestClient) -> None:
    put(client, "1/r/artifacts/résumé/数据.csv", b"a,b\n")
    assert listing(client, "1/r/artifacts/résumé") == {
        "files": [{"path": "数据.csv", "is_dir": False, "file_size": 4}]
    }
    assert get(client, "1/r/artifacts/résumé/数据.csv").content == b"a,b\n"


def test_active_content_is_served_as_an_attachment(client: TestClient) -> None:
    for name, kind in [
        ("page.html", "text/html"),
        ("page.htm", "text/html"),
        ("logo.svg", "image/svg+xml"),
        ("doc.xhtml", "application/xhtml+xml"),
        ("data.xml", "xml"),
        ("script.js", "javascript"),
        ("ünï cödé.html", "text/html"),
    ]:
        put(client, f"1/r/artifacts/{name}", b"<script>alert(document.cookie)</script>")
        response = get(client, f"1/r/artifacts/{name}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"], name
        assert response.headers["content-disposition"].startswith("attachment"), name
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in response.headers["content-security-policy"]
    for name in ("plot.png", "metrics.csv", "notes.txt", "model.pkl"):
        put(client, f"1/r/artifacts/{name}", b"x")
        response = get(client, f"1/r/artifacts/{name}")
        assert "content-disposition" not in response.headers, name
        assert response.headers["x-content-type-options"] == "nosniff"


def test_attachment_header_cannot_be_broken_by_the_name(client: TestClient) -> None:
    put(client, '1/r/artifacts/a";x=y.html', b"<b>")
    disposition = get(client, '1/r/artifacts/a";x=y.html').headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"a__x=y.html\"; filename*=UTF-8''")
    assert disposition.endswith("a%22%3Bx%3Dy.html")


def test_put_conflicting_with_a_directory_or_through_a_file_is_rejected(client: TestClient) -> None:
    put(client, "1/r/artifacts/dir/a.txt", b"a")
    for path in ("1/r/artifacts/dir", "1/r/artifacts/dir/a.txt/b.txt"):
        response = client.put(f"{PROXY}/{url_path(path)}", content=b"x")
        assert response.status_code == 400, path
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert get(client, "1/r/artifacts/dir/a.txt").content == b"a"


def test_empty_path_is_rejected(client: TestClient) -> None:
    for method in ("put", "get", "delete"):
        response = getattr(client, method)(f"{PROXY}/")
        assert response.status_code == 400, method
        assert "Invalid path" in response.json()["message"]


# -- the local folder layout (not run against S3) ------------------------------------------


def test_files_land_at_destination_path(client: TestClient, server_config: ServerConfig) -> None:
    # MLflow's own artifact tests assert this layout on disk.
    put(client, "1/abc/artifacts/dir/notes.txt", b"on disk")
    put(client, "1/models/m-1/artifacts/MLmodel", b"flavors: {}")
    dest = Path(server_config.artifacts_destination)
    assert (dest / "1" / "abc" / "artifacts" / "dir" / "notes.txt").read_bytes() == b"on disk"
    assert (dest / "1" / "models" / "m-1" / "artifacts" / "MLmodel").read_bytes() == b"flavors: {}"
    assert sorted(p.name for p in (dest / "1" / "abc" / "artifacts" / "dir").iterdir()) == ["notes.txt"]


def test_files_written_by_other_tools_are_listed_and_served(
    client: TestClient, server_config: ServerConfig
) -> None:
    directory = Path(server_config.artifacts_destination) / "1" / "r" / "artifacts"
    directory.mkdir(parents=True)
    (directory / "external.txt").write_bytes(b"external")
    assert listing(client, "1/r/artifacts") == {
        "files": [{"path": "external.txt", "is_dir": False, "file_size": 8}]
    }
    response = get(client, "1/r/artifacts/external.txt")
    assert response.content == b"external"
    assert "x-ledgerflow-sha256" not in response.headers  # no upload, so no recorded digest


def test_proxy_is_off_without_serve_artifacts(
    make_client: Callable[[ServerConfig], TestClient], tmp_path: Path
) -> None:
    # MLflow answers 503 on its artifact proxy under --no-serve-artifacts; nothing is written.
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'nosrv.db'}",
        artifacts_destination=str(tmp_path / "dest"),
        serve_artifacts=False,
    )
    client = make_client(config)
    put = client.put("/api/2.0/mlflow-artifacts/artifacts/zz/b.txt", content=b"x")
    assert put.status_code == 503
    assert put.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert client.get("/api/2.0/mlflow-artifacts/artifacts/zz/b.txt").status_code == 503
    assert client.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "zz"}).status_code == 503
    assert not (tmp_path / "dest" / "zz").exists()
