"""BC-55: creating and managing users is for administrators; groups and grants likewise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.authz.support import ADMIN, basic, build_world

LF = "/api/2.0/ledgerflow"


def test_user_and_group_administration_is_admin_only(
    make_client: Callable[[ServerConfig], TestClient], tmp_path: Path
) -> None:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'u.db'}",
        artifacts_destination=str(tmp_path / "a"),
        auth_required=True,
    )
    client = make_client(config)
    build_world(client, tmp_path / "a")
    new_user = {"username": "x-user", "password": "Another-Strong-Pass-1"}
    anonymous = client.post(f"{LF}/users/create", json=new_user)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
    for path, body in [
        ("users/create", new_user),
        ("users/disable", {"username": "viewer"}),
        ("groups/create", {"name": "g"}),
        ("groups/members/add", {"group": "g", "username": "nobody"}),
    ]:
        refused = client.post(f"{LF}/{path}", json=body, headers=basic("manager"))
        assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED", path
    assert client.get(f"{LF}/users/list", headers=basic("manager")).status_code == 403
    assert client.get(f"{LF}/grants/list", headers=basic("manager")).status_code == 403
    assert client.post(f"{LF}/users/create", json=new_user, headers=basic(ADMIN)).status_code == 200
    assert client.post(f"{LF}/groups/create", json={"name": "g"}, headers=basic(ADMIN)).status_code == 200
    added = client.post(
        f"{LF}/groups/members/add", json={"group": "g", "username": "nobody"}, headers=basic(ADMIN)
    )
    assert added.status_code == 200
    groups = client.get(f"{LF}/groups/list", headers=basic(ADMIN)).json()["groups"]
    assert groups == [{"name": "g", "creation_time": groups[0]["creation_time"], "members": ["nobody"]}]
    # Denials are in the audit trail.
    records = client.get(f"{LF}/audit/records", params={"action": "authz.denied"}, headers=basic(ADMIN))
    assert records.status_code == 200 and records.json().get("records"), records.text


def test_manager_grants_on_own_resource_only(
    make_client: Callable[[ServerConfig], TestClient], tmp_path: Path
) -> None:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'g.db'}",
        artifacts_destination=str(tmp_path / "a"),
        auth_required=True,
    )
    client = make_client(config)
    world = build_world(client, tmp_path / "a")
    grant = {
        "resource_type": "experiment",
        "resource": world.experiment_id,
        "principal_type": "user",
        "principal": "nobody",
        "role": "viewer",
    }
    assert client.post(f"{LF}/grants/create", json=grant, headers=basic("editor")).status_code == 403
    assert client.post(f"{LF}/grants/create", json=grant, headers=basic("manager")).status_code == 200
    params = {"experiment_id": world.experiment_id}
    assert (
        client.get("/api/2.0/mlflow/experiments/get", params=params, headers=basic("nobody")).status_code
        == 200
    )
    listed = client.get(
        f"{LF}/grants/list",
        params={"resource_type": "experiment", "resource": world.experiment_id},
        headers=basic("manager"),
    ).json()["grants"]
    assert {(g["principal"], g["role"]) for g in listed} >= {("nobody", "viewer"), ("manager", "manager")}
