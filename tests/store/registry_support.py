"""Helpers for the registry tests: MLflow's registry paths over the ``api`` fixture."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

SOURCE = "mlflow-artifacts:/0/models/m-0/artifacts"


def call(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = f"/api/2.0/mlflow/{path}"
    if method == "GET":
        return api.client.get(url, params=body or {})
    return api.client.request(method, url, json=body or {})


def ok(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = call(api, method, path, body)
    assert response.status_code == 200, response.text
    return response.json()


def fails(api: Api, method: str, path: str, body: dict[str, Any] | None, status: int, code: str) -> str:
    response = call(api, method, path, body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error_code"] == code, payload
    return str(payload["message"])


def create_model(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    model: dict[str, Any] = ok(api, "POST", "registered-models/create", {"name": name, **fields})[
        "registered_model"
    ]
    return model


def create_version(api: Api, name: str, source: str = SOURCE, **fields: Any) -> dict[str, Any]:
    version: dict[str, Any] = ok(
        api, "POST", "model-versions/create", {"name": name, "source": source, **fields}
    )["model_version"]
    return version


def get_model(api: Api, name: str) -> dict[str, Any]:
    model: dict[str, Any] = ok(api, "GET", "registered-models/get", {"name": name})["registered_model"]
    return model


def get_version(api: Api, name: str, version: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(api, "GET", "model-versions/get", {"name": name, "version": version})[
        "model_version"
    ]
    return found


def transition(api: Api, name: str, version: str, stage: str, archive: bool = False) -> dict[str, Any]:
    body = {"name": name, "version": version, "stage": stage, "archive_existing_versions": archive}
    found: dict[str, Any] = ok(api, "POST", "model-versions/transition-stage", body)["model_version"]
    return found


def make_run(api: Api) -> dict[str, Any]:
    run: dict[str, Any] = api.ok("post", "runs/create", {"experiment_id": "0", "start_time": 1})["run"][
        "info"
    ]
    return run
