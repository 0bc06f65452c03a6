"""Registered models over the REST API, on every backend: create, get, rename, update,
delete, tags (BC-20, BC-22), names (BC-37) and latest versions (BC-35)."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.store.registry_support import (
    call,
    create_model,
    create_version,
    fails,
    get_model,
    get_version,
    ok,
    transition,
)


def test_create_returns_the_model_in_wire_shape(api: Api) -> None:
    model = create_model(api, "iris-rf")
    assert set(model) == {"name", "creation_timestamp", "last_updated_timestamp"}
    assert model["name"] == "iris-rf"
    assert isinstance(model["creation_timestamp"], int)
    assert model["last_updated_timestamp"] == model["creation_timestamp"]
    assert get_model(api, "iris-rf") == model


def test_create_with_tags_and_description(api: Api) -> None:
    tags = [{"key": "team", "value": "vision"}, {"key": "a", "value": ""}]
    create_model(api, "m", tags=tags, description="first model")
    model = get_model(api, "m")
    assert model["description"] == "first model"
    assert model["tags"] == [{"key": "a", "value": ""}, {"key": "team", "value": "vision"}]


def test_duplicate_name_is_resource_already_exists_with_status_400(api: Api) -> None:
    create_model(api, "m")
    message = fails(api, "POST", "registered-models/create", {"name": "m"}, 400, "RESOURCE_ALREADY_EXISTS")
    assert message == "Registered Model (name=m) already exists."


def test_get_of_a_missing_model_is_404(api: Api) -> None:
    message = fails(api, "GET", "registered-models/get", {"name": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == "Registered Model with name=nope not found"


@pytest.mark.parametrize(
    "name", ["team/model", "model:v1", "m%6fdel", "", "   ", "x" * 257, "..", "..hidden"]
)
def test_names_with_reserved_characters_or_bad_lengths_are_rejected(api: Api, name: str) -> None:
    fails(api, "POST", "registered-models/create", {"name": name}, 400, "INVALID_PARAMETER_VALUE")
    assert call(api, "GET", "registered-models/search", {}).json() == {}


def test_names_with_spaces_quotes_and_unicode_round_trip(api: Api) -> None:
    names = ["it's model", "my model 2", 'say "hi"', "mödel-ü", "x" * 256]
    for name in names:
        create_model(api, name)
    for name in names:
        assert get_model(api, name)["name"] == name


def test_missing_name_is_a_missing_parameter(api: Api) -> None:
    message = fails(api, "POST", "registered-models/create", {}, 400, "INVALID_PARAMETER_VALUE")
    assert message == "Missing value for required parameter 'name'."


def test_rename_moves_versions_and_frees_the_old_name(api: Api) -> None:
    created = create_model(api, "old")
    create_version(api, "old")
    renamed = ok(api, "POST", "registered-models/rename", {"name": "old", "new_name": "new"})[
        "registered_model"
    ]
    assert renamed["name"] == "new"
    assert renamed["creation_timestamp"] == created["creation_timestamp"]
    assert renamed["last_updated_timestamp"] >= created["last_updated_timestamp"]
    assert renamed["latest_versions"][0]["name"] == "new"
    assert get_version(api, "new", "1")["name"] == "new"
    fails(api, "GET", "registered-models/get", {"name": "old"}, 404, "RESOURCE_DOES_NOT_EXIST")
    fails(api, "GET", "model-versions/get", {"name": "old", "version": "1"}, 404, "RESOURCE_DOES_NOT_EXIST")
    create_model(api, "old")  # the old name is free again


def test_rename_errors(api: Api) -> None:
    create_model(api, "a")
    create_model(api, "b")
    fails(
        api,
        "POST",
        "registered-models/rename",
        {"name": "a", "new_name": "b"},
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    fails(
        api,
        "POST",
        "registered-models/rename",
        {"name": "a", "new_name": "x/y"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    fails(api, "POST", "registered-models/rename", {"name": "a"}, 400, "INVALID_PARAMETER_VALUE")
    fails(
        api,
        "POST",
        "registered-models/rename",
        {"name": "zz", "new_name": "c"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert get_model(api, "a")["name"] == "a"


def test_update_sets_the_description(api: Api) -> None:
    created = create_model(api, "m")
    updated = ok(api, "PATCH", "registered-models/update", {"name": "m", "description": "new text"})
    model = updated["registered_model"]
    assert model["description"] == "new text"
    assert model["last_updated_timestamp"] >= created["last_updated_timestamp"]
    assert get_model(api, "m")["description"] == "new text"
    fails(
        api,
        "PATCH",
        "registered-models/update",
        {"name": "nope", "description": "x"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_delete_removes_the_model_with_its_versions(api: Api) -> None:
    """BC-37: deleting a model deletes its versions; a second delete is not found."""
    create_model(api, "m", tags=[{"key": "k", "value": "v"}])
    create_version(api, "m", tags=[{"key": "t", "value": "1"}])
    create_version(api, "m")
    ok(api, "POST", "registered-models/alias", {"name": "m", "alias": "champ", "version": "1"})
    assert ok(api, "DELETE", "registered-models/delete", {"name": "m"}) == {}
    fails(api, "GET", "registered-models/get", {"name": "m"}, 404, "RESOURCE_DOES_NOT_EXIST")
    fails(api, "GET", "model-versions/get", {"name": "m", "version": "1"}, 404, "RESOURCE_DOES_NOT_EXIST")
    fails(api, "DELETE", "registered-models/delete", {"name": "m"}, 404, "RESOURCE_DOES_NOT_EXIST")
    # A model of the same name starts afresh: no tags, no aliases, versions from 1.
    create_model(api, "m")
    assert create_version(api, "m")["version"] == "1"
    assert set(get_model(api, "m")) == {
        "name",
        "creation_timestamp",
        "last_updated_timestamp",
        "latest_versions",
    }


def test_set_and_delete_tags(api: Api) -> None:
    create_model(api, "m")
    ok(api, "POST", "registered-models/set-tag", {"name": "m", "key": "k", "value": "1"})
    ok(api, "POST", "registered-models/set-tag", {"name": "m", "key": "k", "value": "2"})
    ok(api, "POST", "registered-models/set-tag", {"name": "m", "key": "K", "value": "3"})
    assert get_model(api, "m")["tags"] == [{"key": "K", "value": "3"}, {"key": "k", "value": "2"}]
    ok(api, "DELETE", "registered-models/delete-tag", {"name": "m", "key": "k"})
    assert get_model(api, "m")["tags"] == [{"key": "K", "value": "3"}]
    # Deleting a tag the model does not have is not an error (MLflow's registry store).
    ok(api, "DELETE", "registered-models/delete-tag", {"name": "m", "key": "absent"})
    fails(
        api,
        "POST",
        "registered-models/set-tag",
        {"name": "x", "key": "k", "value": "v"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    fails(
        api,
        "DELETE",
        "registered-models/delete-tag",
        {"name": "x", "key": "k"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    fails(api, "POST", "registered-models/set-tag", {"name": "m", "key": "k"}, 400, "INVALID_PARAMETER_VALUE")


def test_registry_tag_value_and_key_limits(api: Api) -> None:
    """BC-20: registry tag values up to 5000 characters, keys up to 250, on every write path."""
    create_model(api, "m")
    create_version(api, "m")
    for path, body in (
        ("registered-models/set-tag", {"name": "m"}),
        ("model-versions/set-tag", {"name": "m", "version": "1"}),
    ):
        ok(api, "POST", path, {**body, "key": "ok", "value": "v" * 4999})
        ok(api, "POST", path, {**body, "key": "edge", "value": "v" * 5000})
        message = fails(
            api, "POST", path, {**body, "key": "long", "value": "v" * 5001}, 400, "INVALID_PARAMETER_VALUE"
        )
        assert "had length 5001, which exceeded length limit of 5000" in message
        fails(api, "POST", path, {**body, "key": "k" * 251, "value": "v"}, 400, "INVALID_PARAMETER_VALUE")
    long_tag = [{"key": "long", "value": "v" * 5001}]
    fails(
        api,
        "POST",
        "registered-models/create",
        {"name": "n", "tags": long_tag},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    fails(
        api,
        "POST",
        "model-versions/create",
        {"name": "m", "source": "mlflow-artifacts:/0/x", "tags": long_tag},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    fails(api, "GET", "registered-models/get", {"name": "n"}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert create_version(api, "m")["version"] == "2"  # the refused create used no number


def test_non_ascii_tag_values_round_trip_and_count_characters(api: Api) -> None:
    """BC-22: UTF-8 text comes back exactly; the limit counts characters, not bytes."""
    create_model(api, "menu-model")
    ok(api, "POST", "registered-models/set-tag", {"name": "menu-model", "key": "name", "value": "中文菜单"})
    ok(
        api,
        "POST",
        "registered-models/set-tag",
        {"name": "menu-model", "key": "note", "value": "naïve – café"},
    )
    ok(api, "POST", "registered-models/set-tag", {"name": "menu-model", "key": "wide", "value": "中" * 5000})
    tags = {t["key"]: t["value"] for t in get_model(api, "menu-model")["tags"]}
    assert tags == {"name": "中文菜单", "note": "naïve – café", "wide": "中" * 5000}


def test_latest_versions_per_stage(api: Api) -> None:
    """BC-35: the highest version in each stage; stage names are case-insensitive."""
    create_model(api, "m")
    for _ in range(4):
        create_version(api, "m")
    transition(api, "m", "2", "Production")
    transition(api, "m", "3", "Production")
    transition(api, "m", "4", "Staging")

    def latest(method: str, stages: list[str] | None) -> dict[str, str]:
        body: dict[str, object] = {"name": "m"}
        if stages is not None:
            body["stages"] = stages
        found = ok(api, method, "registered-models/get-latest-versions", body).get("model_versions", [])
        return {v["current_stage"]: v["version"] for v in found}

    everything = {"None": "1", "Production": "3", "Staging": "4"}
    for method in ("POST", "GET"):
        assert latest(method, None) == everything
        assert latest(method, ["production"]) == {"Production": "3"}
        assert latest(method, ["None", "Production"]) == {"None": "1", "Production": "3"}
    assert latest("POST", []) == everything
    assert latest("POST", ["Archived"]) == {}
    listed = [(v["version"], v["current_stage"]) for v in get_model(api, "m")["latest_versions"]]
    assert listed == [("1", "None"), ("3", "Production"), ("4", "Staging")]

    ok(api, "DELETE", "model-versions/delete", {"name": "m", "version": "3"})
    assert latest("POST", None) == {"None": "1", "Production": "2", "Staging": "4"}

    ok(api, "POST", "registered-models/alias", {"name": "m", "alias": "champ", "version": "1"})
    assert get_version(api, "m", "1")["aliases"] == ["champ"]
    # As in MLflow, latest_versions entries carry no aliases; the model lists them instead.
    model = get_model(api, "m")
    assert all("aliases" not in v for v in model["latest_versions"])
    assert model["aliases"] == [{"alias": "champ", "version": "1"}]
    fails(
        api,
        "POST",
        "registered-models/get-latest-versions",
        {"name": "m", "stages": ["bogus"]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    fails(
        api, "POST", "registered-models/get-latest-versions", {"name": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST"
    )


def test_model_timestamps_follow_version_changes(api: Api) -> None:
    created = create_model(api, "m")
    version = create_version(api, "m")
    after_create = get_model(api, "m")["last_updated_timestamp"]
    assert after_create == version["creation_timestamp"] >= created["creation_timestamp"]
    # Editing a version's description or tags leaves the model's timestamp alone (as captured).
    ok(api, "PATCH", "model-versions/update", {"name": "m", "version": "1", "description": "d"})
    ok(api, "POST", "model-versions/set-tag", {"name": "m", "version": "1", "key": "k", "value": "v"})
    assert get_model(api, "m")["last_updated_timestamp"] == after_create
