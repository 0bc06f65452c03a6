"""The audit records API (filters, paging, admin-only declaration) and the alias-history query."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tests.conftest import Api
from tests.store.audit_support import RECORDS, changes, records
from tests.store.registry_support import create_model, create_version, ok


def _make_history(api: Api) -> tuple[str, str]:
    experiment_id = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"})
    return experiment_id, run_id


def test_filters_by_action_resource_actor_and_outcome(api: Api) -> None:
    experiment_id, run_id = _make_history(api)
    assert [r["action"] for r in records(api, action="runs.set_tag")] == ["runs.set_tag"]
    by_run = records(api, resource=f"run:{run_id}")
    assert [r["action"] for r in by_run] == ["runs.create_run", "runs.set_tag"]
    assert [r["action"] for r in records(api, resource=experiment_id)] == ["experiments.create_experiment"]
    assert len(records(api, actor="anonymous")) == 3
    assert records(api, actor="nobody") == []
    assert len(records(api, outcome="success")) == len(records(api))


def test_security_events_are_recorded_with_their_outcome(api: Api) -> None:
    audit = api.client.app.state.services.audit  # type: ignore[attr-defined]
    audit.record_event("auth.login", "failure", actor="bob", resource_type="user", resource_id="bob")
    audit.record_event("auth.request", "denied", actor="bob", details={"password": "hunter2", "path": "/x"})
    failures = records(api, outcome="failure")
    assert [(r["action"], r["actor"], r["resource_id"]) for r in failures] == [("auth.login", "bob", "bob")]
    denied = records(api, outcome="denied")
    assert denied[0]["details"] == {"password": "[redacted]", "path": "/x"}


def test_time_window_and_paging(api: Api) -> None:
    for index in range(5):
        api.ok("post", "experiments/create", {"name": f"e{index}"})
    all_records = changes(api)
    middle = all_records[2]["time_ms"]
    inside = records(api, since=middle, until=all_records[-1]["time_ms"] + 1)
    assert all(r["time_ms"] >= middle for r in inside) and all_records[-1] in inside
    iso = datetime.fromtimestamp(middle / 1000, UTC).isoformat(timespec="milliseconds")
    assert records(api, since=iso) == records(api, since=middle)
    assert records(api, until=all_records[0]["time_ms"]) == [
        r for r in records(api) if r["time_ms"] < all_records[0]["time_ms"]
    ]

    pages: list[Any] = []
    params: dict[str, Any] = {"max_results": 2}
    while True:
        body = api.client.get(RECORDS, params=params).json()
        pages.append([r["seq"] for r in body["records"]])
        if "next_page_token" not in body:
            break
        params["page_token"] = body["next_page_token"]
    seqs = [seq for page in pages for seq in page]
    assert seqs == sorted(seqs, reverse=True) == [r["seq"] for r in reversed(records(api))]
    assert all(len(page) <= 2 for page in pages)


def test_bad_parameters_are_400(api: Api) -> None:
    for params in (
        {"max_results": 0},
        {"max_results": 5000},
        {"page_token": "not-a-token"},
        {"since": "yesterday"},
    ):
        response = api.client.get(RECORDS, params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_audit_api_declares_admin_permission(api: Api) -> None:
    table = api.client.app.state.endpoints  # type: ignore[attr-defined]
    endpoint, _ = table.resolve("GET", "/2.0/ledgerflow/audit/records")
    assert endpoint.permission == "admin"
    # Every endpoint has an audit action name of the form "<group>.<operation>".
    assert all("." in e.action for e in table.endpoints)


def test_alias_history_answers_which_version_held_the_alias_at_a_time(api: Api) -> None:
    create_model(api, "churn")
    for _ in range(3):
        create_version(api, "churn")
    history = "/api/2.0/ledgerflow/registry/alias-history"
    before = int(time.time() * 1000) - 1
    for version in ("1", "3", "2"):
        time.sleep(0.005)
        ok(api, "POST", "registered-models/alias", {"name": "churn", "alias": "prod", "version": version})
    moves = records(api, action="registry.set_alias")
    assert [m["details"]["request"]["version"] for m in moves] == ["1", "3", "2"]
    for move in moves:
        # The audit record of each move is the moment to ask about.
        answer = api.client.get(
            history, params={"name": "churn", "alias": "prod", "at": move["time_ms"]}
        ).json()
        assert answer["version"] == move["details"]["request"]["version"], answer
        as_date = datetime.fromtimestamp(move["time_ms"] / 1000, UTC).isoformat(timespec="milliseconds")
        by_date = api.client.get(history, params={"name": "churn", "alias": "prod", "at": as_date}).json()
        assert by_date["version"] == answer["version"]
    assert (
        "version"
        not in api.client.get(history, params={"name": "churn", "alias": "prod", "at": before}).json()
    )
    response = api.client.get(history, params={"name": "churn", "alias": "prod"})
    assert response.status_code == 400
