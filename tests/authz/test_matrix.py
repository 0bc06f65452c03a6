"""The authorization matrix, generated from the route table: every route of the app, for a
viewer, an editor, a promoter, an evaluator, a manager, an admin and a user with no grant, is let through
or refused exactly as the table says; a refusal changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.security.authz import permissions as perm
from ledgerflow.security.authz import route_permissions as rp
from ledgerflow.security.authz.enforce import DENIED, route_requirements
from tests.authz.support import ADMIN, World, basic, build_world, snapshot

GUARD_DENIAL = {"error_code": "PERMISSION_DENIED", "message": DENIED}
WHO = ("viewer", "editor", "promoter", "evaluator", "manager", ADMIN, "nobody")
# Deleting routes run last, so that what they remove is there for every other route.
_LAST = re.compile(r"delete|DELETE")


def expected_allowed(requirement: rp.Requirement, who: str) -> bool:
    if requirement.access in (rp.PUBLIC, rp.AUTHENTICATED, rp.FILTERED) or who == ADMIN:
        return True
    if requirement.access == rp.ADMIN:
        return False
    # The generated requests name a protected alias and the Production stage, so every route
    # that can promote needs 'promote'.
    needed = perm.PROMOTE if requirement.promotion else requirement.permission
    return needed in perm.ROLES.get(who, frozenset())


def all_routes(client: TestClient) -> list[tuple[str, str, rp.Requirement]]:
    found = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        assert isinstance(route, (Route, Mount))
        for method, requirement in route_requirements(route).items():
            if method == "HEAD":
                continue
            assert requirement is not None, f"{method} {route.path} has no entry"
            found.append((method, route.path, requirement))
    return sorted(found, key=lambda item: (bool(_LAST.search(item[0] + item[1])), item[1], item[0]))


def make_request(world: World, method: str, template: str, headers: dict[str, str]) -> Any:
    eid, run_id, model = world.experiment_id, world.run_id, world.model_name
    values = {
        "model_id": world.logged_model_id,
        "path": f"{eid}/{run_id}/artifacts/matrix.txt",
        "webhook_id": "none",
        "experiment_id": eid,
        "run_id": run_id,
        "name": model,
        "version": "1",
        "tag_key": "k",
    }
    path = re.sub(r"\{(\w+)(?::path)?\}", lambda m: values[m.group(1)], template)
    if path == "/static":
        path = "/static/style.css"
    fields: dict[str, Any] = {
        "experiment_id": eid,
        "experiment_ids": [eid],
        "experiment_name": "team-exp",
        "run_id": run_id,
        "run_uuid": run_id,
        "run_ids": [run_id],
        "model_id": world.logged_model_id,
        "name": model,
        "version": "1",
        "alias": "champion",
        "stage": "Production",
        "key": "k",
        "value": "v",
        "metric_key": "m",
        "path": f"{eid}/{run_id}/artifacts",
        "artifact_file_path": "a.txt",
        "resource_type": "experiment",
        "resource": eid,
    }
    client = world.client
    if not rp.is_rest(template) or method == "GET":
        params = {k: v for k, v in fields.items() if not isinstance(v, list)}
        return client.request(
            method, path, params=params, headers=headers, content=b"bytes", follow_redirects=False
        )
    return client.request(method, path, json=fields, headers=headers, follow_redirects=False)


@pytest.mark.parametrize("who", WHO)
def test_matrix(who: str, make_client: Callable[[ServerConfig], TestClient], tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'm.db'}",
        artifacts_destination=str(artifacts),
        auth_required=True,
    )
    world = build_world(make_client(replace(config)), artifacts)
    headers = basic(who)
    wrong = []
    for method, template, requirement in all_routes(world.client):
        allowed = expected_allowed(requirement, who)
        before = snapshot(world) if not allowed else None
        response = make_request(world, method, template, headers)
        body = response.json() if response.headers.get("content-type") == "application/json" else None
        # The auth middleware refuses the user-admin routes earlier, on the credential's scope.
        refused = response.status_code == 403 and (
            body == GUARD_DENIAL or (body or {}).get("message", "").startswith("This credential lacks")
        )
        if allowed == refused:
            wrong.append(f"{who}: {method} {template} -> {response.status_code} {response.text[:120]}")
        elif not allowed and snapshot(world) != before:
            wrong.append(f"{who}: {method} {template} was refused but changed something")
    assert wrong == []
