"""log-inputs (datasets with tags, model inputs) and the UI's dataset summaries."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.store.test_runs import get_run, make_experiment, make_run


def dataset(name: str = "iris", digest: str = "abc123", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "digest": digest,
        "source_type": "local",
        "source": '{"uri": "/data/iris.csv"}',
        **extra,
    }


def context(value: str) -> list[dict[str, str]]:
    return [{"key": "mlflow.data.context", "value": value}]


def test_log_inputs_round_trip(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok(
        "post",
        "runs/log-inputs",
        {
            "run_id": run_id,
            "datasets": [
                {
                    "tags": context("training"),
                    "dataset": dataset(schema='{"mlflow_colspec": []}', profile='{"num_rows": 150}'),
                },
                {"dataset": dataset("other", "d2")},
            ],
            "models": [{"model_id": "m-123"}],
        },
    )
    inputs = get_run(api, run_id)["inputs"]
    assert inputs["dataset_inputs"] == [
        {
            "tags": [{"key": "mlflow.data.context", "value": "training"}],
            "dataset": dataset(schema='{"mlflow_colspec": []}', profile='{"num_rows": 150}'),
        },
        {"dataset": dataset("other", "d2")},
    ]
    assert inputs["model_inputs"] == [{"model_id": "m-123"}]


def test_logging_the_same_dataset_twice_keeps_one_input(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    for _ in range(2):
        api.ok(
            "post",
            "runs/log-inputs",
            {"run_id": run_id, "datasets": [{"tags": context("training"), "dataset": dataset()}]},
        )
    assert len(get_run(api, run_id)["inputs"]["dataset_inputs"]) == 1


def test_datasets_are_shared_within_an_experiment(api: Api) -> None:
    eid = make_experiment(api)
    first, second = make_run(api, eid)["info"]["run_id"], make_run(api, eid)["info"]["run_id"]
    api.ok(
        "post",
        "runs/log-inputs",
        {"run_id": first, "datasets": [{"tags": context("training"), "dataset": dataset()}]},
    )
    api.ok(
        "post",
        "runs/log-inputs",
        {"run_id": second, "datasets": [{"tags": context("eval"), "dataset": dataset()}]},
    )
    summaries = api.client.post(
        "/ajax-api/2.0/mlflow/experiments/search-datasets", json={"experiment_ids": [eid]}
    ).json()["dataset_summaries"]
    assert summaries == [
        {"experiment_id": eid, "name": "iris", "digest": "abc123", "context": "eval"},
        {"experiment_id": eid, "name": "iris", "digest": "abc123", "context": "training"},
    ]


def test_search_datasets_is_ajax_only_and_validated(api: Api) -> None:
    assert api.post("experiments/search-datasets", {"experiment_ids": ["0"]}).status_code == 404
    url = "/ajax-api/2.0/mlflow/experiments/search-datasets"
    assert api.client.post(url, json={"experiment_ids": ["0"]}).json() == {}
    missing = api.client.post(url, json={})
    assert missing.status_code == 400
    assert "at least one experiment_id" in missing.json()["message"]
    too_many = api.client.post(url, json={"experiment_ids": [str(i) for i in range(21)]})
    assert too_many.status_code == 400


def test_log_inputs_validation_is_all_or_nothing(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    cases = [
        (
            {"datasets": [{"dataset": {"digest": "d", "source_type": "s", "source": "x"}}]},
            "datasets[1].dataset.name",
        ),
        ({"datasets": [{"tags": context("t")}]}, "datasets[1].dataset"),
        ({"datasets": [{"dataset": dataset("n" * 501)}]}, "exceeded length limit of 500"),
        ({"datasets": [{"dataset": dataset(digest="d" * 37)}]}, "exceeded length limit of 36"),
        ({"datasets": [{"dataset": dataset(), "tags": context("v" * 501)}]}, "exceeded length limit of 500"),
        (
            {"datasets": [{"dataset": dataset(), "tags": [{"key": "k" * 256, "value": "v"}]}]},
            "exceeded length limit of 255",
        ),
        ({"models": [{}]}, "models[0].model_id"),
    ]
    for body, fragment in cases:
        good = [{"dataset": dataset("fine", "f")}]
        body = {"run_id": run_id, **body, "datasets": good + body.get("datasets", [])}
        message = api.error("post", "runs/log-inputs", body, 400, "INVALID_PARAMETER_VALUE")
        assert fragment in message, (body, message)
    assert get_run(api, run_id)["inputs"] == {}


def test_log_inputs_to_unknown_run(api: Api) -> None:
    api.error(
        "post",
        "runs/log-inputs",
        {"run_id": "nope", "datasets": [{"dataset": dataset()}]},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
