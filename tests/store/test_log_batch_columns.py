"""log-batch's column path: plain items (key, value, timestamp, step, perhaps run_id) are taken as
columns and stored without a Python object per point. Everything here is checked through the
HTTP API on every backend: what is stored, the latest values, dedupe, statement-sized chunks,
the items that must take the general path, error messages, and the batch's audit digest."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from tests.conftest import Api
from tests.store.audit_support import records
from tests.store.test_runs import get_run, make_run

LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"
T0 = 1_700_000_000_000


def plain(count: int, keys: int = 10, *, step0: int = 0, prefix: str = "k") -> list[dict[str, Any]]:
    """``count`` plain items over ``keys`` keys; every third value an int, the rest floats."""
    return [
        {
            "key": f"{prefix}{i % keys}",
            "value": i if i % 3 == 0 else i * 0.25,
            "timestamp": T0 + i // 100,
            "step": step0 + i // keys,
        }
        for i in range(count)
    ]


def history(api: Api, run_id: str, key: str) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = api.ok(
        "get", "metrics/get-history", {"run_id": run_id, "metric_key": key}
    ).get("metrics", [])
    return points


def latest(api: Api, run_id: str) -> dict[str, dict[str, Any]]:
    return {m["key"]: m for m in get_run(api, run_id)["data"].get("metrics", [])}


def expected_history(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    points = {(item["timestamp"], item["step"], float(item["value"])) for item in items if item["key"] == key}
    return [
        {"key": key, "value": value, "timestamp": timestamp, "step": step}
        for timestamp, step, value in sorted(points)
    ]


def expected_latest(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    best: dict[str, tuple[int, int, float]] = {}
    for item in items:
        order = (item["step"], item["timestamp"], float(item["value"]))
        if item["key"] not in best or order > best[item["key"]]:
            best[item["key"]] = order
    return {
        key: {"key": key, "value": value, "timestamp": timestamp, "step": step}
        for key, (step, timestamp, value) in best.items()
    }


def test_plain_batch_is_stored_as_sent_and_repeats_are_dropped(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    items = plain(1000)
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": items})
    for key in ("k0", "k7"):
        assert history(api, run_id, key) == expected_history(items, key)
        assert all(type(point["value"]) is float for point in history(api, run_id, key))
    assert latest(api, run_id) == expected_latest(items)
    # The same batch again, and a batch that repeats itself: no new points.
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": items})
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": items[:10] + items[:10]})
    assert len(history(api, run_id, "k3")) == 100
    assert latest(api, run_id) == expected_latest(items)


def test_items_with_mlflow_3_run_id_field_take_the_column_path(api: Api) -> None:
    """MLflow 3's log_metrics puts run_id on every item; it is ignored, as by MLflow."""
    run_id = make_run(api)["info"]["run_id"]
    items = [{**item, "run_id": "somewhere-else"} for item in plain(300)]
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": items})
    assert history(api, run_id, "k1") == expected_history(items, "k1")
    assert latest(api, run_id) == expected_latest(items)


@pytest.mark.parametrize(
    "items",
    [
        # Steps going back, a key repeating a step with a later timestamp or a larger value.
        [
            {"key": "a", "value": 5.0, "timestamp": 10, "step": 3},
            {"key": "a", "value": 1.0, "timestamp": 20, "step": 3},
            {"key": "a", "value": 9.0, "timestamp": 50, "step": 2},
            {"key": "b", "value": 1.0, "timestamp": 1, "step": 7},
            {"key": "b", "value": 2.0, "timestamp": 1, "step": 1},
            {"key": "c", "value": 2.0, "timestamp": 4, "step": 0},
            {"key": "c", "value": 3.0, "timestamp": 4, "step": 0},
        ],
        # Steps in order but one key logged twice at its last step: the larger value wins.
        [
            {"key": "a", "value": 1.0, "timestamp": 5, "step": 1},
            {"key": "a", "value": 7.0, "timestamp": 5, "step": 2},
            {"key": "b", "value": 3.0, "timestamp": 5, "step": 2},
            {"key": "a", "value": 2.0, "timestamp": 5, "step": 2},
        ],
    ],
    ids=["out-of-order", "repeated-step"],
)
def test_latest_is_the_greatest_point_in_any_order(api: Api, items: list[dict[str, Any]]) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": items})
    assert latest(api, run_id) == expected_latest(items)


def test_an_older_batch_leaves_the_latest_value_alone(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    newer = plain(200, step0=1000)
    older = plain(200, step0=0)
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": newer})
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": older})
    assert latest(api, run_id) == expected_latest(newer)
    assert len(history(api, run_id, "k0")) == 40


def test_plain_point_replacing_a_model_point_clears_the_model(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    model_id = api.ok("post", "logged-models", {"experiment_id": "0"})["model"]["info"]["model_id"]
    linked = {"key": "m", "value": 1.0, "timestamp": 5, "step": 1, "model_id": model_id}
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": [linked]})
    assert latest(api, run_id)["m"].get("model_id") == model_id
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "metrics": [{"key": "m", "value": 2.0, "timestamp": 6, "step": 2}]},
    )
    assert latest(api, run_id)["m"] == {"key": "m", "value": 2.0, "timestamp": 6, "step": 2}
    assert history(api, run_id, "m")[0].get("model_id") == model_id


@pytest.mark.parametrize("size", [1, 99, 100, 101, 999, 1000])
def test_every_batch_size_is_stored_whole(api: Api, size: int) -> None:
    run_id = make_run(api)["info"]["run_id"]
    items = plain(size, keys=1)
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": items})
    assert history(api, run_id, "k0") == expected_history(items, "k0")


