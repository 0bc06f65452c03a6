"""The search grammar on logged-models/search: metrics scoped by dataset, params, tags,
attributes and structured order_by, on every backend."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Api

SEARCH = "logged-models/search"


class Models:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.eid = str(api.ok("post", "experiments/create", {"name": "lm"})["experiment_id"])
        self.run_id = api.ok("post", "runs/create", {"experiment_id": self.eid})["run"]["info"]["run_id"]
        self.ids: dict[str, str] = {}

    def make(self, name: str, *, metrics: list[dict[str, Any]] = (), **fields: Any) -> str:  # type: ignore[assignment]
        body = {"experiment_id": self.eid, "name": name, "source_run_id": self.run_id, **fields}
        model_id = str(self.api.ok("post", "logged-models", body)["model"]["info"]["model_id"])
        if metrics:
            points = [{"timestamp": 1, "step": 0, **m, "model_id": model_id} for m in metrics]
            self.api.ok("post", "runs/log-batch", {"run_id": self.run_id, "metrics": points})
        self.ids[name] = model_id
        time.sleep(0.003)  # distinct creation timestamps
        return model_id

    def search(self, filter_string: str = "", **body: Any) -> list[str]:
        answer = self.api.ok("post", SEARCH, {"experiment_ids": [self.eid], "filter": filter_string, **body})
        names = {v: k for k, v in self.ids.items()}
        return [names[m["info"]["model_id"]] for m in answer.get("models", [])]

    def rejected(self, filter_string: str = "", **body: Any) -> str:
        return self.api.error(
            "post",
            SEARCH,
            {"experiment_ids": [self.eid], "filter": filter_string, **body},
            400,
            "INVALID_PARAMETER_VALUE",
        )


@pytest.fixture
def models(api: Api) -> Models:
    lab = Models(api)
    lab.make(
        "a",
        metrics=[
            {"key": "acc", "value": 0.9, "dataset_name": "train", "dataset_digest": "d1"},
            {"key": "acc", "value": 0.6, "dataset_name": "test", "dataset_digest": "d2", "timestamp": 2},
        ],
        params=[{"key": "lr", "value": "0.1"}],
        tags=[{"key": "team", "value": "Vision"}],
        model_type="sklearn",
    )
    lab.make(
        "b",
        metrics=[
            {"key": "acc", "value": 0.7, "dataset_name": "train", "dataset_digest": "d1"},
            {"key": "acc", "value": 0.8, "dataset_name": "test", "dataset_digest": "d2", "timestamp": 2},
        ],
        params=[{"key": "lr", "value": "0.2"}],
    )
    lab.make("c", metrics=[{"key": "acc", "value": "NaN"}])
    lab.make("d")
    return lab


def test_metric_filters_scoped_by_datasets(models: Models) -> None:
    train = [{"dataset_name": "train"}]
    test = [{"dataset_name": "test", "dataset_digest": "d2"}]
    assert models.search("metrics.acc > 0.75", datasets=train) == ["a"]
    assert models.search("metrics.acc > 0.75", datasets=test) == ["b"]
    assert models.search("metrics.acc >= 0.7 AND metrics.acc < 0.8", datasets=train) == ["b"]
    assert (
        models.search("metrics.acc > 0.75", datasets=[{"dataset_name": "test", "dataset_digest": "zz"}]) == []
    )
    # NaN and a missing metric match no comparison.
    assert set(models.search("metrics.acc > -1e308")) == {"a", "b"}
    assert models.search("metrics.nope > 0") == []
    assert "Missing value" in models.rejected("", datasets=[{"dataset_digest": "d1"}])


def test_string_filters(models: Models) -> None:
    assert models.search("params.lr = '0.2'") == ["b"]
    assert models.search("params.LR = '0.2'") == []
    assert models.search("tags.team = 'vision'") == []
    assert models.search("tags.team ILIKE 'vision'") == ["a"]
    assert models.search("tags.team != 'x'") == ["a"]
    assert models.search("attributes.model_type = 'sklearn'") == ["a"]
    assert models.search(f"model_id = '{models.ids['c']}'") == ["c"]
    assert set(models.search(f"source_run_id = '{models.run_id}' AND name LIKE '_'")) == {"a", "b", "c", "d"}
    assert models.search("name = 'A'") == []
    assert models.search("status = 'LOGGED_MODEL_PENDING' and name = 'd'") == ["d"]
    assert set(models.search("creation_timestamp > 0 AND last_updated_timestamp > 0")) == {"a", "b", "c", "d"}
    assert models.search("creation_time < 0") == []


@pytest.mark.parametrize(
    "filter_string",
    [
        "name = 'a' OR name = 'b'",
        "params.lr > '0.1'",
        "metrics.acc = 'x'",
        "name = a",
        "datasets.name = 'x'",
        "foo.x = '1'",
    ],
)
def test_bad_filters_are_400(models: Models, filter_string: str) -> None:
    models.rejected(filter_string)


def test_order_by_metric_per_dataset_and_attributes(models: Models) -> None:
    by_train = [{"field_name": "metrics.acc", "ascending": False, "dataset_name": "train"}]
    # NaN (c) and no metric (d) both sort last, then by the default newest-first order.
    assert models.search(order_by=by_train) == ["a", "b", "d", "c"]
    by_test = [
        {"field_name": "metrics.acc", "ascending": False, "dataset_name": "test", "dataset_digest": "d2"}
    ]
    assert models.search(order_by=by_test) == ["b", "a", "d", "c"]
    ascending_test = [{"field_name": "metrics.acc", "ascending": True, "dataset_name": "test"}]
    assert models.search(order_by=ascending_test)[:2] == ["a", "b"]
    assert models.search(order_by=[{"field_name": "name", "ascending": False}]) == ["d", "c", "b", "a"]
    assert models.search(order_by=[{"field_name": "creation_timestamp"}]) == ["a", "b", "c", "d"]
    assert models.search() == ["d", "c", "b", "a"]
    assert "Could not be parsed" in models.rejected(order_by=[{"field_name": "name DESC"}])
    models.rejected(order_by=[{"field_name": "params.lr"}])
    models.rejected(order_by=[{"ascending": True}])
    models.rejected(order_by=[{"field_name": "name", "ascending": "sideways"}])


def test_paging(models: Models) -> None:
    first = models.api.ok("post", SEARCH, {"experiment_ids": [models.eid], "max_results": 3})
    assert len(first["models"]) == 3
    rest = models.api.ok(
        "post",
        SEARCH,
        {"experiment_ids": [models.eid], "max_results": 3, "page_token": first["next_page_token"]},
    )
    assert len(rest["models"]) == 1 and "next_page_token" not in rest
    assert "Invalid page token" in models.rejected(page_token="!!")
