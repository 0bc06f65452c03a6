"""log-batch: limits with MLflow's messages, and all-or-nothing writes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.store.test_runs import get_run, make_run


def metrics(n: int, prefix: str = "m") -> list[dict[str, Any]]:
    return [{"key": f"{prefix}{i}", "value": i, "timestamp": 1, "step": 0} for i in range(n)]


def kvs(n: int, prefix: str) -> list[dict[str, str]]:
    return [{"key": f"{prefix}{i}", "value": "v"} for i in range(n)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"metrics": metrics(1001)},
            "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. "
            "Please split up metrics across multiple requests and try again.",
        ),
        (
            {"params": kvs(101, "p")},
            "A batch logging request can contain at most 100 params. Got 101 params. "
            "Please split up params across multiple requests and try again.",
        ),
        (
            {"tags": kvs(101, "t")},
            "A batch logging request can contain at most 100 tags. Got 101 tags. "
            "Please split up tags across multiple requests and try again.",
        ),
        (
            {"metrics": metrics(901), "params": kvs(100, "p")},
            "A batch logging request can contain at most 1000 metrics, params, and tags. Got 1001 "
            "metrics, params, and tags. Please split up metrics, params, and tags across multiple "
            "requests and try again.",
        ),
    ],
)
def test_limits(api: Api, body: dict[str, Any], message: str) -> None:
    run_id = make_run(api)["info"]["run_id"]
    assert (
        api.error("post", "runs/log-batch", {"run_id": run_id, **body}, 400, "INVALID_PARAMETER_VALUE")
        == message
    )
    data = get_run(api, run_id)["data"]
    assert "metrics" not in data and "params" not in data


def test_largest_allowed_batch(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": metrics(1000)})
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "metrics": metrics(800, "n"), "params": kvs(100, "p"), "tags": kvs(100, "t")},
    )
    data = get_run(api, run_id)["data"]
    assert len(data["metrics"]) == 1800 and len(data["params"]) == 100
    assert len(data["tags"]) == 101  # plus mlflow.runName


def test_run_id_is_required(api: Api) -> None:
    message = api.error("post", "runs/log-batch", {"metrics": []}, 400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Missing value for required parameter 'run_id'")


def test_empty_batch_is_fine(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    assert api.ok("post", "runs/log-batch", {"run_id": run_id}) == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"metrics": [{"key": "bad$key", "value": 1, "timestamp": 1}]},
        {"metrics": [{"key": "ok", "value": "abc", "timestamp": 1}]},
        {"params": [{"key": "existing", "value": "changed"}]},
        {"params": [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}]},
        {"tags": [{"key": "../up", "value": "x"}]},
    ],
)
def test_all_or_nothing(api: Api, bad: dict[str, Any]) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "existing", "value": "1"})
    before = get_run(api, run_id)
    good: dict[str, list[Any]] = {
        "metrics": [{"key": "good", "value": 1, "timestamp": 1}],
        "params": [{"key": "fresh", "value": "1"}],
        "tags": [{"key": "fresh", "value": "1"}],
    }
    body = {"run_id": run_id, **{k: good[k] + bad.get(k, []) for k in good}}
    api.error("post", "runs/log-batch", body, 400, "INVALID_PARAMETER_VALUE")
    assert get_run(api, run_id) == before
    history = api.ok("get", "metrics/get-history", {"run_id": run_id, "metric_key": "good"})
    assert history == {}


def test_batch_items_carry_a_run_id_that_is_ignored(api: Api) -> None:
    # The Python client's log_metrics puts run_id on each metric too.
    run_id = make_run(api)["info"]["run_id"]
    api.ok(
        "post",
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 3, "run_id": run_id}],
        },
    )
    assert get_run(api, run_id)["data"]["metrics"] == [{"key": "m", "value": 1.0, "timestamp": 1, "step": 3}]


def test_tag_in_batch_is_last_write_wins(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "tags": [{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]},
    )
    tags = {t["key"]: t["value"] for t in get_run(api, run_id)["data"]["tags"]}
    assert tags["k"] == "2"
