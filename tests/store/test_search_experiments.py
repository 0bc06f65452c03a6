"""experiments/search over the HTTP API (POST and GET), on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


def make(api: Api, name: str, **tags: str) -> str:
    body: dict[str, Any] = {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]}
    return str(api.ok("post", "experiments/create", body)["experiment_id"])


def names(answer: dict[str, Any]) -> list[str]:
    return [e["name"] for e in answer.get("experiments", [])]


def search(api: Api, **body: Any) -> list[str]:
    return names(api.ok("post", "experiments/search", body))


def rejected(api: Api, **body: Any) -> str:
    return api.error("post", "experiments/search", body, 400, "INVALID_PARAMETER_VALUE")


@pytest.fixture
def three(api: Api) -> dict[str, str]:
    ids = {
        "alpha": make(api, "alpha", team="vision", stage="dev"),
        "Beta": make(api, "Beta", team="nlp"),
        "gamma": make(api, "gamma"),
    }
    return ids


def test_default_order_is_newest_first_with_id_tie_break(api: Api, three: dict[str, str]) -> None:
    # All four may share a millisecond; ids then decide, ascending.
    found = api.ok("post", "experiments/search", {})["experiments"]
    created = [(-e["creation_time"], int(e["experiment_id"])) for e in found]
    assert created == sorted(created)
    assert {e["name"] for e in found} == {"Default", "alpha", "Beta", "gamma"}
    alpha = next(e for e in found if e["name"] == "alpha")
    assert alpha["tags"] == [{"key": "stage", "value": "dev"}, {"key": "team", "value": "vision"}]


def test_get_and_post_give_the_same_answer(api: Api, three: dict[str, str]) -> None:
    body = {"filter": "name LIKE '%a%'", "order_by": ["name ASC"], "max_results": 2}
    posted = api.ok("post", "experiments/search", body)
    got = api.ok(
        "get", "experiments/search", {"filter": body["filter"], "order_by": "name ASC", "max_results": "2"}
    )
    assert posted == got
    assert names(posted) == ["Beta", "Default"]
    assert posted["next_page_token"]
    both_orders = api.client.get(
        "/api/2.0/mlflow/experiments/search",
        params=[("order_by", "name DESC"), ("order_by", "experiment_id")],
    )
    assert names(both_orders.json()) == ["gamma", "alpha", "Default", "Beta"]


def test_attribute_filters(api: Api, three: dict[str, str]) -> None:
    assert search(api, filter="name = 'alpha'") == ["alpha"]
    assert search(api, filter="attribute.name = 'ALPHA'") == []
    assert search(api, filter="name ILIKE 'b%'") == ["Beta"]
    assert search(api, filter="name LIKE 'b%'") == []
    assert set(search(api, filter="name != 'alpha'")) == {"Default", "Beta", "gamma"}
    ids = f"('{three['alpha']}', '{three['gamma']}')"
    assert set(search(api, filter=f"attributes.experiment_id IN {ids}")) == {"alpha", "gamma"}
    assert set(search(api, filter=f"experiment_id NOT IN {ids}")) == {"Default", "Beta"}
    assert search(api, filter="experiment_id = 0") == ["Default"]
    assert search(api, filter="experiment_id = '99999999999999999999'") == []
    assert set(search(api, filter="creation_time > 0 and last_update_time > 0")) == {
        "Default",
        "alpha",
        "Beta",
        "gamma",
    }
    assert search(api, filter="creation_time < 0") == []


def test_tag_filters(api: Api, three: dict[str, str]) -> None:
    assert search(api, filter="tags.team = 'vision'") == ["alpha"]
    assert search(api, filter="tags.team = 'VISION'") == []
    assert search(api, filter="tags.team ILIKE 'VIS%'") == ["alpha"]
    assert search(api, filter="tags.team != 'vision'") == ["Beta"]
    assert set(search(api, filter="tags.team IS NULL")) == {"Default", "gamma"}
    assert set(search(api, filter="tags.`team` IS NOT NULL")) == {"alpha", "Beta"}
    assert search(api, filter="tags.Team = 'vision'") == []
    assert search(api, filter="tags.team LIKE '%i%' AND tags.stage = 'dev'") == ["alpha"]


@pytest.mark.parametrize(
    "filter_string",
    [
        "name = 'a' OR name = 'b'",
        "(name = 'a')",
        "name = alpha",
        "name IN ('alpha')",
        "metrics.x > 1",
        "attributes.lifecycle_stage = 'active'",
        "creation_time > '5'",
        "experiment_id = 'abc'",
        "tags.t > 'a'",
    ],
)
def test_bad_filters_are_400(api: Api, filter_string: str) -> None:
    rejected(api, filter=filter_string)


def test_order_by(api: Api, three: dict[str, str]) -> None:
    assert search(api, order_by=["name"]) == ["Beta", "Default", "alpha", "gamma"]
    assert search(api, order_by=["attributes.name DESC"]) == ["gamma", "alpha", "Default", "Beta"]
    assert search(api, order_by=["experiment_id DESC"]) == ["gamma", "Beta", "alpha", "Default"]
    assert search(api, order_by=["last_update_time ASC", "experiment_id ASC"])[0] == "Default"
    assert "Invalid ordering key" in rejected(api, order_by=["name DECS"])
    rejected(api, order_by=["tags.team"])
    rejected(api, order_by=["foo.name"])


def test_view_types(api: Api, three: dict[str, str]) -> None:
    api.ok("post", "experiments/delete", {"experiment_id": three["gamma"]})
    assert "gamma" not in search(api)
    assert search(api, view_type="DELETED_ONLY") == ["gamma"]
    assert set(search(api, view_type="ALL")) == {"Default", "alpha", "Beta", "gamma"}
    assert "gamma" not in search(api, view_type="ACTIVE_ONLY")
    rejected(api, view_type="BOGUS")


def test_paging(api: Api) -> None:
    for i in range(6):
        make(api, f"e{i}")
    seen: list[str] = []
    token = None
    while True:
        body: dict[str, Any] = {"max_results": 4, "order_by": ["name"]}
        if token:
            body["page_token"] = token
        answer = api.ok("post", "experiments/search", body)
        seen.extend(names(answer))
        token = answer.get("next_page_token")
        if not token:
            break
    assert seen == ["Default", "e0", "e1", "e2", "e3", "e4", "e5"]
    assert "experiments" not in api.ok("post", "experiments/search", {"max_results": 0})
    assert api.ok("post", "experiments/search", {"max_results": 0})["next_page_token"]
    assert len(search(api, max_results=50000)) == 7
    assert "50000" in rejected(api, max_results=50001)
    assert "Invalid page token" in rejected(api, page_token="@@")
    assert api.ok("post", "experiments/search", {"filter": "name = 'none'"}) == {}
