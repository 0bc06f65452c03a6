"""A small world for authorization tests: users per role, one experiment with a run, an
artifact and a logged model, one registered model with a version; plus a state snapshot."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.store import schema

PASSWORD = "Matrix-Password-Strong-1"
ROLES = ("viewer", "editor", "manager", "promoter", "evaluator")
ADMIN = "root"


def basic(username: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class World:
    client: TestClient
    experiment_id: str
    run_id: str
    logged_model_id: str
    model_name: str
    artifact_root: Path

    @property
    def services(self) -> Any:
        return self.client.app.state.services  # type: ignore[attr-defined]


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def build_world(client: TestClient, artifact_root: Path, *, prefix: str = "team") -> World:
    """Made by the admin; every role user gets its role on both the experiment and the model."""
    services = client.app.state.services  # type: ignore[attr-defined]
    auth = services.auth
    if not auth.list_users():
        auth.create_user(ADMIN, PASSWORD, is_admin=True)
        for name in (*ROLES, "nobody"):
            auth.create_user(name, PASSWORD)
    admin = basic(ADMIN)
    eid = ok(
        client.post("/api/2.0/mlflow/experiments/create", json={"name": f"{prefix}-exp"}, headers=admin)
    )["experiment_id"]
    run = ok(client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": eid}, headers=admin))["run"]
    run_id = run["info"]["run_id"]
    ok(
        client.post(
            "/api/2.0/mlflow/runs/log-metric",
            json={"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": 0},
            headers=admin,
        )
    )
    uploaded = client.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{run_id}/artifacts/a.txt", content=b"hello", headers=admin
    )
    assert uploaded.status_code == 200, uploaded.text
    model = ok(
        client.post("/api/2.0/mlflow/logged-models", json={"experiment_id": eid, "name": "lm"}, headers=admin)
    )
    name = f"{prefix}-model"
    ok(client.post("/api/2.0/mlflow/registered-models/create", json={"name": name}, headers=admin))
    ok(
        client.post(
            "/api/2.0/mlflow/model-versions/create",
            json={
                "name": name,
                "source": f"mlflow-artifacts:/{eid}/{run_id}/artifacts/model",
                "run_id": run_id,
            },
            headers=admin,
        )
    )
    for role in ROLES:
        services.authz.grant("experiment", eid, "user", role, role, actor=None)
        services.authz.grant("registered_model", name, "user", role, role, actor=None)
    return World(client, eid, run_id, model["model"]["info"]["model_id"], name, artifact_root)


_WATCHED = (
    schema.experiments,
    schema.experiment_tags,
    schema.runs,
    schema.params,
    schema.tags,
    schema.metrics,
    schema.logged_models,
    schema.logged_model_tags,
    schema.logged_model_params,
    schema.registered_models,
    schema.registered_model_tags,
    schema.model_versions,
    schema.model_version_tags,
    schema.registered_model_aliases,
    schema.resource_grants,
    schema.user_groups,
    schema.user_group_members,
    schema.webhooks,
)


def snapshot(world: World) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was: tracking and registry rows, grants,
    groups, webhooks, and the artifact files."""
    with world.services.db.read() as conn:
        rows = tuple(
            tuple(sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table))))
            for table in _WATCHED
        )
    files = tuple(sorted(str(p.relative_to(world.artifact_root)) for p in world.artifact_root.rglob("*")))
    return (*rows, files)
