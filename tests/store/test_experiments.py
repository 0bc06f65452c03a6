"""Experiment semantics, on every backend."""

from __future__ import annotations

from tests.conftest import Api


def test_default_experiment_exists(api: Api) -> None:
    experiment = api.ok("get", "experiments/get", {"experiment_id": "0"})["experiment"]
    assert experiment["name"] == "Default"
    assert experiment["lifecycle_stage"] == "active"
    assert experiment["artifact_location"] == "mlflow-artifacts:/0"


def test_create_get_and_duplicate_name(api: Api) -> None:
    created = api.ok("post", "experiments/create", {"name": "exp-a", "tags": [{"key": "t", "value": "v"}]})
    assert created == {"experiment_id": "1"}
    by_name = api.ok("get", "experiments/get-by-name", {"experiment_name": "exp-a"})["experiment"]
    assert by_name["experiment_id"] == "1"
    assert by_name["tags"] == [{"key": "t", "value": "v"}]
    api.error("post", "experiments/create", {"name": "exp-a"}, 400, "RESOURCE_ALREADY_EXISTS")


def test_deleted_experiment_keeps_its_name(api: Api) -> None:
    # BC-23: the name is a tombstone until permanent deletion.
    eid = api.ok("post", "experiments/create", {"name": "exp-a"})["experiment_id"]
    api.ok("post", "experiments/delete", {"experiment_id": eid})
    message = api.error("post", "experiments/create", {"name": "exp-a"}, 400, "RESOURCE_ALREADY_EXISTS")
    assert "deleted state" in message
    found = api.ok("get", "experiments/get-by-name", {"experiment_name": "exp-a"})["experiment"]
    assert found["lifecycle_stage"] == "deleted"
    api.ok("post", "experiments/restore", {"experiment_id": eid})
    assert (
        api.ok("get", "experiments/get", {"experiment_id": eid})["experiment"]["lifecycle_stage"] == "active"
    )


def test_restore_active_and_delete_deleted_are_not_found_as_in_mlflow(api: Api) -> None:
    # MLflow's store restores only among deleted experiments and deletes only among active
    # ones; the other case is RESOURCE_DOES_NOT_EXIST, not a silent success. (Runs differ:
    # repeating a run's delete or restore is a no-op, BC-24.)
    eid = api.ok("post", "experiments/create", {"name": "stages"})["experiment_id"]
    message = api.error("post", "experiments/restore", {"experiment_id": eid}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"No Experiment with id={eid} exists"
    api.ok("post", "experiments/delete", {"experiment_id": eid})
    message = api.error("post", "experiments/delete", {"experiment_id": eid}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"No Experiment with id={eid} exists"
    assert (
        api.ok("get", "experiments/get", {"experiment_id": eid})["experiment"]["lifecycle_stage"] == "deleted"
    )
    api.ok("post", "experiments/restore", {"experiment_id": eid})
    assert (
        api.ok("get", "experiments/get", {"experiment_id": eid})["experiment"]["lifecycle_stage"] == "active"
    )


def test_unknown_and_malformed_ids(api: Api) -> None:
    api.error("get", "experiments/get", {"experiment_id": "999"}, 404, "RESOURCE_DOES_NOT_EXIST")
    message = api.error("get", "experiments/get", {"experiment_id": "abc"}, 400, "INVALID_PARAMETER_VALUE")
    assert "valid integer" in message
    api.error("get", "experiments/get-by-name", {"experiment_name": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST")


def test_rename_and_tags(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "a"})["experiment_id"]
    api.ok("post", "experiments/update", {"experiment_id": eid, "new_name": "b"})
    api.ok("post", "experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "中文"})
    api.ok("post", "experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "v2"})
    experiment = api.ok("get", "experiments/get", {"experiment_id": eid})["experiment"]
    assert experiment["name"] == "b"
    assert experiment["tags"] == [{"key": "k", "value": "v2"}]
    api.ok("post", "experiments/delete-experiment-tag", {"experiment_id": eid, "key": "k"})
    api.error(
        "post",
        "experiments/delete-experiment-tag",
        {"experiment_id": eid, "key": "k"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_experiment_tag_value_limit(api: Api) -> None:
    # BC-20: experiment tag values are limited to 5000 characters.
    eid = api.ok("post", "experiments/create", {"name": "a"})["experiment_id"]
    api.ok("post", "experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "x" * 5000})
    message = api.error(
        "post",
        "experiments/set-experiment-tag",
        {"experiment_id": eid, "key": "k", "value": "x" * 5001},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "exceeded length limit of 5000" in message


def test_artifact_location_must_be_under_a_root(api: Api) -> None:
    for location in (
        "file:///etc",
        "http://169.254.169.254/latest",
        "/tmp/elsewhere",
        "mlflow-artifacts:/../../etc",
        "mlflow-artifacts:/a/%2e%2e/%2e%2e/etc",
        "mlflow-artifacts:/a\\..\\..",
    ):
        api.error(
            "post",
            "experiments/create",
            {"name": "bad", "artifact_location": location},
            400,
            "INVALID_PARAMETER_VALUE",
        )
    api.ok("post", "experiments/create", {"name": "ok", "artifact_location": "mlflow-artifacts:/custom"})


def test_nul_characters_are_refused_everywhere(api: Api) -> None:
    # PostgreSQL cannot store NUL; every backend refuses it with the same 400, never a 500.
    api.error("post", "experiments/create", {"name": "a\x00b"}, 400, "INVALID_PARAMETER_VALUE")
    eid = api.ok("post", "experiments/create", {"name": "clean"})["experiment_id"]
    api.error(
        "post",
        "experiments/set-experiment-tag",
        {"experiment_id": eid, "key": "k", "value": "v\x00"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    run_id = api.ok("post", "runs/create", {"experiment_id": eid, "start_time": 1})["run"]["info"]["run_id"]
    api.error(
        "post",
        "runs/log-parameter",
        {"run_id": run_id, "key": "p", "value": "x\x00"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    api.error(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "tags": [{"key": "t", "value": "\x00"}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    api.error("post", "runs/update", {"run_id": run_id, "run_name": "n\x00"}, 400, "INVALID_PARAMETER_VALUE")
    api.error(
        "post",
        "runs/search",
        {"experiment_ids": [eid], "filter": "params.p = '\x00'"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    run = api.ok("get", "runs/get", {"run_id": run_id})["run"]
    assert "params" not in run["data"]
