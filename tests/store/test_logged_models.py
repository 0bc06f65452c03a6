"""MLflow 3 logged models over the REST API, on every backend."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Api

MODELS = "logged-models"


def create(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"experiment_id": "0", **fields}
    model: dict[str, Any] = api.ok("post", MODELS, body)["model"]
    return model


def patch(api: Api, path: str, body: dict[str, Any]) -> Any:
    return api.client.patch(f"/api/2.0/mlflow/{path}", json=body)


def delete(api: Api, path: str, body: dict[str, Any] | None = None) -> Any:
    if body is None:
        return api.client.delete(f"/api/2.0/mlflow/{path}")
    return api.client.request("DELETE", f"/api/2.0/mlflow/{path}", json=body)


def test_create_returns_pending_model_in_wire_shape(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "exp"})["experiment_id"]
    model = create(
        api,
        experiment_id=eid,
        name="model",
        params=[{"key": "n_estimators", "value": "10"}],
        tags=[{"key": "mlflow.user", "value": "root"}, {"key": "mlflow.source.type", "value": "LOCAL"}],
    )
    info = model["info"]
    assert re.fullmatch(r"m-[0-9a-f]{32}", info["model_id"])
    assert info["experiment_id"] == eid
    assert info["name"] == "model"
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{eid}/models/{info['model_id']}/artifacts"
    assert isinstance(info["creation_timestamp_ms"], int)
    assert info["last_updated_timestamp_ms"] == info["creation_timestamp_ms"]
    # MLflow echoes the proto default for model_type and omits the unset fields.
    assert info["model_type"] == ""
    for absent in ("source_run_id", "status_message", "creator_id", "registrations"):
        assert absent not in info
    assert info["tags"] == [
        {"key": "mlflow.source.type", "value": "LOCAL"},
        {"key": "mlflow.user", "value": "root"},
    ]
    assert model["data"] == {"params": [{"key": "n_estimators", "value": "10"}]}
    assert api.ok("get", f"{MODELS}/{info['model_id']}") == {"model": model}


def test_create_minimal_generates_a_name_and_omits_empty_lists(api: Api) -> None:
    model = create(api, model_type="sklearn")
    assert model["info"]["name"]
    assert model["info"]["model_type"] == "sklearn"
    assert "tags" not in model["info"]
    assert model["data"] == {}
    # Numbers are accepted for the experiment id too (non-Python clients).
    assert api.ok("post", MODELS, {"experiment_id": 0})["model"]["info"]["experiment_id"] == "0"


def test_create_validation_errors(api: Api) -> None:
    message = api.error("post", MODELS, {"name": "m"}, 400, "INVALID_PARAMETER_VALUE")
    assert "experiment_id" in message
    api.error("post", MODELS, {"experiment_id": "999"}, 404, "RESOURCE_DOES_NOT_EXIST")
    for huge in ("2147483648", "99999999999999999999"):
        api.error("post", MODELS, {"experiment_id": huge}, 404, "RESOURCE_DOES_NOT_EXIST")
    message = api.error("post", MODELS, {"experiment_id": "abc"}, 400, "INVALID_PARAMETER_VALUE")
    assert "valid integer" in message
    for bad in (
        {"experiment_id": ["0"]},
        {"experiment_id": "0", "name": 5},
        {"experiment_id": "0", "tags": "x"},
        {"experiment_id": "0", "tags": ["x"]},
        {"experiment_id": "0", "tags": [{"value": "v"}]},
        {"experiment_id": "0", "params": [{"key": 1, "value": "v"}]},
        {"experiment_id": "0", "name": "a/b"},
        {"experiment_id": "0", "name": "x" * 501},
        {"experiment_id": "0", "model_type": "x" * 501},
        {"experiment_id": "0", "tags": [{"key": "a/../b", "value": "v"}]},
        {"experiment_id": "0", "params": [{"key": "p", "value": "x" * 6001}]},
        {"experiment_id": "0", "params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]},
    ):
        api.error("post", MODELS, bad, 400, "INVALID_PARAMETER_VALUE")
    message = api.error(
        "post", MODELS, {"experiment_id": "0", "source_run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert "f" * 32 in message
    # Nothing half-written: the default experiment still has no models.
    assert api.ok("post", f"{MODELS}/search", {"experiment_ids": ["0"]}) == {}


def test_create_in_deleted_experiment_is_rejected(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "gone"})["experiment_id"]
    api.ok("post", "experiments/delete", {"experiment_id": eid})
    message = api.error("post", MODELS, {"experiment_id": eid}, 400, "INVALID_PARAMETER_VALUE")
    assert "active" in message


def test_empty_and_non_ascii_values_round_trip(api: Api) -> None:
    model = create(
        api,
        name="m",
        params=[{"key": "empty", "value": ""}, {"key": "novalue"}],
        tags=[{"key": "note", "value": "naïve – café 中文"}],
    )
    fetched = api.ok("get", f"{MODELS}/{model['info']['model_id']}")["model"]
    assert fetched["info"]["tags"] == [{"key": "note", "value": "naïve – café 中文"}]
    assert fetched["data"]["params"] == [{"key": "empty", "value": ""}, {"key": "novalue", "value": ""}]


def test_param_value_limit_is_6000_characters(api: Api) -> None:
    # BC-20: the same limit as run params; 6000 fits, 6001 is refused (on create and on log).
    model = create(api, name="m", params=[{"key": "p", "value": "x" * 6000}])
    assert model["data"]["params"][0]["value"] == "x" * 6000
    path = f"{MODELS}/{model['info']['model_id']}/params"
    message = api.error(
        "post", path, {"params": [{"key": "q", "value": "y" * 6001}]}, 400, "INVALID_PARAMETER_VALUE"
    )
    assert "exceeded length limit of 6000" in message


@pytest.mark.parametrize("status", ["LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"])
def test_finalize(api: Api, status: str) -> None:
    model_id = create(api, name="m")["info"]["model_id"]
    response = patch(api, f"{MODELS}/{model_id}", {"model_id": model_id, "status": status})
    assert response.status_code == 200, response.text
    info = response.json()["model"]["info"]
    assert info["status"] == status
    assert info["last_updated_timestamp_ms"] >= info["creation_timestamp_ms"]
    assert api.ok("get", f"{MODELS}/{model_id}")["model"]["info"]["status"] == status


def test_finalize_rejects_other_statuses_and_unknown_models(api: Api) -> None:
    model_id = create(api, name="m")["info"]["model_id"]
    for body in (
        {"status": "LOGGED_MODEL_PENDING"},
        {"status": "BOGUS"},
        {"status": 1},
        {},
    ):
        response = patch(api, f"{MODELS}/{model_id}", body)
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert api.ok("get", f"{MODELS}/{model_id}")["model"]["info"]["status"] == "LOGGED_MODEL_PENDING"
    response = patch(api, f"{MODELS}/m-{'0' * 32}", {"status": "LOGGED_MODEL_READY"})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_unknown_model_is_a_json_404_everywhere(api: Api) -> None:
    unknown = f"m-{'a' * 32}"
    message = api.error("get", f"{MODELS}/{unknown}", None, 404, "RESOURCE_DOES_NOT_EXIST")
    assert unknown in message
    for response in (
        delete(api, f"{MODELS}/{unknown}"),
        patch(api, f"{MODELS}/{unknown}/tags", {"tags": [{"key": "k", "value": "v"}]}),
        delete(api, f"{MODELS}/{unknown}/tags/k"),
        api.post(f"{MODELS}/{unknown}/params", {"params": [{"key": "k", "value": "v"}]}),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_delete_is_soft_and_idempotent(api: Api) -> None:
    model_id = create(api, name="m")["info"]["model_id"]
    kept_id = create(api, name="m")["info"]["model_id"]
    assert delete(api, f"{MODELS}/{model_id}").status_code == 200
    # MLflow's client sends DELETE with a JSON body too.
    assert delete(api, f"{MODELS}/{model_id}", {"model_id": model_id}).status_code == 200
    api.error("get", f"{MODELS}/{model_id}", None, 404, "RESOURCE_DOES_NOT_EXIST")
    response = patch(api, f"{MODELS}/{model_id}", {"status": "LOGGED_MODEL_READY"})
    assert response.status_code == 404
    found = api.ok("post", f"{MODELS}/search", {"experiment_ids": ["0"]})
    assert [m["info"]["model_id"] for m in found["models"]] == [kept_id]


def test_set_and_delete_tags(api: Api) -> None:
    model_id = create(api, name="m", tags=[{"key": "a", "value": "1"}])["info"]["model_id"]
    versions = '[{"name": "iris-rf", "version": 1}, {"name": "iris-rf", "version": "1"}]'
    # The client omits model_id from the body; the path carries it.
    response = patch(
        api,
        f"{MODELS}/{model_id}/tags",
        {"tags": [{"key": "mlflow.modelVersions", "value": versions}, {"key": "a", "value": "2"}]},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {}
    tags = api.ok("get", f"{MODELS}/{model_id}")["model"]["info"]["tags"]
    assert tags == [{"key": "a", "value": "2"}, {"key": "mlflow.modelVersions", "value": versions}]

    long_value = "x" * 20_000
    assert (
        patch(api, f"{MODELS}/{model_id}/tags", {"tags": [{"key": "big", "value": long_value}]}).status_code
        == 200
    )
    response = patch(api, f"{MODELS}/{model_id}/tags", {"tags": [{"key": "bad$", "value": "v"}]})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    response = patch(api, f"{MODELS}/{model_id}/tags", {"tags": {"key": "a"}})
    assert response.status_code == 400

    assert delete(api, f"{MODELS}/{model_id}/tags/a").status_code == 200
    assert delete(api, f"{MODELS}/{model_id}/tags/big").status_code == 200
    response = delete(api, f"{MODELS}/{model_id}/tags/a")
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    tags = api.ok("get", f"{MODELS}/{model_id}")["model"]["info"]["tags"]
    assert tags == [{"key": "mlflow.modelVersions", "value": versions}]


def test_delete_tag_whose_key_has_slashes(api: Api) -> None:
    model_id = create(api, name="m", tags=[{"key": "team/owner", "value": "me"}])["info"]["model_id"]
    assert delete(api, f"{MODELS}/{model_id}/tags/team/owner").status_code == 200
    assert "tags" not in api.ok("get", f"{MODELS}/{model_id}")["model"]["info"]


def test_log_params_is_immutable_like_run_params(api: Api) -> None:
    model_id = create(api, name="m", params=[{"key": "a", "value": "1"}])["info"]["model_id"]
    path = f"{MODELS}/{model_id}/params"
    assert api.ok("post", path, {"params": [{"key": "a", "value": "1"}, {"key": "b", "value": "x"}]}) == {}
    message = api.error(
        "post",
        path,
        {"params": [{"key": "a", "value": "2"}, {"key": "c", "value": "3"}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Changing param values is not allowed" in message
    # All-or-nothing: 'c' from the rejected request was not stored.
    params = api.ok("get", f"{MODELS}/{model_id}")["model"]["data"]["params"]
    assert params == [{"key": "a", "value": "1"}, {"key": "b", "value": "x"}]
    api.error("post", path, {"params": [{"key": "", "value": "1"}]}, 400, "INVALID_PARAMETER_VALUE")
    api.error("post", path, {"params": "a=1"}, 400, "INVALID_PARAMETER_VALUE")


def test_ajax_prefix_serves_the_same_endpoints(api: Api) -> None:
    model_id = create(api, name="m")["info"]["model_id"]
    response = api.client.get(f"/ajax-api/2.0/mlflow/{MODELS}/{model_id}")
    assert response.status_code == 200
    assert response.json()["model"]["info"]["model_id"] == model_id


def test_missing_content_type_is_refused(api: Api) -> None:
    # MLflow answers INVALID_PARAMETER_VALUE ("Bad Request. Content-Type header is missing.").
    response = api.client.post(f"/api/2.0/mlflow/{MODELS}", content=b'{"experiment_id": "0"}')
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_concurrent_writers_to_one_model_never_fail(live_server: Any) -> None:
    import threading

    import httpx

    base = f"{live_server.url}/api/2.0/mlflow/logged-models"
    with httpx.Client() as http:
        model_id = http.post(base, json={"experiment_id": "0", "name": "m"}).json()["model"]["info"][
            "model_id"
        ]
    statuses: list[int] = []

    def write(i: int) -> None:
        with httpx.Client(timeout=60) as http:
            for _ in range(3):
                tags = {"tags": [{"key": "shared", "value": str(i)}, {"key": f"own{i}", "value": "v"}]}
                statuses.append(http.patch(f"{base}/{model_id}/tags", json=tags).status_code)
                params = {"params": [{"key": "same", "value": "1"}]}
                statuses.append(http.post(f"{base}/{model_id}/params", json=params).status_code)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 36
    with httpx.Client() as http:
        model = http.get(f"{base}/{model_id}").json()["model"]
    assert len(model["info"]["tags"]) == 7
    assert model["data"]["params"] == [{"key": "same", "value": "1"}]
