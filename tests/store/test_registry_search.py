"""registered-models/search and model-versions/search on every backend: the grammar,
case sensitivity (BC-08), the registry's tag '!=' rule, ordering, caps and paging (BC-29)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Api
from tests.store.registry_support import create_model, create_version, fails, make_run, ok


def search_models(api: Api, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = ok(api, "GET", "registered-models/search", params)
    return result


def search_versions(api: Api, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = ok(api, "GET", "model-versions/search", params)
    return result


def model_names(api: Api, filter_string: str, **params: Any) -> list[str]:
    found = search_models(api, filter=filter_string, **params).get("registered_models", [])
    return [m["name"] for m in found]


def version_ids(api: Api, filter_string: str, **params: Any) -> list[tuple[str, str]]:
    found = search_versions(api, filter=filter_string, **params).get("model_versions", [])
    return [(v["name"], v["version"]) for v in found]


def test_model_filters_on_name(api: Api) -> None:
    for name in ("alpha", "Alpha2", "beta", "gamma_1", "gammaX1"):
        create_model(api, name)
    assert model_names(api, "name = 'alpha'") == ["alpha"]
    assert model_names(api, "name != 'alpha'") == ["Alpha2", "beta", "gammaX1", "gamma_1"]
    assert model_names(api, "name LIKE 'alpha%'") == ["alpha"]
    assert model_names(api, "name ILIKE 'alpha%'") == ["Alpha2", "alpha"]
    assert model_names(api, "name LIKE 'gamma\\_%'") == ["gamma_1"]
    assert model_names(api, "name IN ('beta', 'alpha', 'nope')") == ["alpha", "beta"]
    assert model_names(api, "attributes.name = 'beta'") == ["beta"]
    assert model_names(api, "name LIKE 'gamma_1'") == ["gammaX1", "gamma_1"]
    assert model_names(api, "") == ["Alpha2", "alpha", "beta", "gammaX1", "gamma_1"]


def test_tag_not_equal_matches_models_without_the_tag(api: Api) -> None:
    """Unlike runs: the client's default prompt filter must return tag-less models."""
    create_model(api, "plain")
    create_model(api, "tagged", tags=[{"key": "stage", "value": "dev"}])
    create_model(api, "other", tags=[{"key": "stage", "value": "prod"}])
    create_model(api, "a-prompt", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    assert model_names(api, "tags.stage != 'dev'") == ["other", "plain"]
    assert model_names(api, "tag.stage = 'dev'") == ["tagged"]
    assert model_names(api, "tags.`stage` LIKE 'p%'") == ["other"]
    # The filter MlflowClient.search_registered_models() sends, and no filter: prompts hidden.
    default = "tag.`mlflow.prompt.is_prompt` != 'true'"
    assert model_names(api, default, max_results=100) == ["other", "plain", "tagged"]
    assert model_names(api, "") == ["other", "plain", "tagged"]
    assert model_names(api, "tags.`mlflow.prompt.is_prompt` = 'true'") == ["a-prompt"]


@pytest.mark.parametrize("entity", ["models", "versions"])
def test_tag_comparisons_are_case_sensitive(api: Api, entity: str) -> None:
    """BC-08 on registered models and model versions alike."""
    create_model(api, "m")
    for index, value in enumerate(("xyz", "xy")):
        tags = [{"key": "t2", "value": value}]
        if entity == "models":
            create_model(api, f"m{index}", tags=tags)
        else:
            create_version(api, "m", tags=tags)

    def found(filter_string: str) -> list[str]:
        if entity == "models":
            return [n for n in model_names(api, filter_string) if n != "m"]
        return [v for _n, v in version_ids(api, filter_string)]

    first = "m0" if entity == "models" else "1"
    assert found("tags.t2 = 'XYZ'") == []
    assert found("tags.t2 LIKE 'xY%'") == []
    assert found("tags.t2 ILIKE 'xYZ%'") == [first]
    # 'xy' matches 'xY%' too once case is ignored ('%' also matches nothing).
    assert sorted(found("tags.t2 ILIKE 'xY%'")) == sorted([first, "m1" if entity == "models" else "2"])
    assert found("tags.T2 = 'xyz'") == []
    assert found("tags.t2 = 'xyz'") == [first]
    assert found("tags.t2 != 'xy'") == [first]


def test_name_comparisons_are_case_sensitive(api: Api) -> None:
    create_model(api, "Model")
    create_model(api, "model")
    create_version(api, "Model")
    assert model_names(api, "name = 'model'") == ["model"]
    assert model_names(api, "name LIKE 'mod%'") == ["model"]
    assert version_ids(api, "name = 'model'") == []
    assert version_ids(api, "name = 'Model'") == [("Model", "1")]


def test_version_filters(api: Api) -> None:
    run_a, run_b = make_run(api), make_run(api)
    create_model(api, "m")
    create_model(api, "n")
    create_version(api, "m", f"runs:/{run_a['run_id']}/model")
    create_version(api, "m", "mlflow-artifacts:/0/special/model", tags=[{"key": "k", "value": "v"}])
    create_version(api, "n", f"runs:/{run_b['run_id']}/model")
    assert version_ids(api, "name = 'm'") == [("m", "2"), ("m", "1")]
    assert version_ids(api, "name IN ('n')") == [("n", "1")]
    assert version_ids(api, "name NOT IN ('n')") == [("m", "2"), ("m", "1")]
    assert version_ids(api, f"run_id = '{run_a['run_id']}'") == [("m", "1")]
    ids = f"('{run_a['run_id']}', '{run_b['run_id']}')"
    assert sorted(version_ids(api, f"run_id IN {ids}")) == [("m", "1"), ("n", "1")]
    assert version_ids(api, "source_path LIKE '%special%'") == [("m", "2")]
    assert version_ids(api, "source_path = 'mlflow-artifacts:/0/special/model'") == [("m", "2")]
    assert version_ids(api, "name = 'm' AND version_number > 1") == [("m", "2")]
    assert version_ids(api, "version_number = 1", order_by=["name ASC"]) == [("m", "1"), ("n", "1")]
    assert version_ids(api, "tags.k = 'v'") == [("m", "2")]
    assert version_ids(api, "name = 'm' AND tags.k != 'v'") == [("m", "1")]
    assert version_ids(api, "run_id = 'abc'") == []
    assert search_versions(api, filter="run_id = 'abc'") == {}


@pytest.mark.parametrize(
    ("path", "filter_string"),
    [
        ("registered-models/search", "name = 'a' OR name = 'b'"),
        ("registered-models/search", "creation_timestamp > 5"),
        ("registered-models/search", "tags.k IN ('a')"),
        ("registered-models/search", "nope = 'x'"),
        ("registered-models/search", "name = alpha"),
        ("registered-models/search", "params.x = 'a'"),
        ("model-versions/search", "version_number = 'one'"),
        ("model-versions/search", "source_path IN ('a')"),
        ("model-versions/search", "status = 'READY'"),
        ("model-versions/search", "tags.k IS NULL"),
        ("model-versions/search", "name = 'm' or name = 'n'"),
    ],
)
def test_bad_filters_are_invalid_parameter(api: Api, path: str, filter_string: str) -> None:
    fails(api, "GET", path, {"filter": filter_string}, 400, "INVALID_PARAMETER_VALUE")


def test_model_ordering(api: Api) -> None:
    for name in ("b", "a", "c"):
        create_model(api, name)
    ok(api, "PATCH", "registered-models/update", {"name": "a", "description": "touch"})
    assert model_names(api, "", order_by=["name DESC"]) == ["c", "b", "a"]
    assert model_names(api, "", order_by=["creation_timestamp ASC"]) in (["b", "a", "c"], ["a", "b", "c"])
    assert model_names(api, "", order_by=["last_updated_timestamp DESC"])[0] == "a"
    for bad in (["nope"], ["name SIDEWAYS"], ["tags.k"], ["name", "name DESC"]):
        fails(api, "GET", "registered-models/search", {"order_by": bad}, 400, "INVALID_PARAMETER_VALUE")


def test_models_tie_break_on_name_under_any_order(api: Api) -> None:
    for name in ("RM2", "RM0", "RM1"):
        create_model(api, name)
    services = api.client.app.state.services  # type: ignore[attr-defined]
    from ledgerflow.store.schema import registered_models

    with services.db.write() as conn:  # the same timestamps everywhere: only name decides
        conn.execute(sa.update(registered_models).values(creation_time=1, last_updated_time=1))
    assert model_names(api, "", order_by=["last_updated_timestamp DESC"]) == ["RM0", "RM1", "RM2"]
    assert model_names(api, "", order_by=["creation_timestamp ASC"]) == ["RM0", "RM1", "RM2"]


def test_model_pages_join_without_gaps_or_duplicates(api: Api) -> None:
    """BC-29: 50 models in pages of 5, 10, 20 and 100, name ASC by default."""
    names = [f"RM{i:03d}" for i in range(50)]
    for name in reversed(names):
        create_model(api, name)
    create_model(api, "other")
    for size in (5, 10, 20, 100):
        seen: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"filter": "name LIKE 'RM%'", "max_results": size}
            if token:
                params["page_token"] = token
            result = search_models(api, **params)
            seen.extend(m["name"] for m in result.get("registered_models", []))
            pages += 1
            token = result.get("next_page_token")
            if not token:
                break
        assert seen == names
        assert pages == -(-50 // size)  # no empty trailing page
    first = search_models(api, filter="name LIKE 'RM%'", max_results=20)
    second = search_models(api, filter="name LIKE 'RM%'", max_results=20, page_token=first["next_page_token"])
    assert [m["name"] for m in second["registered_models"]] == names[20:40]


def test_version_pages_join_without_gaps_or_duplicates(api: Api) -> None:
    create_model(api, "m")
    for _ in range(3):
        create_version(api, "m")
    for size in (1, 2, 1000):
        seen: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"filter": "name='m'", "max_results": size}
            if token:
                params["page_token"] = token
            result = search_versions(api, **params)
            page = result.get("model_versions", [])
            seen.extend(v["version"] for v in page)
            token = result.get("next_page_token")
            if not token:
                break
            assert page, "a token is issued only while rows remain"
        assert sorted(seen) == ["1", "2", "3"]
        assert len(seen) == 3


