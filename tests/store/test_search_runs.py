"""runs/search over the HTTP API: the filter grammar, ordering and paging, on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

T0 = 1_700_000_000_000


class Lab:
    """Builds runs through the public API and searches them by name."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.experiment_id = str(api.ok("post", "experiments/create", {"name": "search"})["experiment_id"])
        self.ids: dict[str, str] = {}
        self.clock = T0

    def run(
        self,
        name: str,
        *,
        metrics: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        start_time: int | None = None,
    ) -> str:
        self.clock += 1000
        body = {"experiment_id": self.experiment_id, "run_name": name, "start_time": start_time or self.clock}
        run_id = str(self.api.ok("post", "runs/create", body)["run"]["info"]["run_id"])
        batch: dict[str, Any] = {"run_id": run_id}
        if metrics:
            batch["metrics"] = [
                {"key": k, "value": v, "timestamp": T0, "step": 0} for k, v in metrics.items()
            ]
        if params:
            batch["params"] = [{"key": k, "value": v} for k, v in params.items()]
        if tags:
            batch["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if len(batch) > 1:
            self.api.ok("post", "runs/log-batch", batch)
        self.ids[name] = run_id
        return run_id

    def search_raw(self, **body: Any) -> Any:
        return self.api.post("runs/search", {"experiment_ids": [self.experiment_id], **body})

    def search(self, filter_string: str = "", **body: Any) -> list[str]:
        response = self.search_raw(filter=filter_string, **body)
        assert response.status_code == 200, response.text
        names = {v: k for k, v in self.ids.items()}
        return [names[run["info"]["run_id"]] for run in response.json().get("runs", [])]

    def found(self, filter_string: str) -> set[str]:
        return set(self.search(filter_string))

    def rejected(self, filter_string: str = "", **body: Any) -> str:
        response = self.search_raw(filter=filter_string, **body)
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        return str(response.json()["message"])


@pytest.fixture
def lab(api: Api) -> Lab:
    return Lab(api)


def test_combined_filter_over_metrics_params_and_tags(lab: Lab) -> None:
    for i in range(1, 5):
        lab.run(f"foo-{i}", metrics={"x": i / 4}, params={"y": "a" if i % 2 else "b"})
    lab.run("bar-3", metrics={"x": 0.75}, params={"y": "a"})
    assert lab.found("metrics.x > 0.5 and params.y = 'a' and tags.`mlflow.runName` LIKE '%foo%'") == {"foo-3"}
    assert lab.found("metrics.x >= 0.5 AND metrics.x < 1") == {"foo-2", "foo-3", "bar-3"}
    assert lab.found("metrics.x = 1") == {"foo-4"}
    assert lab.found("") == set(lab.ids)


def test_a_run_lacking_the_key_never_matches(lab: Lab) -> None:
    lab.run("with", metrics={"x": 0.1}, params={"y": "b"}, tags={"t": "v"})
    lab.run("without")
    assert lab.found("metrics.x != 0.5") == {"with"}
    assert lab.found("params.y != 'a'") == {"with"}
    assert lab.found("tags.t != 'other'") == {"with"}
    assert lab.found("tags.t IS NULL") == {"without"}
    assert lab.found("tags.t IS NOT NULL") == {"with"}
    assert lab.found("params.y IS NULL") == {"without"}
    assert lab.found("params.y is not null") == {"with"}


def test_keys_with_hyphens_and_dots(lab: Lab) -> None:
    # BC-03
    lab.run("r", params={"cat-dog": "2", "cat.dog": "1"}, metrics={"cat-dog.metric": 3})
    lab.run("other")
    assert lab.found("params.\"cat-dog\" = '2'") == {"r"}
    assert lab.found("params.`cat.dog` = '1'") == {"r"}
    assert lab.found('metrics."cat-dog.metric" = 3') == {"r"}
    assert lab.found("params.cat.dog = '1'") == {"r"}
    lab.rejected("params.cat-dog = '2'")
    lab.rejected("params.cat dog = '2'")


def test_parent_run_id_tag_finds_the_children(lab: Lab) -> None:
    # BC-27
    parent = lab.run("P")
    lab.run("C1", tags={"mlflow.parentRunId": parent})
    lab.run("C2", tags={"mlflow.parentRunId": parent})
    lab.run("X")
    assert lab.found(f"tags.mlflow.parentRunId = '{parent}'") == {"C1", "C2"}
    assert lab.found(f"tags.`mlflow.parentRunId` = '{parent}'") == {"C1", "C2"}


def test_case_sensitivity_of_comparators_and_keys(lab: Lab) -> None:
    # BC-08: on MySQL too, whatever the collation.
    lab.run("xyz", tags={"t2": "xyz"}, params={"p": "Value"})
    lab.run("xy", tags={"t2": "xy"}, params={"p": "value"})
    assert lab.found("tags.t2 = 'XYZ'") == set()
    assert lab.found("tags.t2 LIKE 'xY%'") == set()
    assert lab.found("tags.t2 ILIKE 'xY%'") == {"xyz", "xy"}
    assert lab.found("tags.t2 ILIKE 'XYZ'") == {"xyz"}
    assert lab.found("tags.T2 = 'xyz'") == set()
    assert lab.found("tags.T2 IS NULL") == {"xyz", "xy"}
    assert lab.found("tags.t2 != 'xy'") == {"xyz"}
    assert lab.found("tags.t2 != 'XY'") == {"xyz", "xy"}
    assert lab.found("params.p = 'value'") == {"xy"}
    assert lab.found("params.p LIKE 'V%'") == {"xyz"}
    assert lab.found("params.P = 'value'") == set()
    assert lab.found("attributes.run_name = 'XYZ'") == set()
    assert lab.found("attributes.run_name ILIKE 'XY%'") == {"xyz", "xy"}


def test_equality_is_exact_about_trailing_spaces(lab: Lab) -> None:
    lab.run("plain", tags={"t": "a"})
    lab.run("spaced", tags={"t": "a "})
    assert lab.found("tags.t = 'a'") == {"plain"}
    assert lab.found("tags.t = 'a '") == {"spaced"}
    assert lab.found("tags.t != 'a'") == {"spaced"}


def test_like_wildcards_and_escapes(lab: Lab) -> None:
    lab.run("pct", tags={"t": "50%"})
    lab.run("num", tags={"t": "500"})
    lab.run("glob", tags={"t": "a*[b]?"})
    lab.run("back", tags={"t": "c:\\dir"})
    assert lab.found("tags.t LIKE '50%'") == {"pct", "num"}
    assert lab.found("tags.t LIKE '50\\%'") == {"pct"}
    assert lab.found("tags.t LIKE '5_0'") == {"num"}
    assert lab.found("tags.t LIKE '5__'") == {"pct", "num"}
    assert lab.found("tags.t LIKE '%\\%'") == {"pct"}
    assert lab.found("tags.t LIKE 'a*[b]?'") == {"glob"}
    assert lab.found("tags.t LIKE 'a*%'") == {"glob"}
    assert lab.found("tags.t ILIKE 'A*[B]_'") == {"glob"}
    assert lab.found("tags.t LIKE '%\\\\dir'") == {"back"}
    assert lab.found("tags.t LIKE '%\\\\'") == set()
    assert "never closed" in lab.rejected("tags.t LIKE '%\\'")


def test_non_ascii_values(lab: Lab) -> None:
    lab.run("cn", tags={"menu": "中文菜单"}, params={"note": "naïve – café"})
    lab.run("other", tags={"menu": "x"})
    assert lab.found("tags.menu = '中文菜单'") == {"cn"}
    assert lab.found("tags.menu LIKE '中文%'") == {"cn"}
    assert lab.found("params.note LIKE '%caf_'") == {"cn"}


def test_run_attributes(lab: Lab) -> None:
    # BC-07 and the string and numeric attributes.
    alpha = lab.run("alpha", start_time=T0 + 1)
    beta = lab.run("beta", start_time=T0 + 2)
    lab.run("gamma", start_time=T0 + 3)
    lab.api.ok("post", "runs/update", {"run_id": beta, "status": "FINISHED", "end_time": T0 + 10})
    message = lab.rejected("attributes.run_name IN ('alpha','beta')")
    assert "Only ['run_id'] attributes support comparison with a list" in message
    lab.rejected("attributes.status IN ('FINISHED')")
    assert lab.found(f"attributes.run_id IN ('{alpha}','{beta}')") == {"alpha", "beta"}
    assert lab.found(f"attributes.run_id NOT IN ('{alpha}','{beta}')") == {"gamma"}
    assert lab.found(f"attributes.run_id IN ('{alpha.upper()}')") == set()
    assert lab.found(f"run_id = '{alpha}'") == {"alpha"}
    assert lab.found("attributes.run_name ILIKE '%alp%'") == {"alpha"}
    assert lab.found("attributes.run_name = 'alpha'") == {"alpha"}
    assert lab.found("run_name = 'alpha'") == {"alpha"}
    assert lab.found("attributes.`Run Name` = 'beta'") == {"beta"}
    assert lab.found("\"run name\" LIKE '%mm%'") == {"gamma"}
    assert lab.found("attributes.status = 'FINISHED'") == {"beta"}
    assert lab.found("attributes.status != 'FINISHED'") == {"alpha", "gamma"}
    assert lab.found("attributes.user_id = ''") == {"alpha", "beta", "gamma"}
    assert lab.found(f"attributes.artifact_uri LIKE '%{alpha}%'") == {"alpha"}
    assert lab.found(f"created > {T0 + 1}") == {"beta", "gamma"}
    assert lab.found(f"attributes.start_time <= {T0 + 2}") == {"alpha", "beta"}
    assert lab.found(f"attributes.end_time = {T0 + 10}") == {"beta"}
    # A run with no end time has no value to compare, not even with !=.
    assert lab.found(f"attributes.end_time != {T0}") == {"beta"}
    message = lab.rejected("attributes.lifecycle_stage = 'active'")
    assert "lifecycle_stage" in message


def test_dataset_filters_hold_on_one_dataset(lab: Lab) -> None:
    # BC-10
    def log_input(run_id: str, name: str, digest: str, context: str | None) -> None:
        item: dict[str, Any] = {
            "dataset": {"name": name, "digest": digest, "source_type": "local", "source": "{}"}
        }
        if context:
            item["tags"] = [{"key": "mlflow.data.context", "value": context}]
        lab.api.ok("post", "runs/log-inputs", {"run_id": run_id, "datasets": [item]})

    log_input(lab.run("r0"), "name1", "digest1", "train")
    log_input(lab.run("r1"), "name1", "digest1", None)
    log_input(lab.run("r2"), "name2", "digest2", None)
    lab.run("r3")
    assert lab.found("datasets.name = 'name1'") == {"r0", "r1"}
    assert lab.found("datasets.name IN ('name1','name2')") == {"r0", "r1", "r2"}
    assert lab.found("datasets.digest IN ('digest1','digest2')") == {"r0", "r1", "r2"}
    assert lab.found("datasets.name = 'name1' AND datasets.digest = 'digest2'") == set()
    assert lab.found("datasets.name = 'name1' AND datasets.digest = 'digest1'") == {"r0", "r1"}
    assert lab.found("datasets.context = 'train'") == {"r0"}
    assert lab.found("datasets.context != 'train'") == set()
    assert lab.found("datasets.name NOT IN ('name1')") == {"r2"}
    assert lab.found("datasets.name LIKE 'NAME%'") == set()
    assert lab.found("datasets.name ILIKE 'NAME%'") == {"r0", "r1", "r2"}
    lab.rejected("datasets.profile = 'x'")
    lab.rejected("datasets.name > 'name1'")


@pytest.mark.parametrize(
    "filter_string",
    [
        "metrics.A > 0.1 OR params.B = 'LR'",
        "metrics.A > 0.1 AND (params.B = 'LR')",
        "params.lr = 0.01",
        "params.lr > '0.01'",
        "metrics.acc = '5'",
        "tags.t = LR",
        "params.y IN ('a')",
        "foo.bar = '1'",
    ],
)
def test_unsupported_grammar_is_a_400(lab: Lab, filter_string: str) -> None:
    # BC-11
    lab.run("r", metrics={"A": 1}, params={"B": "LR"})
    lab.rejected(filter_string)


def test_or_message(lab: Lab) -> None:
    assert "Invalid clause(s) in filter string" in lab.rejected("metrics.A > 0.1 OR params.B = 'LR'")
    assert "not quoted" in lab.rejected("tags.t = LR")


def test_order_by_a_key_with_spaces(lab: Lab) -> None:
    # BC-01
    lab.run("A", metrics={"Mean Square Error": 0.3})
    lab.run("B", metrics={"Mean Square Error": 0.1})
    assert lab.search(order_by=["metrics.`Mean Square Error` DESC"]) == ["A", "B"]
    assert lab.search(order_by=["metrics.`Mean Square Error` ASC"]) == ["B", "A"]
    assert lab.search(order_by=["metrics.`Mean Square Error`"]) == ["B", "A"]


@pytest.mark.parametrize("clause", ["metrics.accuracy DECS", "attribute.run_id ACS", "attribute.run_id decs"])
def test_invalid_order_direction_is_a_400(lab: Lab, clause: str) -> None:
    # BC-04
    for accuracy in (0.9, 0.8, 0.7):
        lab.run(f"r{accuracy}", metrics={"accuracy": accuracy})
    assert "Invalid ordering key" in lab.rejected(order_by=[clause])


def test_order_by_bad_entity_is_a_400(lab: Lab) -> None:
    assert "Invalid entity type 'foo'" in lab.rejected(order_by=["foo.bar"])
    lab.rejected(order_by=["datasets.name"])


def test_nan_inf_and_missing_metric_order(lab: Lab) -> None:
    # BC-05
    for name, value in (
        ("nan", "NaN"),
        ("inf", "Infinity"),
        ("-inf", "-Infinity"),
        ("-1000", -1000),
        ("0", 0),
        ("1000", 1000),
    ):
        lab.run(name, metrics={"x": value})
    lab.run("missing")
    assert lab.search(order_by=["metrics.x ASC"]) == ["-inf", "-1000", "0", "1000", "inf", "nan", "missing"]
    assert lab.search(order_by=["metrics.x DESC"]) == ["inf", "1000", "0", "-1000", "-inf", "nan", "missing"]
    # NaN matches nothing but !=.
    assert lab.found("metrics.x >= -1e309") == {"-inf", "-1000", "0", "1000", "inf"}
    assert lab.found("metrics.x != 0") == {"nan", "inf", "-inf", "-1000", "1000"}
    assert lab.found("metrics.x >= 1e308") == {"inf"}


def test_ordering_by_a_metric_no_run_has_keeps_the_default_order(lab: Lab) -> None:
    lab.run("old", start_time=T0 + 1)
    lab.run("new", start_time=T0 + 3)
    lab.run("mid", start_time=T0 + 2)
    assert lab.search(order_by=["metrics.nobody DESC"]) == ["new", "mid", "old"]
    assert lab.search() == ["new", "mid", "old"]


def test_default_order_breaks_ties_by_run_id(lab: Lab) -> None:
    for i in range(4):
        lab.run(f"r{i}", start_time=T0)
    assert lab.search() == sorted(lab.ids, key=lambda name: lab.ids[name])


def test_order_by_params_tags_and_attributes(lab: Lab) -> None:
    lab.run("b", params={"p": "2"}, tags={"t": "z"}, start_time=T0 + 2)
    lab.run("a", params={"p": "1"}, start_time=T0 + 1)
    lab.run("c", tags={"t": "y"}, start_time=T0 + 3)
    assert lab.search(order_by=["params.p"]) == ["a", "b", "c"]
    assert lab.search(order_by=["params.p DESC"]) == ["b", "a", "c"]
    assert lab.search(order_by=["tags.t"]) == ["c", "b", "a"]
    assert lab.search(order_by=["attributes.run_name DESC"]) == ["c", "b", "a"]
    assert lab.search(order_by=["run_name"]) == ["a", "b", "c"]
    assert lab.search(order_by=["attributes.start_time ASC"]) == ["a", "b", "c"]
    assert lab.search(order_by=["created DESC"]) == ["c", "b", "a"]
    assert lab.search(order_by=["tags.t DESC", "params.p ASC"]) == ["b", "c", "a"]
    # end_time is missing on every run: NULLs last, then the default order.
    assert lab.search(order_by=["attributes.end_time"]) == ["c", "b", "a"]
    for key in ("artifact_uri", "run_id", "status", "user_id"):
        assert len(lab.search(order_by=[f"attributes.{key} DESC"])) == 3


def test_pages_join_without_gaps_or_duplicates(lab: Lab) -> None:
    for i in range(7):
        lab.run(f"r{i}", metrics={"m": i % 3}, start_time=T0 + (i % 2))
    expected = lab.search(order_by=["metrics.m DESC"])
    seen: list[str] = []
    token = None
    while True:
        body: dict[str, Any] = {"max_results": 2, "order_by": ["metrics.m DESC"]}
        if token:
            body["page_token"] = token
        response = lab.search_raw(**body).json()
        names = {v: k for k, v in lab.ids.items()}
        seen.extend(names[run["info"]["run_id"]] for run in response.get("runs", []))
        token = response.get("next_page_token")
        if not token:
            break
    assert seen == expected
    assert len(seen) == 7
    last_full_page = lab.search_raw(max_results=7).json()
    assert "next_page_token" not in last_full_page


def test_max_results_zero_and_limits(lab: Lab) -> None:
    lab.run("a")
    only_token = lab.search_raw(max_results=0).json()
    assert "runs" not in only_token and only_token["next_page_token"]
    assert lab.search_raw(max_results=50000).status_code == 200
    assert "50000" in lab.rejected(max_results=50001)
    lab.rejected(max_results=-1)
    empty = lab.api.post("runs/search", {"experiment_ids": [lab.experiment_id], "filter": "tags.none = 'x'"})
    assert empty.json() == {}


def test_bad_page_tokens_are_a_400(lab: Lab) -> None:
    lab.run("a")
    assert "Invalid page token, could not base64-decode" in lab.rejected(page_token="%%%")
    lab.rejected(page_token="bm90IGpzb24=")


def test_run_view_types(lab: Lab) -> None:
    lab.run("live")
    gone = lab.run("gone")
    lab.api.ok("post", "runs/delete", {"run_id": gone})
    assert lab.found("") == {"live"}
    assert set(lab.search(run_view_type="ACTIVE_ONLY")) == {"live"}
    assert set(lab.search(run_view_type="DELETED_ONLY")) == {"gone"}
    assert set(lab.search(run_view_type="ALL")) == {"live", "gone"}
    lab.rejected(run_view_type="SOME")
    lab.api.ok("post", "runs/restore", {"run_id": gone})
    assert lab.found("") == {"live", "gone"}


def test_search_spans_the_given_experiments_only(lab: Lab, api: Api) -> None:
    lab.run("here")
    other = str(api.ok("post", "experiments/create", {"name": "other"})["experiment_id"])
    api.ok("post", "runs/create", {"experiment_id": other, "run_name": "there"})
    both = api.ok("post", "runs/search", {"experiment_ids": [lab.experiment_id, other]})
    assert {r["info"]["run_name"] for r in both["runs"]} == {"here", "there"}
    assert (
        api.ok("post", "runs/search", {"experiment_ids": [other]})["runs"][0]["info"]["run_name"] == "there"
    )
