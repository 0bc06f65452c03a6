"""``POST logged-models/search`` over the REST API, on every backend."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Api

SEARCH = "logged-models/search"


def create(api: Api, experiment_id: str, name: str, **fields: Any) -> str:
    model_id: str = api.ok("post", "logged-models", {"experiment_id": experiment_id, "name": name, **fields})[
        "model"
    ]["info"]["model_id"]
    # Distinct creation timestamps, so ordering by them is unambiguous.
    time.sleep(0.003)
    return model_id


def finalize(api: Api, model_id: str, status: str = "LOGGED_MODEL_READY") -> None:
    response = api.client.patch(f"/api/2.0/mlflow/logged-models/{model_id}", json={"status": status})
    assert response.status_code == 200, response.text


def ids(answer: dict[str, Any]) -> list[str]:
    return [model["info"]["model_id"] for model in answer.get("models", [])]


def search(api: Api, **body: Any) -> dict[str, Any]:
    answer: dict[str, Any] = api.ok("post", SEARCH, body)
    return answer


def test_name_filter_is_the_register_model_fallback(api: Api) -> None:
    # register_model("runs:/<run>/lr") resolves the path through exactly this request.
    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    other = api.ok("post", "experiments/create", {"name": "other"})["experiment_id"]
    lr = create(api, eid, "lr", params=[{"key": "a", "value": "1"}], tags=[{"key": "t", "value": "x"}])
    create(api, eid, "rf")
    create(api, other, "lr")
    answer = search(api, experiment_ids=[eid], filter="name = 'lr'")
    assert ids(answer) == [lr]
    model = answer["models"][0]
    # Search renders models exactly as GET does.
    assert model == api.ok("get", f"logged-models/{lr}")["model"]
    assert "next_page_token" not in answer
    assert search(api, experiment_ids=[eid], filter="name = 'nope'") == {}


def test_status_params_and_tags_filters(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    ready = create(
        api, eid, "a", params=[{"key": "lr", "value": "0.1"}], tags=[{"key": "team", "value": "x"}]
    )
    failed = create(
        api, eid, "b", params=[{"key": "lr", "value": "0.2"}], tags=[{"key": "team", "value": "y"}]
    )
    pending = create(api, eid, "c")
    finalize(api, ready)
    finalize(api, failed, "LOGGED_MODEL_UPLOAD_FAILED")
    assert ids(search(api, experiment_ids=[eid], filter="status = 'LOGGED_MODEL_READY'")) == [ready]
    assert ids(search(api, experiment_ids=[eid], filter="status = 'LOGGED_MODEL_PENDING'")) == [pending]
    assert ids(search(api, experiment_ids=[eid], filter="params.lr = '0.2'")) == [failed]
    assert ids(search(api, experiment_ids=[eid], filter="tags.team = 'x'")) == [ready]
    assert ids(search(api, experiment_ids=[eid], filter="tags.team = 'x' AND params.lr = '0.2'")) == []
    both = search(api, experiment_ids=[eid], filter="tags.team LIKE '%'")
    assert sorted(ids(both)) == sorted([ready, failed])


def test_order_by_creation_timestamp_and_paging(api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    created = [create(api, eid, f"m{i}") for i in range(5)]
    ascending = search(
        api, experiment_ids=[eid], order_by=[{"field_name": "creation_timestamp", "ascending": True}]
    )
    assert ids(ascending) == created
    descending = search(
        api, experiment_ids=[eid], order_by=[{"field_name": "creation_timestamp", "ascending": False}]
    )
    assert ids(descending) == created[::-1]

    pages: list[list[str]] = []
    token: str | None = None
    while True:
        body: dict[str, Any] = {
            "experiment_ids": [eid],
            "max_results": 2,
            "order_by": [{"field_name": "creation_timestamp", "ascending": True}],
        }
        if token:
            body["page_token"] = token
        answer = search(api, **body)
        pages.append(ids(answer))
        token = answer.get("next_page_token")
        if not token:
            break
        assert len(pages) < 10
    assert pages == [created[0:2], created[2:4], created[4:5]]


def test_search_spans_experiments_and_hides_deleted_models(api: Api) -> None:
    first = api.ok("post", "experiments/create", {"name": "e1"})["experiment_id"]
    second = api.ok("post", "experiments/create", {"name": "e2"})["experiment_id"]
    a = create(api, first, "a")
    b = create(api, second, "b")
    gone = create(api, first, "gone")
    assert api.client.delete(f"/api/2.0/mlflow/logged-models/{gone}").status_code == 200
    assert sorted(ids(search(api, experiment_ids=[first, second]))) == sorted([a, b])
    assert ids(search(api, experiment_ids=[second])) == [b]


def test_search_bad_input_is_a_400(api: Api) -> None:
    for body in (
        {"experiment_ids": ["abc"]},
        {"experiment_ids": "0", "max_results": "many"},
        {"experiment_ids": ["0"], "max_results": -1},
        {"experiment_ids": ["0"], "filter": "name = lr"},
        {"experiment_ids": ["0"], "filter": "bogus.x = 'a'"},
        {"experiment_ids": ["0"], "order_by": "creation_timestamp"},
        {"experiment_ids": ["0"], "order_by": [{"ascending": True}]},
        {"experiment_ids": ["0"], "page_token": "not a token"},
        {"experiment_ids": ["0"], "datasets": [{"dataset_digest": "d"}]},
    ):
        response = api.post(SEARCH, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE", body


def test_string_comparisons_are_case_sensitive_except_ilike(api: Api) -> None:
    # BC-08: '=', '!=' and LIKE are case-sensitive on every backend (MySQL collations and
    # SQLite's LIKE included), ILIKE is not, and keys are case-sensitive.
    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    xyz = create(api, eid, "Model", tags=[{"key": "t2", "value": "xyz"}])
    xy = create(api, eid, "other", tags=[{"key": "t2", "value": "xy"}])
    assert ids(search(api, experiment_ids=[eid], filter="tags.t2 = 'XYZ'")) == []
    assert ids(search(api, experiment_ids=[eid], filter="tags.t2 LIKE 'xYz%'")) == []
    assert ids(search(api, experiment_ids=[eid], filter="tags.t2 ILIKE 'xYz%'")) == [xyz]
    assert ids(search(api, experiment_ids=[eid], filter="tags.T2 = 'xyz'")) == []
    assert ids(search(api, experiment_ids=[eid], filter="tags.t2 != 'xy'")) == [xyz]
    assert ids(search(api, experiment_ids=[eid], filter="name = 'model'")) == []
    assert ids(search(api, experiment_ids=[eid], filter="name ILIKE 'model'")) == [xyz]
    assert ids(search(api, experiment_ids=[eid], filter="name LIKE 'oth%'")) == [xy]


def test_out_of_range_numbers_never_reach_the_database(api: Api) -> None:
    # An id no INTEGER column can hold matches nothing; an int64 overflow is a 400.
    assert search(api, experiment_ids=["99999999999999999999", "2147483648"]) == {}
    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    model_id = create(api, eid, "m")
    huge = search(api, experiment_ids=[eid], max_results=2**63 - 1)
    assert ids(huge) == [model_id]
    response = api.post(SEARCH, {"experiment_ids": [eid], "max_results": 10**20})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
