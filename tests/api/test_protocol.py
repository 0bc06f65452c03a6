"""Transport-level behaviour every endpoint shares: prefixes, content types, errors, OpenAPI."""

from __future__ import annotations

import re

from starlette.testclient import TestClient


def test_health_version_and_server_info(client: TestClient) -> None:
    assert client.get("/health").text == "OK"
    assert client.get("/version").text.startswith("3.")
    info = client.get("/api/3.0/mlflow/server-info").json()
    assert info["multipart_uploads_enabled"] is False
    assert info["artifacts_presigned_only"] is False


def test_ajax_prefix_serves_the_same_api(client: TestClient) -> None:
    api = client.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}).json()
    ajax = client.get("/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}).json()
    assert api["experiment"]["experiment_id"] == ajax["experiment"]["experiment_id"] == "0"


def test_content_type_and_body_errors(client: TestClient) -> None:
    url = "/api/2.0/mlflow/experiments/create"
    missing = client.post(url, content=b'{"name": "x"}')
    assert missing.status_code == 400
    # MLflow's code here is INVALID_PARAMETER_VALUE, though its message says "Bad Request".
    assert missing.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Bad Request. Content-Type header is missing.",
    }
    wrong = client.post(url, content=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong.status_code == 400
    assert wrong.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    not_json = client.post(url, content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["error_code"] == "BAD_REQUEST"
    a_list = client.post(url, content=b"[1]", headers={"Content-Type": "application/json"})
    assert a_list.status_code == 400


def test_missing_and_wrong_typed_fields(client: TestClient) -> None:
    url = "/api/2.0/mlflow/experiments/create"
    missing = client.post(url, json={})
    assert missing.status_code == 400
    assert missing.json()["message"] == "Missing value for required parameter 'name'."
    wrong = client.post(url, json={"name": 5})
    assert wrong.status_code == 400
    assert wrong.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Invalid value 5 for parameter 'name'" in wrong.json()["message"]


def test_unknown_route_and_method_are_json_errors(client: TestClient) -> None:
    unknown = client.get("/api/2.0/mlflow/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    wrong_method = client.get("/api/2.0/mlflow/experiments/create")
    assert wrong_method.status_code == 405


def test_int64_as_strings_are_accepted(client: TestClient) -> None:
    # The Java client prints int64 fields as JSON strings.
    created = client.post("/api/2.0/mlflow/experiments/create", json={"name": "java"}).json()
    run = client.post(
        "/api/2.0/mlflow/runs/create",
        json={"experiment_id": created["experiment_id"], "start_time": "1700000000000"},
    )
    assert run.status_code == 200, run.text
    assert run.json()["run"]["info"]["start_time"] == 1700000000000


def test_out_of_range_experiment_id_is_not_found(client: TestClient) -> None:
    answer = client.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "99999999999999999999"})
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_openapi_lists_every_endpoint(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    table = client.app.state.endpoints  # type: ignore[attr-defined]
    for endpoint in table.endpoints:
        prefix = "/ajax-api" if endpoint.ajax_only else "/api"
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", endpoint.path)
        assert endpoint.method.lower() in document["paths"][prefix + path]
    assert "/api/2.0/mlflow/experiments/create" in document["paths"]
