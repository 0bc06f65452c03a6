"""Metric points: values, dedupe, latest value, history order and paging, bulk reads."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.store.test_runs import get_run, make_run

DBL_MAX = 1.7976931348623157e308


def log(api: Api, run_id: str, key: str, value: Any, timestamp: int, step: int | None = None) -> None:
    body: dict[str, Any] = {"run_id": run_id, "key": key, "value": value, "timestamp": timestamp}
    if step is not None:
        body["step"] = step
    api.ok("post", "runs/log-metric", body)


def latest(api: Api, run_id: str) -> dict[str, dict[str, Any]]:
    return {m["key"]: m for m in get_run(api, run_id)["data"].get("metrics", [])}


def history(api: Api, run_id: str, key: str, **params: Any) -> dict[str, Any]:
    return dict(api.ok("get", "metrics/get-history", {"run_id": run_id, "metric_key": key, **params}))


def test_nan_and_infinities(api: Api) -> None:
    # BC-13 / BC-14: NaN round-trips as "NaN", infinities are clamped to the largest double.
    run_id = make_run(api)["info"]["run_id"]
    log(api, run_id, "nan", "NaN", 1)
    log(api, run_id, "pinf", "Infinity", 1)
    log(api, run_id, "ninf", "-Infinity", 1)
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "metrics": [{"key": "loss", "value": "NaN", "timestamp": 1, "step": 3}]},
    )
    values = {k: m["value"] for k, m in latest(api, run_id).items()}
    assert values == {"nan": "NaN", "pinf": DBL_MAX, "ninf": -DBL_MAX, "loss": "NaN"}
    assert history(api, run_id, "nan")["metrics"] == [
        {"key": "nan", "value": "NaN", "timestamp": 1, "step": 0}
    ]
    assert history(api, run_id, "loss")["metrics"][0]["step"] == 3


def test_value_forms(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    log(api, run_id, "s", "3.5", 1)
    log(api, run_id, "i", 7, 1)
    assert latest(api, run_id)["s"]["value"] == 3.5
    assert latest(api, run_id)["i"]["value"] == 7.0
    for bad in ("abc", True, [1]):
        api.error(
            "post",
            "runs/log-metric",
            {"run_id": run_id, "key": "b", "value": bad, "timestamp": 1},
            400,
            "INVALID_PARAMETER_VALUE",
        )
    message = api.error(
        "post",
        "runs/log-metric",
        {"run_id": run_id, "key": "b", "timestamp": 1},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert message.startswith("Missing value for required parameter 'value'")
    assert "b" not in latest(api, run_id)


def test_timestamp_is_required(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    message = api.error(
        "post", "runs/log-metric", {"run_id": run_id, "key": "m", "value": 1}, 400, "INVALID_PARAMETER_VALUE"
    )
    assert message.startswith("Missing value for required parameter 'timestamp'")
    message = api.error(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "metrics": [{"key": "m", "value": 1, "timestamp": 1}, {"key": "m", "value": 1}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert message.startswith("Missing value for required parameter 'metrics[1].timestamp'")
    assert "metrics" not in get_run(api, run_id)["data"]


def test_step_defaults_to_zero_and_timestamps_may_be_strings(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok(
        "post",
        "runs/log-metric",
        {"run_id": run_id, "key": "m", "value": 1, "timestamp": "1700000000000", "step": "4"},
    )
    log(api, run_id, "n", 1, 5)
    assert latest(api, run_id)["m"]["timestamp"] == 1700000000000
    assert latest(api, run_id)["m"]["step"] == 4
    assert latest(api, run_id)["n"]["step"] == 0


def test_latest_is_max_by_step_then_timestamp_then_value(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    log(api, run_id, "m", 1.0, 100, 2)
    log(api, run_id, "m", 5.0, 110, 1)  # later write, earlier step: not the latest
    log(api, run_id, "m", 0.5, 100, 2)  # same step and time, smaller value
    assert latest(api, run_id)["m"] == {"key": "m", "value": 1.0, "timestamp": 100, "step": 2}
    log(api, run_id, "m", 0.1, 101, 2)  # same step, later time wins despite the smaller value
    assert latest(api, run_id)["m"]["value"] == 0.1
    api.ok(
        "post",
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [
                {"key": "m", "value": 9.0, "timestamp": 1, "step": 3},
                {"key": "m", "value": 3.0, "timestamp": 2, "step": 3},
                {"key": "m", "value": 99.0, "timestamp": 500, "step": 0},
            ],
        },
    )
    assert latest(api, run_id)["m"] == {"key": "m", "value": 3.0, "timestamp": 2, "step": 3}


def test_exact_duplicates_are_dropped(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    for _ in range(3):
        log(api, run_id, "m", 0.5, 10, 1)
    point = {"key": "m", "value": 0.5, "timestamp": 10, "step": 1}
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": [point, point]})
    log(api, run_id, "m", 0.7, 10, 1)  # another value at the same step is kept
    log(api, run_id, "x", "NaN", 1)
    log(api, run_id, "x", "NaN", 1)
    assert [p["value"] for p in history(api, run_id, "m")["metrics"]] == [0.5, 0.7]
    assert len(history(api, run_id, "x")["metrics"]) == 1


def test_history_order_and_paging(api: Api) -> None:
    # BC-16: ordered by (timestamp, step, value) with offset page tokens.
    run_id = make_run(api)["info"]["run_id"]
    points = [{"key": "acc", "value": float(s), "timestamp": 1000 + s, "step": s} for s in range(1, 151)]
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": points[::-1]})
    everything = history(api, run_id, "acc")
    assert "next_page_token" not in everything
    assert [p["step"] for p in everything["metrics"]] == list(range(1, 151))
    pages, token = [], None
    while True:
        params: dict[str, Any] = {"max_results": 50}
        if token:
            params["page_token"] = token
        page = history(api, run_id, "acc", **params)
        pages.append([p["step"] for p in page["metrics"]])
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == [list(range(1, 51)), list(range(51, 101)), list(range(101, 151))]


def test_history_sorts_time_before_step(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    log(api, run_id, "m", 1.0, 100, 2)
    log(api, run_id, "m", 5.0, 110, 1)
    log(api, run_id, "m", 0.5, 100, 2)
    assert [(p["timestamp"], p["step"], p["value"]) for p in history(api, run_id, "m")["metrics"]] == [
        (100, 2, 0.5),
        (100, 2, 1.0),
        (110, 1, 5.0),
    ]


@pytest.mark.parametrize("token", ["garbage!", "bm90IGpzb24=", "eyJmb28iOiAxfQ=="])
def test_bad_history_page_token(api: Api, token: str) -> None:
    run_id = make_run(api)["info"]["run_id"]
    response = api.get("metrics/get-history", {"run_id": run_id, "metric_key": "m", "page_token": token})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid page token")


def test_history_of_a_missing_key_or_run_is_empty(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    assert history(api, run_id, "nope") == {}
    api.error("get", "metrics/get-history", {"run_id": run_id}, 400, "INVALID_PARAMETER_VALUE")


def test_history_bulk_interval(api: Api) -> None:
    runs = [make_run(api)["info"]["run_id"] for _ in range(2)]
    api.ok(
        "post",
        "runs/log-batch",
        {
            "run_id": runs[0],
            "metrics": [{"key": "loss", "value": s / 10, "timestamp": s, "step": s} for s in range(1000)],
        },
    )
    api.ok(
        "post",
        "runs/log-batch",
        {
            "run_id": runs[1],
            "metrics": [{"key": "loss", "value": 1.0, "timestamp": s, "step": s} for s in range(5, 1003, 7)],
        },
    )
    result = api.ok(
        "get", "metrics/get-history-bulk-interval", {"run_ids": runs, "metric_key": "loss", "max_results": 10}
    )
    by_run: dict[str, list[int]] = {}
    for point in result["metrics"]:
        assert set(point) == {"key", "value", "timestamp", "step", "run_id"}
        by_run.setdefault(point["run_id"], []).append(point["step"])
    assert list(by_run) == runs
    for steps in by_run.values():
        assert steps == sorted(steps)
    # Each run's own first and last step is always there, and the sample stays small.
    assert {0, 999} <= set(by_run[runs[0]]) and {5, 999} <= set(by_run[runs[1]])
    assert len(by_run[runs[0]]) <= 14
    windowed = api.ok(
        "get",
        "metrics/get-history-bulk-interval",
        {"run_ids": runs[0], "metric_key": "loss", "start_step": 100, "end_step": 200, "max_results": 5},
    )
    steps = [p["step"] for p in windowed["metrics"]]
    assert min(steps) == 100 and max(steps) == 200 and len(steps) <= 6
    small = api.ok(
        "get",
        "metrics/get-history-bulk-interval",
        {"run_ids": runs[0], "metric_key": "loss", "start_step": 3, "end_step": 5},
    )
    assert [p["step"] for p in small["metrics"]] == [3, 4, 5]


def test_history_bulk_interval_validation(api: Api) -> None:
    base = {"run_ids": ["r"], "metric_key": "k"}
    cases = [
        ({"metric_key": "k"}, "Missing value for required parameter 'run_ids'."),
        ({"run_ids": ["r"]}, "Missing value for required parameter 'metric_key'."),
        ({"run_ids": [f"r{i}" for i in range(101)], "metric_key": "k"}, "must specify at most 100 run_ids"),
        ({**base, "max_results": 0}, "max_results must be between 1 and 2500"),
        ({**base, "max_results": 2501}, "max_results must be between 1 and 2500"),
        ({**base, "start_step": 1}, "both must be specified"),
        ({**base, "start_step": 2, "end_step": 1}, "end_step must be greater than start_step"),
    ]
    for params, fragment in cases:
        response = api.get("metrics/get-history-bulk-interval", params)
        assert response.status_code == 400, params
        assert fragment in response.json()["message"], (params, response.json())


def test_history_bulk_is_ajax_only(api: Api) -> None:
    runs = sorted(make_run(api)["info"]["run_id"] for _ in range(2))
    for run_id in runs:
        log(api, run_id, "m", 1.0, 2, 0)
        log(api, run_id, "m", 2.0, 1, 5)
    assert api.get("metrics/get-history-bulk", {"run_id": runs, "metric_key": "m"}).status_code == 404
    response = api.client.get(
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk", params={"run_id": runs[::-1], "metric_key": "m"}
    )
    assert response.status_code == 200
    got = [(p["run_id"], p["timestamp"]) for p in response.json()["metrics"]]
    assert got == [(runs[0], 1), (runs[0], 2), (runs[1], 1), (runs[1], 2)]
    missing = api.client.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk", params={"metric_key": "m"})
    assert missing.status_code == 400


def test_model_linked_metrics(api: Api) -> None:
    # MLflow 3's log_model copies run metrics with a model_id through log-batch.
    run = make_run(api)
    run_id, eid = run["info"]["run_id"], run["info"]["experiment_id"]
    log(api, run_id, "acc", 0.9, 10)
    model = api.ok("post", "logged-models", {"experiment_id": eid, "name": "model", "source_run_id": run_id})
    model_id = model["model"]["info"]["model_id"]
    api.ok(
        "post",
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [
                {"key": "acc", "value": 0.9, "timestamp": 10, "step": 0, "model_id": model_id},
                {
                    "key": "f1",
                    "value": 0.8,
                    "timestamp": 11,
                    "step": 0,
                    "model_id": model_id,
                    "dataset_name": "d",
                    "dataset_digest": "abc",
                },
            ],
        },
    )
    f1 = history(api, run_id, "f1")["metrics"][0]
    assert f1 == {
        "key": "f1",
        "value": 0.8,
        "timestamp": 11,
        "step": 0,
        "model_id": model_id,
        "dataset_name": "d",
        "dataset_digest": "abc",
    }
    # The exact repeat of the run's own point was deduplicated.
    assert len(history(api, run_id, "acc")["metrics"]) == 1
    fetched = api.ok("get", f"logged-models/{model_id}")["model"]
    names = {m["key"] for m in fetched.get("data", {}).get("metrics", [])}
    assert names == {"acc", "f1"}


def test_unpaged_history_returns_every_point(api: Api) -> None:
    # Without max_results MLflow returns the whole history at once; with it, pages.
    eid = api.ok("post", "experiments/create", {"name": "long"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": eid, "start_time": 1})["run"]["info"]["run_id"]
    for chunk in range(30):
        points = [
            {"key": "m", "value": i, "timestamp": i, "step": i}
            for i in range(chunk * 1000, chunk * 1000 + 1000)
        ]
        api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": points})
    whole = api.ok("get", "metrics/get-history", {"run_id": run_id, "metric_key": "m"})
    assert len(whole["metrics"]) == 30_000
    assert "next_page_token" not in whole
    first = api.ok("get", "metrics/get-history", {"run_id": run_id, "metric_key": "m", "max_results": 25_000})
    assert len(first["metrics"]) == 25_000
    rest = api.ok(
        "get",
        "metrics/get-history",
        {"run_id": run_id, "metric_key": "m", "max_results": 25_000, "page_token": first["next_page_token"]},
    )
    assert [p["step"] for p in first["metrics"] + rest["metrics"]] == list(range(30_000))
