"""runs/search as served by the runs endpoints: view types, limits, full run payloads."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.store.test_runs import make_experiment, make_run


def search(api: Api, **body: Any) -> dict[str, Any]:
    return dict(api.ok("post", "runs/search", body))


def ids(result: dict[str, Any]) -> set[str]:
    return {run["info"]["run_id"] for run in result.get("runs", [])}


def test_search_is_post_only_and_empty_is_empty(api: Api) -> None:
    eid = make_experiment(api)
    assert search(api, experiment_ids=[eid]) == {}
    assert api.get("runs/search", {"experiment_ids": eid}).status_code == 405


def test_a_scalar_where_a_list_belongs_is_refused_in_mlflows_words(api: Api) -> None:
    eid = make_experiment(api)
    message = api.error("post", "runs/search", {"experiment_ids": eid}, 400, "INVALID_PARAMETER_VALUE")
    assert message == (
        f"Invalid value \"{eid}\" for parameter 'experiment_ids' supplied: Hint: Value was of type "
        "'str'. See the API docs for more information about request parameters."
    )
    for body in ({"experiment_ids": [eid], "order_by": "start_time"}, {"experiment_ids": [eid, 1]}):
        api.error("post", "runs/search", body, 400, "INVALID_PARAMETER_VALUE")
    api.error("post", "experiments/search", {"order_by": "name"}, 400, "INVALID_PARAMETER_VALUE")
    # A query string carries a single repeated value as one key, which stays accepted.
    found = api.client.get("/api/2.0/mlflow/registered-models/search", params={"order_by": "name"})
    assert found.status_code == 200, found.text
    assert search(api, experiment_ids=[eid]) == {}


def test_view_types_after_delete(api: Api) -> None:
    # BC-24
    eid = make_experiment(api)
    r1, r2 = make_run(api, eid)["info"]["run_id"], make_run(api, eid)["info"]["run_id"]
    api.ok("post", "runs/delete", {"run_id": r1})
    assert ids(search(api, experiment_ids=[eid])) == {r2}
    assert ids(search(api, experiment_ids=[eid], run_view_type="ACTIVE_ONLY")) == {r2}
    assert ids(search(api, experiment_ids=[eid], run_view_type="DELETED_ONLY")) == {r1}
    assert ids(search(api, experiment_ids=[eid], run_view_type="ALL")) == {r1, r2}


def test_runs_come_back_whole(api: Api) -> None:
    eid = make_experiment(api)
    run_id = make_run(api, eid, run_name="whole")["info"]["run_id"]
    api.ok(
        "post",
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [{"key": "loss", "value": "NaN", "timestamp": 1, "step": 3}],
            "params": [{"key": "p", "value": "1"}],
        },
    )
    found = search(api, experiment_ids=[eid])["runs"][0]
    assert found == api.ok("get", "runs/get", {"run_id": run_id})["run"]
    assert found["data"]["metrics"][0]["value"] == "NaN"  # BC-14: NaN survives search too


def test_parent_run_filter(api: Api) -> None:
    # BC-27
    eid = make_experiment(api)
    parent = make_run(api, eid)["info"]["run_id"]
    children = {
        make_run(api, eid, tags=[{"key": "mlflow.parentRunId", "value": parent}])["info"]["run_id"]
        for _ in range(2)
    }
    make_run(api, eid)
    for key in ("tags.mlflow.parentRunId", "tags.`mlflow.parentRunId`"):
        assert ids(search(api, experiment_ids=[eid], filter=f"{key} = '{parent}'")) == children


def test_max_results_cap_and_paging(api: Api) -> None:
    eid = make_experiment(api)
    made = {make_run(api, eid)["info"]["run_id"] for _ in range(3)}
    message = api.error(
        "post", "runs/search", {"experiment_ids": [eid], "max_results": 50001}, 400, "INVALID_PARAMETER_VALUE"
    )
    assert "50000" in message
    assert ids(search(api, experiment_ids=[eid], max_results=50000)) == made
    first = search(api, experiment_ids=[eid], max_results=2)
    assert len(first["runs"]) == 2 and first["next_page_token"]
    second = search(api, experiment_ids=[eid], max_results=2, page_token=first["next_page_token"])
    assert "next_page_token" not in second
    assert ids(first) | ids(second) == made
    api.error(
        "post",
        "runs/search",
        {"experiment_ids": [eid], "page_token": "garbage"},
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_many_runs_load_in_order(api: Api) -> None:
    eid = make_experiment(api)
    for i in range(30):
        run_id = make_run(api, eid, start_time=1000 + i)["info"]["run_id"]
        api.ok(
            "post",
            "runs/log-batch",
            {
                "run_id": run_id,
                "params": [{"key": "i", "value": str(i)}],
                "tags": [{"key": "t", "value": "x"}],
            },
        )
    runs = search(api, experiment_ids=[eid])["runs"]
    # Default order is start_time DESC.
    assert [r["data"]["params"][0]["value"] for r in runs] == [str(i) for i in range(29, -1, -1)]


def test_load_runs_uses_a_constant_number_of_queries(api: Api) -> None:
    import sqlalchemy as sa

    services = api.client.app.state.services  # type: ignore[attr-defined]
    eid = make_experiment(api)
    run_ids = []
    for i in range(40):
        run_id = make_run(api, eid)["info"]["run_id"]
        run_ids.append(run_id)
        api.ok(
            "post",
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [{"key": f"m{i}", "value": 1, "timestamp": 1}],
                "params": [{"key": "p", "value": "1"}],
            },
        )
        api.ok("post", "runs/log-inputs", {"run_id": run_id, "models": [{"model_id": f"m-{i}"}]})

    def count(ids: list[str]) -> int:
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        sa.event.listen(services.db.engine, "before_cursor_execute", record)
        try:
            with services.db.read() as conn:
                loaded = services.runs.load_runs(conn, ids)
        finally:
            sa.event.remove(services.db.engine, "before_cursor_execute", record)
        assert [r["info"]["run_id"] for r in loaded] == ids
        # Only queries on tables count: a pooled connection's pre-ping ("SELECT 1") and a new
        # PostgreSQL connection's set-up queries ("select pg_catalog.version()") have no FROM.
        return len(
            [s for s in statements if s.lstrip().upper().startswith("SELECT") and " FROM " in s.upper()]
        )

    assert count(run_ids[:2]) == count(run_ids) == count(run_ids[::-1])
