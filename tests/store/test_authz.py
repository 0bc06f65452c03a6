"""Authorization on every backend: searches return only what the caller may read (with page
tokens and counts to match), READ/EDIT semantics (BC-53), promotion, and grants made on one
replica enforced on another."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.authz.support import ADMIN, PASSWORD, basic, build_world, ok
from tests.conftest import LiveServer

API = "/api/2.0/mlflow"


def _app(make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig) -> TestClient:
    return make_client(replace(server_config, auth_required=True))


def test_team_a_sees_only_team_a_in_searches_pages_and_lists(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, tmp_path: Path
) -> None:
    client = _app(make_client, server_config)
    team_b = build_world(client, tmp_path, prefix="b")
    authz = team_b.services.authz
    authz.create_group("team-a", actor=None)
    team_b.services.auth.create_user("anna", PASSWORD)
    authz.set_member("team-a", "anna", True, actor=None)
    admin = basic(ADMIN)
    mine = []
    for i in range(5):
        eid = ok(client.post(f"{API}/experiments/create", json={"name": f"a-{i}"}, headers=admin))[
            "experiment_id"
        ]
        authz.grant("experiment", eid, "group", "team-a", "viewer", actor=None)
        mine.append(eid)
        ok(client.post(f"{API}/runs/create", json={"experiment_id": eid}, headers=admin))
        ok(client.post(f"{API}/registered-models/create", json={"name": f"a-model-{i}"}, headers=admin))
        authz.grant("registered_model", f"a-model-{i}", "group", "team-a", "viewer", actor=None)
    anna = basic("anna")
    seen: list[str] = []
    token = None
    while True:
        body: dict[str, Any] = {"max_results": 2, **({"page_token": token} if token else {})}
        page = ok(client.post(f"{API}/experiments/search", json=body, headers=anna))
        seen += [e["experiment_id"] for e in page.get("experiments", [])]
        assert len(page.get("experiments", [])) <= 2
        token = page.get("next_page_token")
        if not token:
            break
    assert sorted(seen) == sorted(mine)  # no pages padded or cut by hidden experiments
    runs = ok(
        client.post(f"{API}/runs/search", json={"experiment_ids": [team_b.experiment_id]}, headers=anna)
    )
    assert runs == {}
    both = ok(
        client.post(
            f"{API}/runs/search", json={"experiment_ids": [mine[0], team_b.experiment_id]}, headers=anna
        )
    )
    assert {r["info"]["experiment_id"] for r in both["runs"]} == {mine[0]}
    models = ok(client.get(f"{API}/registered-models/search", params={"max_results": 3}, headers=anna))
    assert len(models["registered_models"]) == 3 and "next_page_token" in models
    rest = ok(
        client.get(
            f"{API}/registered-models/search", params={"page_token": models["next_page_token"]}, headers=anna
        )
    )
    names = [m["name"] for m in models["registered_models"] + rest["registered_models"]]
    assert sorted(names) == [f"a-model-{i}" for i in range(5)] and "next_page_token" not in rest
    assert (
        ok(client.get(f"{API}/model-versions/search", params={"filter": "name='b-model'"}, headers=anna))
        == {}
    )
    hidden = client.get(f"{API}/runs/get", params={"run_id": team_b.run_id}, headers=anna)
    assert hidden.status_code == 403
    bulk = client.get(
        f"{API}/metrics/get-history-bulk-interval",
        params={"run_ids": [team_b.run_id], "metric_key": "m"},
        headers=anna,
    )
    assert bulk.status_code == 200 and "metrics" not in bulk.json()
    assert (
        ok(
            client.post(
                f"{API}/logged-models/search", json={"experiment_ids": [team_b.experiment_id]}, headers=anna
            )
        )
        == {}
    )
    page = client.get("/", headers=anna)
    assert "a-0" in page.text and "b-exp" not in page.text
    assert "b-model" not in client.get("/models", headers=anna).text
    # Revoking the group's grant hides the experiment (on this replica at once).
    authz.revoke("experiment", mine[0], "group", "team-a", actor=None)
    assert (
        client.get(f"{API}/experiments/get", params={"experiment_id": mine[0]}, headers=anna).status_code
        == 403
    )


def test_bc53_read_allows_reads_only_edit_allows_logging_not_deleting(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, tmp_path: Path
) -> None:
    client = _app(make_client, server_config)
    world = build_world(client, tmp_path)
    eid, run_id = world.experiment_id, world.run_id
    viewer, editor = basic("viewer"), basic("editor")
    reads = [
        ("GET", f"{API}/experiments/get", {"experiment_id": eid}),
        ("GET", f"{API}/runs/get", {"run_id": run_id}),
        ("GET", f"{API}/metrics/get-history", {"run_id": run_id, "metric_key": "m"}),
        ("GET", f"{API}/artifacts/list", {"run_id": run_id}),
    ]
    for method, path, params in reads:
        assert client.request(method, path, params=params, headers=viewer).status_code == 200, path
    proxied = f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{run_id}/artifacts/a.txt"
    assert client.get(proxied, headers=viewer).content == b"hello"
    listed = ok(client.post(f"{API}/experiments/search", json={}, headers=viewer))
    assert [e["experiment_id"] for e in listed["experiments"]] == [eid]
    writes = [
        (f"{API}/runs/create", {"experiment_id": eid}),
        (f"{API}/runs/log-metric", {"run_id": run_id, "key": "x", "value": 1, "timestamp": 1}),
        (f"{API}/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}),
        (f"{API}/runs/set-tag", {"run_id": run_id, "key": "t", "value": "1"}),
        (f"{API}/runs/update", {"run_id": run_id, "status": "FINISHED"}),
        (f"{API}/experiments/set-experiment-tag", {"experiment_id": eid, "key": "t", "value": "1"}),
    ]
    manage = [
        (f"{API}/runs/delete", {"run_id": run_id}),
        (f"{API}/runs/restore", {"run_id": run_id}),
        (f"{API}/experiments/delete", {"experiment_id": eid}),
        (
            "/api/2.0/ledgerflow/grants/create",
            {
                "resource_type": "experiment",
                "resource": eid,
                "principal_type": "user",
                "principal": "viewer",
                "role": "manager",
            },
        ),
    ]
    for path, body in writes + manage:
        answer = client.post(path, json=body, headers=viewer)
        assert answer.status_code == 403 and answer.json()["error_code"] == "PERMISSION_DENIED", path
    # A numeric file name does not make the upload look like another experiment's.
    numeric = f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{run_id}/artifacts/123456.txt"
    assert client.put(numeric, content=b"x", headers=viewer).status_code == 403
    assert client.put(numeric, content=b"x", headers=editor).status_code == 200
    for path, body in writes:
        assert client.post(path, json=body, headers=editor).status_code == 200, path
    for path, body in manage:
        assert client.post(path, json=body, headers=editor).status_code == 403, path
    assert client.get(f"{API}/experiments/get", params={"experiment_id": eid}).status_code == 401


def test_promotion_needs_promote(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, tmp_path: Path
) -> None:
    client = _app(make_client, server_config)
    world = build_world(client, tmp_path)
    name = world.model_name
    editor, promoter = basic("editor"), basic("promoter")
    alias = f"{API}/registered-models/alias"
    stage = f"{API}/model-versions/transition-stage"
    for alias_name in ("champion", "Production"):
        refused = client.post(alias, json={"name": name, "alias": alias_name, "version": "1"}, headers=editor)
        assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert (
        client.post(
            alias, json={"name": name, "alias": "candidate", "version": "1"}, headers=editor
        ).status_code
        == 200
    )
    assert (
        client.post(
            stage,
            json={"name": name, "version": "1", "stage": "Staging", "archive_existing_versions": False},
            headers=editor,
        ).status_code
        == 200
    )
    assert (
        client.post(
            stage,
            json={"name": name, "version": "1", "stage": "Production", "archive_existing_versions": False},
            headers=editor,
        ).status_code
        == 403
    )
    assert (
        client.post(
            stage,
            json={"name": name, "version": "1", "stage": "Production", "archive_existing_versions": False},
            headers=promoter,
        ).status_code
        == 200
    )
    # Out of Production is a promotion decision too.
    assert (
        client.post(
            stage,
            json={"name": name, "version": "1", "stage": "Archived", "archive_existing_versions": False},
            headers=editor,
        ).status_code
        == 403
    )
    assert (
        client.post(
            alias, json={"name": name, "alias": "champion", "version": "1"}, headers=promoter
        ).status_code
        == 200
    )
    deleted = client.request("DELETE", alias, json={"name": name, "alias": "champion"}, headers=editor)
    assert deleted.status_code == 403
    got = ok(client.get(alias, params={"name": name, "alias": "champion"}, headers=editor))
    assert got["model_version"]["version"] == "1"
    records = world.services.audit
    assert records is not None


def test_creator_manages_and_default_is_none(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, tmp_path: Path
) -> None:
    client = _app(make_client, server_config)
    world = build_world(client, tmp_path)
    mine = ok(client.post(f"{API}/experiments/create", json={"name": "editor-own"}, headers=basic("editor")))
    eid = mine["experiment_id"]
    assert (
        client.post(
            f"{API}/experiments/delete", json={"experiment_id": eid}, headers=basic("editor")
        ).status_code
        == 200
    )
    assert (
        client.get(
            f"{API}/experiments/get", params={"experiment_id": eid}, headers=basic("viewer")
        ).status_code
        == 403
    )
    located = client.post(
        f"{API}/experiments/create",
        json={"name": "sneaky", "artifact_location": f"mlflow-artifacts:/{world.experiment_id}"},
        headers=basic("editor"),
    )
    assert located.status_code == 403


def test_grant_and_revoke_on_one_replica_hold_on_the_other(
    make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig
) -> None:
    config = replace(server_config, auth_required=True, revocation_check_seconds=1.0)
    first = make_live_server(config)
    second = make_live_server(config)
    auth = first.app.state.services.auth
    auth.create_user(ADMIN, PASSWORD, is_admin=True)
    auth.create_user("bob", PASSWORD)
    eid = httpx.post(
        f"{first.url}{API}/experiments/create", json={"name": "shared"}, headers=basic(ADMIN)
    ).json()["experiment_id"]
    url = f"{second.url}{API}/experiments/get"

    def status() -> int:
        return httpx.get(url, params={"experiment_id": eid}, headers=basic("bob")).status_code

    assert status() == 403
    grant = {
        "resource_type": "experiment",
        "resource": eid,
        "principal_type": "user",
        "principal": "bob",
        "role": "viewer",
    }
    assert (
        httpx.post(
            f"{first.url}/api/2.0/ledgerflow/grants/create", json=grant, headers=basic(ADMIN)
        ).status_code
        == 200
    )
    deadline = time.monotonic() + 1.5
    while status() != 200:
        assert time.monotonic() < deadline, "the grant did not reach the other replica"
        time.sleep(0.1)
    del grant["role"]
    assert (
        httpx.post(
            f"{first.url}/api/2.0/ledgerflow/grants/delete", json=grant, headers=basic(ADMIN)
        ).status_code
        == 200
    )
    deadline = time.monotonic() + 1.5
    while status() != 403:
        assert time.monotonic() < deadline, "the revocation did not reach the other replica"
        time.sleep(0.1)