def test_versions_default_to_last_updated_desc(api: Api) -> None:
    create_model(api, "m")
    for _ in range(3):
        create_version(api, "m")
    ok(api, "PATCH", "model-versions/update", {"name": "m", "version": "2", "description": "newest"})
    assert version_ids(api, "")[0] == ("m", "2")
    assert version_ids(api, "", order_by=["version_number ASC"]) == [("m", "1"), ("m", "2"), ("m", "3")]
    fails(
        api,
        "GET",
        "model-versions/search",
        {"order_by": ["version_number", "version_number"]},
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_page_tokens_and_result_caps(api: Api) -> None:
    create_model(api, "m")
    for path in ("registered-models/search", "model-versions/search"):
        message = fails(api, "GET", path, {"page_token": "not base64!"}, 400, "INVALID_PARAMETER_VALUE")
        assert message.startswith("Invalid page token, could not base64-decode")
        fails(api, "GET", path, {"max_results": -1}, 400, "INVALID_PARAMETER_VALUE")
        fails(api, "GET", path, {"max_results": "abc"}, 400, "INVALID_PARAMETER_VALUE")
    fails(api, "GET", "registered-models/search", {"max_results": 1001}, 400, "INVALID_PARAMETER_VALUE")
    assert search_models(api, max_results=1000)["registered_models"][0]["name"] == "m"
    fails(api, "GET", "model-versions/search", {"max_results": 200_001}, 400, "INVALID_PARAMETER_VALUE")
    assert search_versions(api, max_results=200_000) == {}
    only_token = search_models(api, max_results=0)
    assert set(only_token) == {"next_page_token"}


def test_registered_model_search_defaults_to_100(api: Api) -> None:
    for index in range(101):
        create_model(api, f"m{index:03d}")
    result = search_models(api)
    assert len(result["registered_models"]) == 100
    rest = search_models(api, page_token=result["next_page_token"])
    assert [m["name"] for m in rest["registered_models"]] == ["m100"]
    assert "next_page_token" not in rest


@contextmanager
def counting_statements(api: Api) -> Iterator[list[str]]:
    engine = api.client.app.state.services.db.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The webhook delivery poller shares the engine and may run at any moment; its
        # statements are not the page's.
        if "webhook_deliveries" not in statement:
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_rendering_pages_runs_no_query_per_row(api: Api) -> None:
    """Tags, aliases and latest versions are loaded for a whole page at once."""

    def populate(prefix: str, count: int) -> None:
        for index in range(count):
            name = f"{prefix}{index:02d}"
            create_model(api, name, tags=[{"key": "k", "value": "v"}])
            create_version(api, name, tags=[{"key": "t", "value": "1"}])
            create_version(api, name)
            ok(api, "POST", "registered-models/alias", {"name": name, "alias": "champ", "version": "1"})

    populate("a", 3)
    with counting_statements(api) as small_models:
        search_models(api, filter="name LIKE 'a%'")
    with counting_statements(api) as small_versions:
        search_versions(api, filter="name LIKE 'a%'")
    populate("b", 12)
    with counting_statements(api) as large_models:
        found = search_models(api, filter="name LIKE 'b%'")
    with counting_statements(api) as large_versions:
        versions = search_versions(api, filter="name LIKE 'b%'")
    assert len(found["registered_models"]) == 12
    assert all(
        m["tags"] and m["aliases"] and len(m["latest_versions"]) == 1 for m in found["registered_models"]
    )
    assert len(versions["model_versions"]) == 24
    assert sum(1 for v in versions["model_versions"] if v.get("aliases") == ["champ"]) == 12
    assert len(large_models) == len(small_models)
    assert len(large_versions) == len(small_versions)


def test_model_page_lists_each_models_latest_versions_with_their_tags(api: Api) -> None:
    """A search page renders latest_versions (one per stage, stages in the order they first
    appear going up the versions) with each version's own tags, for every model at once."""
    for name in ("lv-a", "lv-b"):
        create_model(api, name)
        for number in range(1, 4):
            create_version(api, name, tags=[{"key": "n", "value": f"{name}/{number}"}])
    ok(
        api,
        "POST",
        "model-versions/transition-stage",
        {"name": "lv-a", "version": "1", "stage": "Production", "archive_existing_versions": False},
    )
    ok(
        api,
        "POST",
        "model-versions/transition-stage",
        {"name": "lv-b", "version": "3", "stage": "Staging", "archive_existing_versions": False},
    )
    found = {m["name"]: m for m in search_models(api, filter="name LIKE 'lv-%'")["registered_models"]}
    listed = {
        name: [(v["version"], v["current_stage"], v["tags"]) for v in model["latest_versions"]]
        for name, model in found.items()
    }
    assert listed == {
        "lv-a": [
            ("1", "Production", [{"key": "n", "value": "lv-a/1"}]),
            ("3", "None", [{"key": "n", "value": "lv-a/3"}]),
        ],
        "lv-b": [
            ("2", "None", [{"key": "n", "value": "lv-b/2"}]),
            ("3", "Staging", [{"key": "n", "value": "lv-b/3"}]),
        ],
    }
