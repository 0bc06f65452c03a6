"""Params and run tags: immutability, key rules, value limits, empty values."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.store.test_runs import get_run, make_run, tags_of


def params_of(run: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in run["data"].get("params", [])}


def test_param_immutability(api: Api) -> None:
    # BC-18 / BC-19
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    message = api.error(
        "post",
        "runs/log-parameter",
        {"run_id": run_id, "key": "p", "value": "2"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert message == (
        "Changing param values is not allowed. Param with key='p' was already logged with "
        f"value='1' for run ID='{run_id}'. Attempted logging new value '2'."
    )
    assert params_of(get_run(api, run_id)) == {"p": "1"}


def test_param_immutability_in_batches(api: Api) -> None:
    # BC-18: re-sending an equal value in a batch is a no-op; BC-19: a change is a 400.
    run_id = make_run(api)["info"]["run_id"]
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]},
    )
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"key": "a", "value": "1"}, {"key": "c", "value": "2"}]},
    )
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "new param", "value": "new key"})
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "new param", "value": "new key"})
    assert params_of(get_run(api, run_id)) == {"a": "1", "b": "2", "c": "2", "new param": "new key"}
    message = api.error(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"key": "a", "value": "9"}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert message.startswith("Changing param values is not allowed.")
    assert "'key': 'a', 'old_value': '1', 'new_value': '9'" in message and run_id in message


def test_duplicate_param_keys_in_one_batch(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    message = api.error(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"key": "dd", "value": "1"}, {"key": "dd", "value": "2"}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert message.startswith("Duplicate parameter keys have been submitted: ['dd'].")
    # MLflow's uniqueness check looks at keys only, so a repeat with an equal value is refused too.
    same = {"run_id": run_id, "params": [{"key": "ee", "value": "1"}, {"key": "ee", "value": "1"}]}
    assert "['ee']" in api.error("post", "runs/log-batch", same, 400, "INVALID_PARAMETER_VALUE")
    assert "params" not in get_run(api, run_id)["data"]


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("k" * 251, "exceeds the maximum length of 250"),
        ("a$b", "Names may only contain"),
        ("../x", "resolve to a different path"),
        ("a/../../b", "resolve to a different path"),
        (".", "resolve to a different path"),
        ("", ""),
    ],
)
def test_key_rules_apply_to_every_write(api: Api, key: str, fragment: str) -> None:
    run_id = make_run(api)["info"]["run_id"]
    for path, body in (
        ("runs/log-parameter", {"key": key, "value": "1"}),
        ("runs/set-tag", {"key": key, "value": "1"}),
        ("runs/log-metric", {"key": key, "value": 1, "timestamp": 1}),
        ("runs/log-batch", {"params": [{"key": key, "value": "1"}]}),
        ("runs/log-batch", {"tags": [{"key": key, "value": "1"}]}),
        ("runs/log-batch", {"metrics": [{"key": key, "value": 1, "timestamp": 1}]}),
    ):
        response = api.post(path, {"run_id": run_id, **body})
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert fragment in response.json()["message"]
    run = get_run(api, run_id)
    assert "params" not in run["data"] and "metrics" not in run["data"]


def test_key_of_250_chars_is_fine(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "k" * 250, "value": "1"})
    api.ok(
        "post", "runs/log-batch", {"run_id": run_id, "tags": [{"key": "t/with:odd chars.-_", "value": "1"}]}
    )


def test_long_values_are_refused_on_every_path(api: Api) -> None:
    # BC-20: param values over 6000 and run tag values over 8000 characters are a 400, the same
    # on the single and the batch endpoints, and nothing of a refused batch is written.
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "p6000", "value": "x" * 6000})
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "t8000", "value": "x" * 8000})
    refused = [
        ("runs/log-parameter", {"run_id": run_id, "key": "p6001", "value": "y" * 6001}, 6000),
        ("runs/log-batch", {"run_id": run_id, "params": [{"key": "b6001", "value": "z" * 6001}]}, 6000),
        ("runs/set-tag", {"run_id": run_id, "key": "t8001", "value": "y" * 8001}, 8000),
        (
            "runs/log-batch",
            {
                "run_id": run_id,
                "params": [{"key": "ok", "value": "1"}],
                "tags": [{"key": "b8001", "value": "z" * 8001}],
            },
            8000,
        ),
    ]
    for path, body, limit in refused:
        message = api.error("post", path, body, 400, "INVALID_PARAMETER_VALUE")
        assert f"which exceeded length limit of {limit}" in message
    run = get_run(api, run_id)
    params, tags = params_of(run), tags_of(run)
    assert set(params) == {"p6000"}
    assert "t8001" not in tags and "b8001" not in tags


def test_empty_values(api: Api) -> None:
    # BC-42
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "param_key", "value": ""})
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "t", "value": ""})
    api.ok("post", "runs/log-batch", {"run_id": run_id, "params": [{"key": "hi", "value": ""}]})
    api.ok("post", "runs/log-batch", {"run_id": run_id, "params": [{"key": "x"}]})
    message = api.error(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"value": "1"}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "params[0].key" in message
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "param_key", "value": ""})
    api.error(
        "post",
        "runs/log-parameter",
        {"run_id": run_id, "key": "param_key", "value": "x"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    run = get_run(api, run_id)
    assert params_of(run) == {"param_key": "", "hi": "", "x": ""}
    assert tags_of(run)["t"] == ""


def test_non_ascii_values_round_trip(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "note", "value": "精度 ✓ ü"})
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "lang", "value": "日本語"})
    run = get_run(api, run_id)
    assert tags_of(run)["note"] == "精度 ✓ ü" and params_of(run)["lang"] == "日本語"


def test_tag_keys_are_case_sensitive(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "tags": [{"key": "K", "value": "1"}, {"key": "k", "value": "2"}]},
    )
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"key": "P", "value": "1"}, {"key": "p", "value": "2"}]},
    )
    run = get_run(api, run_id)
    assert tags_of(run)["K"] == "1" and tags_of(run)["k"] == "2"
    assert params_of(run) == {"P": "1", "p": "2"}


def test_keys_differing_only_in_case_are_distinct(api: Api) -> None:
    # On MySQL/MariaDB a default collation would merge these; keys are case-sensitive everywhere.
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "Team", "value": "A"})
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "team", "value": "B"})
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "Alpha", "value": "1"})
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "alpha", "value": "2"})
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"key": "Ab", "value": "1"}, {"key": "ab", "value": "2"}]},
    )
    api.ok("post", "runs/log-metric", {"run_id": run_id, "key": "Loss", "value": 1, "timestamp": 1})
    api.ok("post", "runs/log-metric", {"run_id": run_id, "key": "loss", "value": 2, "timestamp": 1})
    run = get_run(api, run_id)
    tags, params = tags_of(run), params_of(run)
    assert (tags["Team"], tags["team"]) == ("A", "B")
    assert (params["Alpha"], params["alpha"], params["Ab"], params["ab"]) == ("1", "2", "1", "2")
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics == {"Loss": 1, "loss": 2}
    found = api.ok(
        "post", "runs/search", {"experiment_ids": [run["info"]["experiment_id"]], "filter": "tags.team = 'B'"}
    )
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]
    assert api.ok("post", "experiments/create", {"name": "Case"})["experiment_id"]
    assert api.ok("post", "experiments/create", {"name": "case"})["experiment_id"]
