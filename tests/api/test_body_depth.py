"""The nesting limit on large bodies: the depth check stops early once it has seen as many
objects and arrays as the body has brackets, which must never let a deep body through."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"


def _run(client: TestClient) -> str:
    answer = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    assert answer.status_code == 200, answer.text
    run_id: str = answer.json()["run"]["info"]["run_id"]
    return run_id


def _items(count: int) -> list[dict[str, Any]]:
    return [{"key": f"k{i % 10}", "value": i * 0.5, "timestamp": 1, "step": i} for i in range(count)]


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("where", [0, 500, 999])
def test_one_deep_item_among_a_thousand_flat_ones_is_refused(client: TestClient, where: int) -> None:
    items = _items(1000)
    items[where] = {**items[where], "extra": _nested(70)}
    body = {"run_id": _run(client), "metrics": items}
    answer = client.post(LOG_BATCH, json=body)
    assert answer.status_code == 400, answer.text
    assert "deeper than 64" in answer.json()["message"]


def test_deep_field_beside_the_metrics_is_refused(client: TestClient) -> None:
    body = {"run_id": _run(client), "metrics": _items(1000), "extra": _nested(70)}
    answer = client.post(LOG_BATCH, json=body)
    assert answer.status_code == 400, answer.text
    assert "deeper than 64" in answer.json()["message"]


def test_brackets_inside_strings_are_not_nesting(client: TestClient) -> None:
    """Many brackets in string values (more than the limit) with shallow nesting: accepted."""
    run_id = _run(client)
    body = {
        "run_id": run_id,
        "metrics": _items(999),
        "params": [{"key": "shape", "value": "{[" * 500}],
    }
    answer = client.post(LOG_BATCH, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    params = client.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]["data"]["params"]
    assert params == [{"key": "shape", "value": "{[" * 500}]


def test_nesting_of_exactly_the_limit_is_accepted(client: TestClient) -> None:
    # The body object, "extra" holding 63 nested lists: 64 levels.
    body = {"run_id": _run(client), "metrics": _items(1000), "extra": _nested(63)}
    assert client.post(LOG_BATCH, json=body).status_code == 200
    body["extra"] = _nested(64)
    assert client.post(LOG_BATCH, json=body).status_code == 400
