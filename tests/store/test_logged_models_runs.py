"""Logged models together with runs: source runs, ``runs/outputs`` and metrics copied to a
model through ``runs/log-batch``, following the 3.x client's ``log_model`` sequence."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


def new_run(api: Api, experiment_id: str) -> str:
    body = {"experiment_id": experiment_id, "user_id": "root", "start_time": 1_700_000_000_000}
    run_id: str = api.ok("post", "runs/create", body)["run"]["info"]["run_id"]
    return run_id


def new_model(api: Api, experiment_id: str, **fields: Any) -> dict[str, Any]:
    model: dict[str, Any] = api.ok("post", "logged-models", {"experiment_id": experiment_id, **fields})[
        "model"
    ]
    return model


def test_log_model_sequence_of_the_3x_client(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "iris-demo"})["experiment_id"]
    run_id = new_run(api, eid)
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "n_estimators", "value": "10"})
    api.ok("post", "runs/log-metric", {"run_id": run_id, "key": "accuracy", "value": 0.9, "timestamp": 5})

    # 11: create the pending model with the run's params and the client's tags.
    model = new_model(
        api,
        eid,
        name="model",
        source_run_id=run_id,
        params=[{"key": "n_estimators", "value": "10"}],
        tags=[{"key": "mlflow.user", "value": "root"}],
    )
    model_id = model["info"]["model_id"]
    assert model["info"]["source_run_id"] == run_id
    assert model["info"]["artifact_uri"] == f"mlflow-artifacts:/{eid}/models/{model_id}/artifacts"
    # 12: link it as an output of the run.
    assert (
        api.ok("post", "runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]})
        == {}
    )
    run = api.ok("get", "runs/get", {"run_id": run_id})["run"]
    assert run["outputs"]["model_outputs"] == [{"model_id": model_id, "step": 0}]
    # 14: copy the run's metrics to the model.
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "accuracy", "value": 0.9, "timestamp": 5, "step": 0, "model_id": model_id},
            {"key": "loss", "value": "NaN", "timestamp": 6, "step": 1, "model_id": model_id},
        ],
    }
    api.ok("post", "runs/log-batch", batch)
    # 15: read it back; the metrics carry the model and the run.
    data = api.ok("get", f"logged-models/{model_id}")["model"]["data"]
    assert data["params"] == [{"key": "n_estimators", "value": "10"}]
    assert data["metrics"] == [
        {"key": "accuracy", "value": 0.9, "timestamp": 5, "step": 0, "model_id": model_id, "run_id": run_id},
        {"key": "loss", "value": "NaN", "timestamp": 6, "step": 1, "model_id": model_id, "run_id": run_id},
    ]
    # 23: finalize; 28: the client's registration bookkeeping tag.
    response = api.client.patch(
        f"/api/2.0/mlflow/logged-models/{model_id}",
        json={"model_id": model_id, "status": "LOGGED_MODEL_READY"},
    )
    assert response.status_code == 200
    assert response.json()["model"]["data"]["metrics"][0]["key"] == "accuracy"
    tag = {"key": "mlflow.modelVersions", "value": '[{"name": "iris-rf", "version": 1}]'}
    assert (
        api.client.patch(f"/api/2.0/mlflow/logged-models/{model_id}/tags", json={"tags": [tag]}).json() == {}
    )
    info = api.ok("get", f"logged-models/{model_id}")["model"]["info"]
    assert info["status"] == "LOGGED_MODEL_READY"
    assert tag in info["tags"]
    # register_model("runs:/<run>/model") finds the model by name.
    found = api.ok("post", "logged-models/search", {"experiment_ids": [eid], "filter": "name = 'model'"})
    assert [m["info"]["model_id"] for m in found["models"]] == [model_id]
    assert found["models"][0]["info"]["source_run_id"] == run_id


def test_dataset_scoped_metrics_keep_their_dataset(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    run_id = new_run(api, eid)
    model_id = new_model(api, eid, name="m", source_run_id=run_id)["info"]["model_id"]
    point = {
        "key": "acc",
        "value": 0.5,
        "timestamp": 1,
        "step": 0,
        "model_id": model_id,
        "dataset_name": "train",
        "dataset_digest": "abc",
    }
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": [point]})
    metrics = api.ok("get", f"logged-models/{model_id}")["model"]["data"]["metrics"]
    assert metrics == [{**point, "run_id": run_id}]


def test_outputs_step_and_repeat(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    run_id = new_run(api, eid)
    first = new_model(api, eid, name="a")["info"]["model_id"]
    second = new_model(api, eid, name="b")["info"]["model_id"]
    api.ok("post", "runs/outputs", {"run_id": run_id, "models": [{"model_id": first, "step": "3"}]})
    api.ok(
        "post",
        "runs/outputs",
        {"run_id": run_id, "models": [{"model_id": first, "step": 4}, {"model_id": second}]},
    )
    outputs = api.ok("get", "runs/get", {"run_id": run_id})["run"]["outputs"]["model_outputs"]
    assert sorted(outputs, key=lambda o: o["model_id"]) == sorted(
        [{"model_id": first, "step": 4}, {"model_id": second, "step": 0}], key=lambda o: o["model_id"]
    )
    assert api.ok("post", "runs/outputs", {"run_id": run_id}) == {}


def test_outputs_validation(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    run_id = new_run(api, eid)
    model_id = new_model(api, eid, name="m")["info"]["model_id"]
    unknown_run = "0" * 32
    api.error(
        "post",
        "runs/outputs",
        {"run_id": unknown_run, "models": [{"model_id": model_id}]},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    api.error(
        "post",
        "runs/outputs",
        {"run_id": run_id, "models": [{"model_id": "m-nope"}]},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    for body in (
        {"models": [{"model_id": model_id}]},
        {"run_id": run_id, "models": {"model_id": model_id}},
        {"run_id": run_id, "models": [{"step": 1}]},
        {"run_id": run_id, "models": [{"model_id": model_id, "step": "later"}]},
        {"run_id": 7, "models": []},
        {"run_id": run_id, "models": [{"model_id": model_id, "step": 2**63}]},
        {"run_id": run_id, "models": [{"model_id": model_id, "step": 1.5}]},
    ):
        api.error("post", "runs/outputs", body, 400, "INVALID_PARAMETER_VALUE")
    # All-or-nothing: a request naming one good and one unknown model links neither.
    api.error(
        "post",
        "runs/outputs",
        {"run_id": run_id, "models": [{"model_id": model_id}, {"model_id": "m-nope"}]},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert "model_outputs" not in api.ok("get", "runs/get", {"run_id": run_id})["run"].get("outputs", {})

    api.ok("post", "runs/delete", {"run_id": run_id})
    message = api.error(
        "post",
        "runs/outputs",
        {"run_id": run_id, "models": [{"model_id": model_id}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "active" in message


def test_source_run_must_exist(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    run_id = new_run(api, eid)
    assert new_model(api, eid, source_run_id=run_id)["info"]["source_run_id"] == run_id
    api.error(
        "post",
        "logged-models",
        {"experiment_id": eid, "source_run_id": "x" * 40},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
