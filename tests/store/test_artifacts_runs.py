"""Run and logged-model artifacts through the tracking service and the UI routes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.artifacts.support import (
    create_logged_model,
    create_run,
    get,
    proxy_path,
    put,
    sha256,
)
from tests.conftest import Api


def _list(api: Api, **params: Any) -> Any:
    return api.ok("get", "artifacts/list", params)


def test_list_artifacts_shape(api: Api) -> None:
    # BC-33: root_uri is the run's, paths are relative to the run root with their directory.
    run = create_run(api)
    base = proxy_path(run["artifact_uri"])
    put(api.client, f"{base}/foo.txt", b"x" * 123)
    put(api.client, f"{base}/sub/bar.txt", b"y" * 7)
    assert _list(api, run_id=run["run_id"]) == {
        "root_uri": run["artifact_uri"],
        "files": [{"path": "foo.txt", "is_dir": False, "file_size": 123}, {"path": "sub", "is_dir": True}],
    }
    assert _list(api, run_id=run["run_id"], path="sub") == {
        "root_uri": run["artifact_uri"],
        "files": [{"path": "sub/bar.txt", "is_dir": False, "file_size": 7}],
    }
    # A file path lists as nothing: this is how clients tell files from directories (BC-46).
    assert _list(api, run_id=run["run_id"], path="foo.txt") == {"root_uri": run["artifact_uri"]}
    assert _list(api, run_uuid=run["run_id"], path="sub/") == _list(api, run_id=run["run_id"], path="sub")


def test_list_artifacts_of_an_empty_run_gives_only_root_uri(api: Api) -> None:
    run = create_run(api)
    assert _list(api, run_id=run["run_id"]) == {"root_uri": run["artifact_uri"]}
    assert _list(api, run_id=run["run_id"], path="no/such/dir") == {"root_uri": run["artifact_uri"]}
    # The UI sends page_token; listings are not paged.
    assert _list(api, run_id=run["run_id"], page_token="abc") == {"root_uri": run["artifact_uri"]}


def test_list_artifacts_unknown_or_missing_run(api: Api) -> None:
    api.error("get", "artifacts/list", {"run_id": "0" * 32}, 404, "RESOURCE_DOES_NOT_EXIST")
    api.error("get", "artifacts/list", {}, 400, "INVALID_PARAMETER_VALUE")


def test_runs_do_not_see_each_others_artifacts(api: Api) -> None:
    first, second = create_run(api), create_run(api)
    put(api.client, f"{proxy_path(first['artifact_uri'])}/a.txt", b"a")
    assert "files" not in _list(api, run_id=second["run_id"])


def test_paths_with_spaces(api: Api) -> None:
    # BC-30: log_artifacts of a directory named "logistic regression" under "models".
    run = create_run(api)
    base = proxy_path(run["artifact_uri"])
    put(api.client, f"{base}/models/logistic regression/model.pkl", b"pickled")
    assert _list(api, run_id=run["run_id"], path="models")["files"] == [
        {"path": "models/logistic regression", "is_dir": True}
    ]
    assert _list(api, run_id=run["run_id"], path="models/logistic regression")["files"] == [
        {"path": "models/logistic regression/model.pkl", "is_dir": False, "file_size": 7}
    ]
    response = api.client.get(
        "/get-artifact", params={"run_uuid": run["run_id"], "path": "models/logistic regression/model.pkl"}
    )
    assert response.status_code == 200
    assert response.content == b"pickled"


def test_log_text_and_log_dict_layout(api: Api) -> None:
    # BC-58: each log_text/log_dict is one PUT; the client normalises "./b.txt" to "b.txt".
    run = create_run(api)
    base = proxy_path(run["artifact_uri"])
    for path in ("notes.txt", "dir/sub/a.txt", "./b.txt", "conf.json", "conf/c.yaml", "c.yml", "c.txt"):
        put(api.client, f"{base}/{path}", b"content")
    root = _list(api, run_id=run["run_id"])["files"]
    assert [(f["path"], f["is_dir"]) for f in root] == [
        ("b.txt", False),
        ("c.txt", False),
        ("c.yml", False),
        ("conf", True),
        ("conf.json", False),
        ("dir", True),
        ("notes.txt", False),
    ]
    assert _list(api, run_id=run["run_id"], path="dir")["files"] == [{"path": "dir/sub", "is_dir": True}]
    assert _list(api, run_id=run["run_id"], path="dir/sub")["files"] == [
        {"path": "dir/sub/a.txt", "is_dir": False, "file_size": 7}
    ]
    response = api.client.get("/get-artifact", params={"run_id": run["run_id"], "path": "conf/c.yaml"})
    assert response.content == b"content"


def test_get_artifact_routes(api: Api) -> None:
    run = create_run(api)
    put(api.client, f"{proxy_path(run['artifact_uri'])}/plots/p.png", b"\x89PNG")
    for route in ("/get-artifact", "/ajax-api/2.0/mlflow/get-artifact"):
        for key in ("run_uuid", "run_id"):
            response = api.client.get(route, params={key: run["run_id"], "path": "plots/p.png"})
            assert response.status_code == 200, (route, key)
            assert response.content == b"\x89PNG"
            assert response.headers["content-type"] == "image/png"
            assert response.headers["x-ledgerflow-sha256"] == sha256(b"\x89PNG")


def test_get_artifact_errors_are_json(api: Api) -> None:
    run = create_run(api)
    cases = [
        ({"run_uuid": run["run_id"], "path": "missing.txt"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ({"run_uuid": run["run_id"], "path": ""}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_uuid": run["run_id"]}, 400, "INVALID_PARAMETER_VALUE"),
        ({"path": "a.txt"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_uuid": "f" * 32, "path": "a.txt"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ]
    for params, status, code in cases:
        response = api.client.get("/get-artifact", params=params, headers={"accept": "text/html"})
        assert response.status_code == status, params
        assert response.json()["error_code"] == code, params


def test_ui_upload_artifact(api: Api) -> None:
    run = create_run(api)
    response = api.client.post(
        "/ajax-api/2.0/mlflow/upload-artifact",
        params={"run_uuid": run["run_id"], "path": "uploads/data.csv"},
        content=b"a,b\n1,2\n",
    )
    assert response.status_code == 200, response.text
    assert _list(api, run_id=run["run_id"], path="uploads")["files"] == [
        {"path": "uploads/data.csv", "is_dir": False, "file_size": 8}
    ]
    assert get(api.client, f"{proxy_path(run['artifact_uri'])}/uploads/data.csv").content == b"a,b\n1,2\n"


def test_ui_upload_artifact_is_limited_to_10_mb(api: Api) -> None:
    run = create_run(api)
    params = {"run_uuid": run["run_id"], "path": "big.bin"}
    too_big = b"x" * (10 * 1024 * 1024 + 1)
    response = api.client.post("/ajax-api/2.0/mlflow/upload-artifact", params=params, content=too_big)
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    # Without a Content-Length the limit is enforced while streaming.
    def chunks() -> Any:
        for _ in range(11):
            yield b"y" * (1024 * 1024)

    response = api.client.post("/ajax-api/2.0/mlflow/upload-artifact", params=params, content=chunks())
    assert response.status_code == 400
    assert "files" not in _list(api, run_id=run["run_id"])
    exact = b"z" * (10 * 1024 * 1024)
    response = api.client.post("/ajax-api/2.0/mlflow/upload-artifact", params=params, content=exact)
    assert response.status_code == 200


def test_logged_model_artifact_routes(api: Api) -> None:
    model = create_logged_model(api)
    assert model["artifact_uri"] == f"mlflow-artifacts:/0/models/{model['model_id']}/artifacts"
    base = proxy_path(model["artifact_uri"])
    put(api.client, f"{base}/MLmodel", b"flavors: {}\n")
    put(api.client, f"{base}/data/model.skops", b"weights")
    route = f"/api/2.0/mlflow/logged-models/{model['model_id']}/artifacts/directories"
    assert api.client.get(route).json() == {
        "root_uri": model["artifact_uri"],
        "files": [{"path": "MLmodel", "is_dir": False, "file_size": 12}, {"path": "data", "is_dir": True}],
    }
    assert api.client.get(route, params={"artifact_directory_path": "data"}).json() == {
        "root_uri": model["artifact_uri"],
        "files": [{"path": "data/model.skops", "is_dir": False, "file_size": 7}],
    }
    assert api.client.get(route.replace("/api/", "/ajax-api/")).status_code == 200
    files = f"/ajax-api/2.0/mlflow/logged-models/{model['model_id']}/artifacts/files"
    response = api.client.get(files, params={"artifact_file_path": "data/model.skops"})
    assert response.status_code == 200
    assert response.content == b"weights"
    assert response.headers["x-ledgerflow-sha256"] == sha256(b"weights")
    # The file route is ajax-only, as in MLflow.
    assert (
        api.client.get(
            files.replace("/ajax-api/", "/api/"), params={"artifact_file_path": "MLmodel"}
        ).status_code
        == 404
    )


def test_logged_model_artifact_errors(api: Api) -> None:
    model = create_logged_model(api)
    missing_model = "/api/2.0/mlflow/logged-models/m-0000/artifacts/directories"
    assert api.client.get(missing_model).status_code == 404
    files = f"/ajax-api/2.0/mlflow/logged-models/{model['model_id']}/artifacts/files"
    response = api.client.get(files, params={"artifact_file_path": "nope"})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    response = api.client.get(files)
    assert response.status_code == 400


def test_run_under_an_allowed_local_root(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, tmp_path: Path
) -> None:
    # An experiment whose location is a plain local path under a configured root also works.
    other_root = tmp_path / "team-root"
    config = ServerConfig(
        backend_store_uri=server_config.backend_store_uri,
        artifacts_destination=server_config.artifacts_destination,
        allowed_artifact_roots=(str(other_root),),
    )
    api = Api(make_client(config))
    experiment_id = api.ok(
        "post", "experiments/create", {"name": "local", "artifact_location": str(other_root / "exp")}
    )["experiment_id"]
    run = create_run(api, experiment_id)
    assert run["artifact_uri"].startswith(str(other_root / "exp"))
    response = api.client.post(
        "/ajax-api/2.0/mlflow/upload-artifact",
        params={"run_uuid": run["run_id"], "path": "a b/c.txt"},
        content=b"local root",
    )
    assert response.status_code == 200, response.text
    on_disk = Path(run["artifact_uri"]) / "a b" / "c.txt"
    assert on_disk.read_bytes() == b"local root"
    assert _list(api, run_id=run["run_id"])["files"] == [{"path": "a b", "is_dir": True}]
    response = api.client.get("/get-artifact", params={"run_id": run["run_id"], "path": "a b/c.txt"})
    assert response.content == b"local root"
    assert api.client.app.state.services.artifacts.verify(str(on_disk))  # type: ignore[attr-defined]


def test_delete_tree_removes_a_runs_artifacts_and_digests(api: Api) -> None:
    services = api.client.app.state.services  # type: ignore[attr-defined]
    keep, purge = create_run(api), create_run(api)
    put(api.client, f"{proxy_path(keep['artifact_uri'])}/a.txt", b"keep")
    put(api.client, f"{proxy_path(purge['artifact_uri'])}/a.txt", b"purge")
    put(api.client, f"{proxy_path(purge['artifact_uri'])}/d/b.txt", b"purge")
    services.artifacts.delete_tree(purge["artifact_uri"])
    assert "files" not in _list(api, run_id=purge["run_id"])
    assert not services.artifacts.verify(f"{proxy_path(purge['artifact_uri'])}/a.txt")
    assert services.artifacts.verify(f"{proxy_path(keep['artifact_uri'])}/a.txt")
    services.artifacts.delete_tree(purge["artifact_uri"])  # nothing left: a no-op