@pytest.mark.parametrize(
    ("odd", "stored"),
    [
        (
            {"key": "x", "value": "NaN", "timestamp": 1, "step": 1},
            {"value": "NaN", "timestamp": 1, "step": 1},
        ),
        ({"key": "x", "value": 1, "timestamp": "5", "step": 1}, {"value": 1.0, "timestamp": 5, "step": 1}),
        ({"key": "x", "value": 1, "timestamp": 1}, {"value": 1.0, "timestamp": 1, "step": 0}),
        ({"key": "x", "value": 1, "timestamp": 1, "step": None}, {"value": 1.0, "timestamp": 1, "step": 0}),
        (
            {"key": "x", "value": 2.5, "timestamp": 1, "step": 1, "note": "?"},
            {"value": 2.5, "timestamp": 1, "step": 1},
        ),
        (
            {"key": "x", "value": 1e308, "timestamp": 1, "step": 9},
            {"value": 1e308, "timestamp": 1, "step": 9},
        ),
    ],
    ids=["nan", "string-timestamp", "no-step", "null-step", "unknown-field", "huge-value"],
)
def test_one_odd_item_sends_the_batch_down_the_general_path(
    api: Api, odd: dict[str, Any], stored: dict[str, Any]
) -> None:
    run_id = make_run(api)["info"]["run_id"]
    items = plain(999)
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": [*items[:500], odd, *items[500:]]})
    assert history(api, run_id, "x") == [{"key": "x", **stored}]
    assert history(api, run_id, "k4") == expected_history(items, "k4")
    # 1e308 twice overflows the column path's finiteness check; the values still stand.
    if odd["value"] == 1e308:
        api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": [odd, {**odd, "step": 10}]})
        assert [p["value"] for p in history(api, run_id, "x")] == [1e308, 1e308]


@pytest.mark.parametrize(
    "bad",
    [
        {"key": "x", "value": 1, "timestamp": 2**63, "step": 1},
        {"key": "x", "value": 1, "timestamp": 1, "step": str(-(2**63) - 1)},
        {"key": "x", "value": True, "timestamp": 1, "step": 1},
        {"key": "x", "value": 1, "timestamp": 1, "step": 1.5},
        {"key": 5, "value": 1, "timestamp": 1, "step": 1},
        {"key": "x", "value": [1], "timestamp": 1, "step": 1},
    ],
    ids=["timestamp-too-big", "step-too-small", "bool-value", "fractional-step", "int-key", "list-value"],
)
def test_a_bad_item_in_a_large_batch_gives_the_one_item_message(api: Api, bad: dict[str, Any]) -> None:
    run_id = make_run(api)["info"]["run_id"]
    alone = api.error(
        "post", "runs/log-batch", {"run_id": run_id, "metrics": [bad]}, 400, "INVALID_PARAMETER_VALUE"
    )
    items = plain(999)
    big = api.error(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "metrics": [*items[:700], bad, *items[700:]]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert big == alone.replace("metrics[0]", "metrics[700]")
    assert history(api, run_id, "k0") == []


def test_the_first_bad_key_is_the_one_reported(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    items = [*plain(10), {"key": "bad$1", "value": 1, "timestamp": 1, "step": 1}]
    items.append({"key": "bad$2", "value": 1, "timestamp": 1, "step": 1})
    message = api.error(
        "post", "runs/log-batch", {"run_id": run_id, "metrics": items}, 400, "INVALID_PARAMETER_VALUE"
    )
    assert message.startswith("Invalid metric name: 'bad$1'.")
    assert latest(api, run_id) == {}


def _record(api: Api, request_id: str) -> dict[str, Any]:
    return next(r for r in records(api) if r.get("request_id") == request_id)


def _digest(change: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(change, option=orjson.OPT_SORT_KEYS)).hexdigest()


def test_the_audit_digest_covers_every_point(api: Api) -> None:
    """The record's after_digest is the SHA-256 of the canonical (sorted-key) JSON of the whole
    request, so it changes with any one point."""
    run_id = make_run(api)["info"]["run_id"]
    body = {"run_id": run_id, "metrics": plain(1000)}
    assert api.client.post(LOG_BATCH, json=body, headers={"X-Request-Id": "whole"}).status_code == 200
    record = _record(api, "whole")
    assert record["after_digest"] == _digest({"request": body, "args": [], "result": None})
    assert record["details"]["request"] == {"run_id": run_id, "metrics": {"count": 1000}}
    changed = {"run_id": run_id, "metrics": plain(1000)}
    changed["metrics"][999]["value"] = 0.5
    assert record["after_digest"] != _digest({"request": changed, "args": [], "result": None})


@pytest.mark.parametrize(
    "where",
    ["item", "nested"],
)
def test_a_secret_named_field_anywhere_in_a_batch_is_scrubbed(api: Api, where: str) -> None:
    run_id = make_run(api)["info"]["run_id"]
    items = plain(1000)
    body: dict[str, Any] = {"run_id": run_id, "metrics": items}
    if where == "item":
        items[600] = {**items[600], "api_token": "hunter2"}
    else:
        # The one container of the deepest level: a walk stopping a container early misses it.
        body["extra"] = {"deep": [{"password": "hunter2"}]}
    assert api.client.post(LOG_BATCH, json=body, headers={"X-Request-Id": where}).status_code == 200
    record = _record(api, where)
    assert "hunter2" not in str(record)
    assert record["after_digest"] != _digest({"request": body, "args": [], "result": None})
    if where == "item":
        scrubbed = [*items[:600], {**items[600], "api_token": "[redacted]"}, *items[601:]]
        redacted = {"run_id": run_id, "metrics": scrubbed}
    else:
        redacted = {**body, "extra": {"deep": [{"password": "[redacted]"}]}}
    assert record["after_digest"] == _digest({"request": redacted, "args": [], "result": None})
    assert history(api, run_id, "k0") == expected_history(items, "k0")
