"""Run lifecycle semantics over the REST API, on every backend."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import Api


def make_experiment(api: Api, name: str = "exp") -> str:
    return str(api.ok("post", "experiments/create", {"name": name})["experiment_id"])


def make_run(api: Api, experiment_id: str = "0", **fields: Any) -> dict[str, Any]:
    body = {"experiment_id": experiment_id, "start_time": 1700000000000, **fields}
    return dict(api.ok("post", "runs/create", body)["run"])


def get_run(api: Api, run_id: str) -> dict[str, Any]:
    return dict(api.ok("get", "runs/get", {"run_id": run_id})["run"])


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def test_create_run_wire_shape(api: Api) -> None:
    eid = make_experiment(api)
    run = make_run(api, eid, user_id="alice", run_name="r1", tags=[{"key": "t", "value": "v"}])
    info = run["info"]
    assert re.fullmatch(r"[0-9a-f]{32}", info["run_id"])
    assert info["run_uuid"] == info["run_id"]
    assert info == {
        "run_uuid": info["run_id"],
        "experiment_id": eid,
        "run_name": "r1",
        "user_id": "alice",
        "status": "RUNNING",
        "start_time": 1700000000000,
        "artifact_uri": f"mlflow-artifacts:/{eid}/{info['run_id']}/artifacts",
        "lifecycle_stage": "active",
        "run_id": info["run_id"],
    }
    assert tags_of(run) == {"t": "v", "mlflow.runName": "r1"}
    fetched = get_run(api, info["run_id"])
    assert fetched["info"] == info
    assert fetched["data"] == {"tags": run["data"]["tags"]}
    # Empty repeated fields are omitted, but the inputs/outputs messages are present.
    assert fetched["inputs"] == {} and fetched["outputs"] == {}


def test_user_id_defaults_to_empty_and_start_time_may_be_a_string(api: Api) -> None:
    run = api.ok("post", "runs/create", {"experiment_id": "0", "start_time": "1700000000123"})["run"]
    assert run["info"]["user_id"] == ""
    assert run["info"]["start_time"] == 1700000000123


def test_run_name_generation_and_conflicts(api: Api) -> None:
    # BC-43: '' is the unset default, so both (a) and (b) get a generated name.
    for body in ({}, {"run_name": ""}):
        run = make_run(api, **body)
        name = run["info"]["run_name"]
        assert re.fullmatch(r"[a-z]+-[a-z]+-\d{1,4}", name) and len(name) <= 20
        assert tags_of(run)["mlflow.runName"] == name
    same = make_run(api, run_name="a", tags=[{"key": "mlflow.runName", "value": "a"}])
    assert same["info"]["run_name"] == "a"
    message = api.error(
        "post",
        "runs/create",
        {"experiment_id": "0", "run_name": "a", "tags": [{"key": "mlflow.runName", "value": "b"}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Both 'run_name' argument and 'mlflow.runName' tag are specified" in message
    from_tag = make_run(api, tags=[{"key": "mlflow.runName", "value": "t"}])
    assert from_tag["info"]["run_name"] == "t"
    # Run names are not unique.
    first, second = make_run(api, run_name="dup"), make_run(api, run_name="dup")
    assert first["info"]["run_id"] != second["info"]["run_id"]


def test_create_run_needs_a_live_experiment(api: Api) -> None:
    api.error("post", "runs/create", {"start_time": 1}, 400, "BAD_REQUEST")
    api.error("post", "runs/create", {"experiment_id": "999"}, 404, "RESOURCE_DOES_NOT_EXIST")
    api.error("post", "runs/create", {"experiment_id": "x"}, 400, "INVALID_PARAMETER_VALUE")
    eid = make_experiment(api)
    api.ok("post", "experiments/delete", {"experiment_id": eid})
    message = api.error("post", "runs/create", {"experiment_id": eid}, 400, "INVALID_PARAMETER_VALUE")
    assert "must be in the 'active' state" in message


def test_unknown_run_is_404(api: Api) -> None:
    message = api.error("get", "runs/get", {"run_id": "deadbeef"}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == "Run with id=deadbeef not found"
    for path, body in (
        ("runs/log-parameter", {"run_id": "deadbeef", "key": "p", "value": "1"}),
        ("runs/set-tag", {"run_id": "deadbeef", "key": "p", "value": "1"}),
        ("runs/log-metric", {"run_id": "deadbeef", "key": "m", "value": 1, "timestamp": 1}),
        ("runs/log-batch", {"run_id": "deadbeef"}),
        ("runs/update", {"run_id": "deadbeef", "status": "FINISHED"}),
        ("runs/delete", {"run_id": "deadbeef"}),
        ("runs/restore", {"run_id": "deadbeef"}),
        ("runs/delete-tag", {"run_id": "deadbeef", "key": "k"}),
    ):
        assert (
            api.error("post", path, body, 404, "RESOURCE_DOES_NOT_EXIST") == "Run with id=deadbeef not found"
        )


def test_run_uuid_accepted_only_where_mlflow_accepts_it(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    legacy = {"run_uuid": run_id}
    assert api.ok("get", "runs/get", legacy)["run"]["info"]["run_id"] == run_id
    api.ok("post", "runs/update", {**legacy, "status": "FINISHED"})
    api.ok("post", "runs/log-metric", {**legacy, "key": "m", "value": 1.5, "timestamp": 5})
    api.ok("post", "runs/log-parameter", {**legacy, "key": "p", "value": "1"})
    api.ok("post", "runs/set-tag", {**legacy, "key": "t", "value": "x"})
    assert api.ok("get", "metrics/get-history", {**legacy, "metric_key": "m"})["metrics"][0]["value"] == 1.5
    for path, extra in (
        ("runs/log-batch", {}),
        ("runs/delete", {}),
        ("runs/restore", {}),
        ("runs/delete-tag", {"key": "t"}),
        ("runs/log-inputs", {}),
    ):
        message = api.error("post", path, {**legacy, **extra}, 400, "INVALID_PARAMETER_VALUE")
        assert message.startswith("Missing value for required parameter 'run_id'")
    # Nothing was deleted by the refused calls.
    assert tags_of(get_run(api, run_id))["t"] == "x"


def test_update_is_partial_and_status_moves_freely(api: Api) -> None:
    # BC-25
    run_id = make_run(api, run_name="orig")["info"]["run_id"]
    info = api.ok("post", "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1700000005000})[
        "run_info"
    ]
    assert (info["status"], info["end_time"], info["run_name"]) == ("FINISHED", 1700000005000, "orig")
    info = api.ok("post", "runs/update", {"run_id": run_id, "status": "RUNNING"})["run_info"]
    assert (info["status"], info["end_time"]) == ("RUNNING", 1700000005000)
    info = api.ok("post", "runs/update", {"run_id": run_id, "run_name": "renamed"})["run_info"]
    assert (info["status"], info["run_name"]) == ("RUNNING", "renamed")
    run = get_run(api, run_id)
    assert run["info"]["run_name"] == "renamed"
    assert tags_of(run)["mlflow.runName"] == "renamed"
    for status in ("SCHEDULED", "KILLED", "FAILED", "FINISHED"):
        assert (
            api.ok("post", "runs/update", {"run_id": run_id, "status": status})["run_info"]["status"]
            == status
        )
    # An unknown enum name is dropped by MLflow's parser: 200, status unchanged.
    assert (
        api.ok("post", "runs/update", {"run_id": run_id, "status": "BOGUS"})["run_info"]["status"]
        == "FINISHED"
    )
    api.ok("post", "runs/delete", {"run_id": run_id})
    message = api.error(
        "post", "runs/update", {"run_id": run_id, "status": "KILLED"}, 400, "INVALID_PARAMETER_VALUE"
    )
    assert message == f"The run {run_id} must be in the 'active' state. Current state is deleted."


def test_set_tag_on_run_name_renames_the_run(api: Api) -> None:
    run_id = make_run(api, run_name="a")["info"]["run_id"]
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "mlflow.runName", "value": "b"})
    assert get_run(api, run_id)["info"]["run_name"] == "b"


def test_delete_and_restore_are_idempotent(api: Api) -> None:
    # BC-24
    eid = make_experiment(api)
    r1 = make_run(api, eid)["info"]["run_id"]
    r2 = make_run(api, eid)["info"]["run_id"]
    api.ok("post", "runs/delete", {"run_id": r1})
    api.ok("post", "runs/delete", {"run_id": r1})
    api.ok("post", "runs/restore", {"run_id": r2})
    assert get_run(api, r1)["info"]["lifecycle_stage"] == "deleted"
    assert get_run(api, r2)["info"]["lifecycle_stage"] == "active"
    api.ok("post", "experiments/delete", {"experiment_id": eid})
    api.ok("post", "runs/restore", {"run_id": r1})
    api.ok("post", "runs/restore", {"run_id": r1})
    assert get_run(api, r1)["info"]["lifecycle_stage"] == "active"


def test_writes_to_a_deleted_run_are_refused(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"})
    api.ok("post", "runs/delete", {"run_id": run_id})
    expected = f"The run {run_id} must be in the 'active' state. Current state is deleted."
    for path, body in (
        ("runs/log-parameter", {"key": "p", "value": "1"}),
        ("runs/set-tag", {"key": "p", "value": "1"}),
        ("runs/delete-tag", {"key": "k"}),
        ("runs/log-metric", {"key": "m", "value": 1, "timestamp": 1}),
        ("runs/log-batch", {"params": [{"key": "p", "value": "1"}]}),
        ("runs/log-inputs", {"models": [{"model_id": "m-1"}]}),
    ):
        assert api.error("post", path, {"run_id": run_id, **body}, 400, "INVALID_PARAMETER_VALUE") == expected
    api.ok("post", "runs/restore", {"run_id": run_id})
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})


def test_tags_are_mutable_and_delete_tag(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "k", "value": "1"})
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "k", "value": "2"})
    assert tags_of(get_run(api, run_id))["k"] == "2"
    api.ok("post", "runs/delete-tag", {"run_id": run_id, "key": "k"})
    assert "k" not in tags_of(get_run(api, run_id))
    api.error("post", "runs/delete-tag", {"run_id": run_id, "key": "k"}, 404, "RESOURCE_DOES_NOT_EXIST")


def test_nested_runs_are_plain_tags(api: Api) -> None:
    # BC-27: the parent link is an ordinary tag, stored and returned as given.
    parent = make_run(api)["info"]["run_id"]
    child = make_run(api, tags=[{"key": "mlflow.parentRunId", "value": parent}])
    assert tags_of(get_run(api, child["info"]["run_id"]))["mlflow.parentRunId"] == parent


def test_legacy_log_model_appends_to_the_history_tag(api: Api) -> None:
    # MLflow 2.x clients call runs/log-model; the run keeps a JSON list of logged models.
    run_id = make_run(api)["info"]["run_id"]
    first = {"run_id": run_id, "artifact_path": "model", "flavors": {"python_function": {}}}
    second = {"run_id": run_id, "artifact_path": "model2", "flavors": {}}
    api.ok("post", "runs/log-model", {"run_id": run_id, "model_json": json.dumps(first)})
    api.ok("post", "runs/log-model", {"run_id": run_id, "model_json": json.dumps(second)})
    tags = {t["key"]: t["value"] for t in get_run(api, run_id)["data"]["tags"]}
    assert json.loads(tags["mlflow.log-model.history"]) == [first, second]
    api.error(
        "post", "runs/log-model", {"run_id": run_id, "model_json": "{nope"}, 400, "INVALID_PARAMETER_VALUE"
    )
    api.error(
        "post", "runs/log-model", {"run_id": run_id, "model_json": "[1]"}, 400, "INVALID_PARAMETER_VALUE"
    )
    api.error("post", "runs/log-model", {"run_id": run_id}, 400, "INVALID_PARAMETER_VALUE")
    api.error(
        "post", "runs/log-model", {"run_id": "0" * 32, "model_json": "{}"}, 404, "RESOURCE_DOES_NOT_EXIST"
    )


def test_legacy_log_model_history_stays_within_a_tag_value(api: Api) -> None:
    run_id = make_run(api)["info"]["run_id"]
    for index in range(40):
        body = {"run_id": run_id, "artifact_path": f"m{index}", "pad": "x" * 400}
        api.ok("post", "runs/log-model", {"run_id": run_id, "model_json": json.dumps(body)})
    tags = {t["key"]: t["value"] for t in get_run(api, run_id)["data"]["tags"]}
    history = json.loads(tags["mlflow.log-model.history"])
    assert len(tags["mlflow.log-model.history"]) <= 8000
    assert history[-1]["artifact_path"] == "m39"
