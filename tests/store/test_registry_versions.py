"""Model versions over the REST API, on every backend: create from logged models and runs,
update, stage transitions (BC-34), delete, tags, aliases and the files behind a version."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.store.registry_support import (
    SOURCE,
    create_model,
    create_version,
    fails,
    get_model,
    get_version,
    make_run,
    ok,
    transition,
)


def test_create_numbers_versions_and_is_ready_at_once(api: Api) -> None:
    create_model(api, "m")
    first = create_version(api, "m")
    assert first == {
        "name": "m",
        "version": "1",
        "creation_timestamp": first["creation_timestamp"],
        "last_updated_timestamp": first["creation_timestamp"],
        "current_stage": "None",
        "description": "",
        "source": SOURCE,
        "status": "READY",
        "run_link": "",
    }
    second = create_version(
        api, "m", description="d", run_link="http://x/r", tags=[{"key": "k", "value": "v"}]
    )
    assert second["version"] == "2"
    assert second["description"] == "d"
    assert second["run_link"] == "http://x/r"
    assert second["tags"] == [{"key": "k", "value": "v"}]
    assert get_version(api, "m", "2") == second
    assert get_version(api, "m", 2) == second  # type: ignore[arg-type]


def test_create_errors(api: Api) -> None:
    fails(
        api,
        "POST",
        "model-versions/create",
        {"name": "nope", "source": SOURCE},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    create_model(api, "m")
    message = fails(api, "POST", "model-versions/create", {"name": "m"}, 400, "INVALID_PARAMETER_VALUE")
    assert message == "Missing value for required parameter 'source'."
    fails(api, "POST", "model-versions/create", {"name": "m", "source": 5}, 400, "INVALID_PARAMETER_VALUE")


def _logged_model(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    run = make_run(api)
    model = api.ok(
        "post", "logged-models", {"experiment_id": "0", "name": "model", "source_run_id": run["run_id"]}
    )
    return run, model["model"]["info"]


def test_logged_model_source_resolves_storage_and_backfills_the_run(api: Api) -> None:
    run, info = _logged_model(api)
    create_model(api, "iris-rf")
    source = f"models:/{info['model_id']}"
    version = create_version(api, "iris-rf", source, model_id=info["model_id"])
    assert version["source"] == source
    assert version["run_id"] == run["run_id"]
    assert "model_id" not in version  # 3.18 does not echo it
    uri = ok(api, "GET", "model-versions/get-download-uri", {"name": "iris-rf", "version": "1"})
    assert uri == {"artifact_uri": info["artifact_uri"]}
    # An explicit run_id wins over the model's source run.
    other = make_run(api)
    assert create_version(api, "iris-rf", source, run_id=other["run_id"])["run_id"] == other["run_id"]


def test_unknown_logged_model_source_registers_nothing(api: Api) -> None:
    create_model(api, "m")
    fails(
        api,
        "POST",
        "model-versions/create",
        {"name": "m", "source": "models:/m-00000000000000000000000000000000"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    fails(
        api,
        "POST",
        "model-versions/create",
        {"name": "m", "source": "models:/a/b"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "latest_versions" not in get_model(api, "m")
    assert create_version(api, "m")["version"] == "1"


def test_runs_source_points_into_the_run(api: Api) -> None:
    run = make_run(api)
    create_model(api, "m")
    version = create_version(api, "m", f"runs:/{run['run_id']}/model")
    assert version["run_id"] == run["run_id"]
    assert version["source"] == f"runs:/{run['run_id']}/model"
    uri = ok(api, "GET", "model-versions/get-download-uri", {"name": "m", "version": "1"})["artifact_uri"]
    assert uri == f"{run['artifact_uri']}/model"
    fails(
        api,
        "POST",
        "model-versions/create",
        {"name": "m", "source": "runs:/0123456789abcdef0123456789abcdef/model"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    message = fails(
        api,
        "POST",
        "model-versions/create",
        {"name": "m", "source": f"runs:/{run['run_id']}/../x"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert message.startswith("Invalid model version source")


def test_update_changes_only_the_description_and_timestamp(api: Api) -> None:
    create_model(api, "m")
    created = create_version(api, "m", description="old")
    updated = ok(api, "PATCH", "model-versions/update", {"name": "m", "version": "1", "description": "hello"})
    version = updated["model_version"]
    assert version["description"] == "hello"
    assert version["last_updated_timestamp"] >= created["last_updated_timestamp"]
    assert {k: v for k, v in version.items() if k not in ("description", "last_updated_timestamp")} == {
        k: v for k, v in created.items() if k not in ("description", "last_updated_timestamp")
    }
    fails(
        api,
        "PATCH",
        "model-versions/update",
        {"name": "m", "version": "9", "description": "x"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


@pytest.mark.parametrize("version", ["abc", "0", "-1", "1.5", "99999999999999999999"])
def test_bad_version_numbers_are_invalid(api: Api, version: str) -> None:
    create_model(api, "m")
    fails(api, "GET", "model-versions/get", {"name": "m", "version": version}, 400, "INVALID_PARAMETER_VALUE")


def test_missing_version_message(api: Api) -> None:
    create_model(api, "probe-m")
    message = fails(
        api, "GET", "model-versions/get", {"name": "probe-m", "version": "9"}, 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert message == "Model Version (name=probe-m, version=9) not found"


def test_stage_transitions_with_archive_existing_versions(api: Api) -> None:
    """BC-34: stages are case-insensitive and stored canonically; archiving is atomic."""
    create_model(api, "m")
    for _ in range(3):
        create_version(api, "m")
    transition(api, "m", "1", "Staging")
    transition(api, "m", "2", "Production")

    moved = transition(api, "m", "3", "staging", archive=True)
    assert moved["current_stage"] == "Staging"
    v1 = get_version(api, "m", "1")
    assert v1["current_stage"] == "Archived"
    assert v1["last_updated_timestamp"] == moved["last_updated_timestamp"]
    assert get_version(api, "m", "2")["current_stage"] == "Production"

    moved = transition(api, "m", "3", "Production", archive=True)
    assert moved["current_stage"] == "Production"
    assert get_version(api, "m", "2")["current_stage"] == "Archived"
    assert get_model(api, "m")["last_updated_timestamp"] == moved["last_updated_timestamp"]

    for target in ("Archived", "None"):
        body = {"name": "m", "version": "1", "stage": target, "archive_existing_versions": True}
        fails(api, "POST", "model-versions/transition-stage", body, 400, "INVALID_PARAMETER_VALUE")
    body = {"name": "m", "version": "1", "stage": "unknown", "archive_existing_versions": False}
    message = fails(api, "POST", "model-versions/transition-stage", body, 400, "INVALID_PARAMETER_VALUE")
    assert "None, Staging, Production, Archived" in message
    del body["archive_existing_versions"]
    body["stage"] = "Staging"
    fails(api, "POST", "model-versions/transition-stage", body, 400, "INVALID_PARAMETER_VALUE")
    assert get_version(api, "m", "1")["current_stage"] == "Archived"

    # Without archiving several versions share a stage.
    transition(api, "m", "1", "PRODUCTION")
    stages = [get_version(api, "m", v)["current_stage"] for v in ("1", "2", "3")]
    assert stages == ["Production", "Archived", "Production"]
    transition(api, "m", "1", "none")
    assert get_version(api, "m", "1")["current_stage"] == "None"


def test_delete_version_keeps_numbers_and_drops_aliases(api: Api) -> None:
    create_model(api, "m")
    for _ in range(3):
        create_version(api, "m")
    ok(api, "POST", "registered-models/alias", {"name": "m", "alias": "champ", "version": "3"})
    ok(api, "POST", "registered-models/alias", {"name": "m", "alias": "keep", "version": "1"})
    before = get_model(api, "m")["last_updated_timestamp"]
    assert ok(api, "DELETE", "model-versions/delete", {"name": "m", "version": "3"}) == {}
    fails(api, "GET", "model-versions/get", {"name": "m", "version": "3"}, 404, "RESOURCE_DOES_NOT_EXIST")
    fails(
        api, "DELETE", "model-versions/delete", {"name": "m", "version": "3"}, 404, "RESOURCE_DOES_NOT_EXIST"
    )
    message = fails(
        api, "GET", "registered-models/alias", {"name": "m", "alias": "champ"}, 400, "INVALID_PARAMETER_VALUE"
    )
    assert message == "Registered model alias champ not found."
    model = get_model(api, "m")
    assert model["aliases"] == [{"alias": "keep", "version": "1"}]
    assert model["last_updated_timestamp"] >= before
    assert create_version(api, "m")["version"] == "4"  # numbers are never reused


def test_version_tags(api: Api) -> None:
    create_model(api, "m")
    create_version(api, "m")
    body = {"name": "m", "version": "1"}
    ok(api, "POST", "model-versions/set-tag", {**body, "key": "b", "value": "1"})
    ok(api, "POST", "model-versions/set-tag", {**body, "key": "a", "value": "2"})
    ok(api, "POST", "model-versions/set-tag", {**body, "key": "b", "value": "3"})
    assert get_version(api, "m", "1")["tags"] == [{"key": "a", "value": "2"}, {"key": "b", "value": "3"}]
    ok(api, "DELETE", "model-versions/delete-tag", {**body, "key": "a"})
    ok(api, "DELETE", "model-versions/delete-tag", {**body, "key": "absent"})
    assert get_version(api, "m", "1")["tags"] == [{"key": "b", "value": "3"}]
    fails(
        api,
        "POST",
        "model-versions/set-tag",
        {"name": "m", "version": "5", "key": "k", "value": "v"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    fails(
        api,
        "POST",
        "model-versions/set-tag",
        {**body, "key": "bad$key", "value": "v"},
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_aliases_set_move_get_and_delete(api: Api) -> None:
    create_model(api, "m")
    create_version(api, "m")
    create_version(api, "m")
    ok(api, "POST", "registered-models/alias", {"name": "m", "alias": "champion", "version": "1"})
    found = ok(api, "GET", "registered-models/alias", {"name": "m", "alias": "champion"})["model_version"]
    assert found["version"] == "1"
    assert found["aliases"] == ["champion"]
    ok(api, "POST", "registered-models/alias", {"name": "m", "alias": "champion", "version": 2})
    ok(api, "POST", "registered-models/alias", {"name": "m", "alias": "b-2_x", "version": "2"})
    assert get_version(api, "m", "2")["aliases"] == ["b-2_x", "champion"]
    assert "aliases" not in get_version(api, "m", "1")
    assert get_model(api, "m")["aliases"] == [
        {"alias": "b-2_x", "version": "2"},
        {"alias": "champion", "version": "2"},
    ]
    assert ok(api, "DELETE", "registered-models/alias", {"name": "m", "alias": "champion"}) == {}
    ok(api, "DELETE", "registered-models/alias", {"name": "m", "alias": "champion"})  # idempotent
    fails(
        api,
        "GET",
        "registered-models/alias",
        {"name": "m", "alias": "champion"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    fails(
        api,
        "POST",
        "registered-models/alias",
        {"name": "m", "alias": "x", "version": "7"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    fails(
        api,
        "POST",
        "registered-models/alias",
        {"name": "zz", "alias": "x", "version": "1"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    fails(api, "GET", "registered-models/alias", {"name": "zz", "alias": "x"}, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("latest", "'latest' alias name (case insensitive) is reserved."),
        ("LaTeSt", "'latest' alias name (case insensitive) is reserved."),
        ("v1", "Version alias name 'v1' is reserved."),
        ("V12", "Version alias name 'V12' is reserved."),
        ("", "Registered model alias name cannot be empty."),
        ("a.b", None),
        ("a/b", None),
        ("has space", None),
        ("a" * 256, None),
    ],
)
def test_reserved_and_malformed_aliases_are_rejected(api: Api, alias: str, message: str | None) -> None:
    create_model(api, "m")
    create_version(api, "m")
    got = fails(
        api,
        "POST",
        "registered-models/alias",
        {"name": "m", "alias": alias, "version": "1"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    if message is not None:
        assert got == message
    assert "aliases" not in get_model(api, "m")


def test_alias_history_answers_which_version_held_an_alias(api: Api) -> None:
    services = api.client.app.state.services  # type: ignore[attr-defined]
    create_model(api, "m")
    for _ in range(3):
        create_version(api, "m")

    def set_alias(version: str) -> None:
        ok(api, "POST", "registered-models/alias", {"name": "m", "alias": "prod", "version": version})

    def history() -> list[tuple[int, int, int | None]]:
        import sqlalchemy as sa

        from ledgerflow.store.schema import registered_model_alias_history as table

        with services.db.read() as conn:
            rows = conn.execute(sa.select(table).order_by(table.c.id))
            return [(r.version, r.set_at, r.unset_at) for r in rows]

    set_alias("1")
    set_alias("1")  # no change, no new entry
    set_alias("2")
    ok(api, "POST", "registered-models/rename", {"name": "m", "new_name": "m2"})
    ok(api, "DELETE", "model-versions/delete", {"name": "m2", "version": "2"})
    rows = history()
    assert [r[0] for r in rows] == [1, 2, 2]
    assert all(r[2] is not None for r in rows)  # moved, renamed away, then dropped with its version
    first, second, renamed = rows
    assert first[2] == second[1]  # the move closes one interval as it opens the next
    aliases = services.registry.aliases
    assert aliases.version_at("m", "prod", first[1]) == 1
    assert aliases.version_at("m", "prod", second[1]) == 2
    assert aliases.version_at("m2", "prod", renamed[1]) == 2
    assert aliases.version_at("m2", "prod", renamed[2]) is None
    assert aliases.version_at("m", "prod", first[1] - 1) is None


def test_get_artifact_serves_files_of_a_version(api: Api) -> None:
    client = api.client
    put = client.put(
        "/api/2.0/mlflow-artifacts/artifacts/0/models/m-1/artifacts/MLmodel", content=b"flavors: {}\n"
    )
    assert put.status_code == 200, put.text
    create_model(api, "m")
    create_version(api, "m", "mlflow-artifacts:/0/models/m-1/artifacts")
    response = client.get(
        "/model-versions/get-artifact", params={"name": "m", "version": "1", "path": "MLmodel"}
    )
    assert response.status_code == 200, response.text
    assert response.content == b"flavors: {}\n"
    ajax = client.get(
        "/ajax-api/2.0/mlflow/model-versions/get-artifact",
        params={"name": "m", "version": "1", "path": "MLmodel"},
    )
    assert ajax.content == b"flavors: {}\n"
    for path, status in (("../../../etc/passwd", 400), ("%2e%2e/x", 400), ("missing", 404), ("", 400)):
        bad = client.get("/model-versions/get-artifact", params={"name": "m", "version": "1", "path": path})
        assert bad.status_code == status, (path, bad.text)
        assert "error_code" in bad.json()
    missing = client.get(
        "/model-versions/get-artifact", params={"name": "m", "version": "5", "path": "MLmodel"}
    )
    assert missing.status_code == 404
