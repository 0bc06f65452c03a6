"""MLflow's basic-auth administration API (users, experiment and registered-model permissions)
over HTTP and through the stock mlflow client's ``AuthServiceClient`` (what
``get_app_client("basic-auth")`` returns)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.auth.conftest import ADMIN, ALICE, basic
from tests.conftest import LiveServer

BOB = ("bob", "Builder-Strong-Passw0rd")
BOB_NEW = "Second-Strong-Passw0rd!"
U = "/api/2.0/mlflow/users"
EP = "/api/2.0/mlflow/experiments/permissions"
RP = "/api/2.0/mlflow/registered-models/permissions"


@pytest.fixture
def app(make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig) -> TestClient:
    client = make_client(replace(server_config, auth_required=True))
    auth = client.app.state.services.auth  # type: ignore[attr-defined]
    auth.create_user(*ADMIN, is_admin=True)
    auth.create_user(*ALICE)
    return client


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code


def test_user_lifecycle(app: TestClient) -> None:
    admin, alice = basic(*ADMIN), basic(*ALICE)
    made = ok(app.post(f"{U}/create", json={"username": BOB[0], "password": BOB[1]}, headers=admin))["user"]
    assert made["username"] == "bob" and made["is_admin"] is False and made["id"]
    assert made["experiment_permissions"] == [] and made["registered_model_permissions"] == []
    refused(
        app.post(f"{U}/create", json={"username": "x1", "password": BOB[1]}, headers=alice),
        403,
        "PERMISSION_DENIED",
    )
    refused(
        app.post(f"{U}/create", json={"username": "bob", "password": BOB[1]}, headers=admin),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    refused(
        app.post(f"{U}/create", json={"username": "weak", "password": "short"}, headers=admin),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    bob = basic(*BOB)
    assert ok(app.get(f"{U}/get", params={"username": "bob"}, headers=bob))["user"]["username"] == "bob"
    refused(app.get(f"{U}/get", params={"username": "alice"}, headers=bob), 403, "PERMISSION_DENIED")
    refused(app.get(f"{U}/get", params={"username": "ghost"}, headers=admin), 404, "RESOURCE_DOES_NOT_EXIST")

    # Self-service needs the current password; an admin does not.
    new = BOB_NEW
    refused(
        app.patch(f"{U}/update-password", json={"username": "bob", "password": new}, headers=bob),
        403,
        "PERMISSION_DENIED",
    )
    refused(
        app.patch(
            f"{U}/update-password",
            json={"username": "bob", "password": new, "current_password": "wrong-one-12"},
            headers=bob,
        ),
        403,
        "PERMISSION_DENIED",
    )
    refused(
        app.patch(f"{U}/update-password", json={"username": "alice", "password": new}, headers=bob),
        403,
        "PERMISSION_DENIED",
    )
    ok(
        app.patch(
            f"{U}/update-password",
            json={"username": "bob", "password": new, "current_password": BOB[1]},
            headers=bob,
        )
    )
    assert app.get(f"{U}/get", params={"username": "bob"}, headers=bob).status_code == 401
    bob = basic("bob", new)
    ok(app.get(f"{U}/get", params={"username": "bob"}, headers=bob))
    ok(app.patch(f"{U}/update-password", json={"username": "bob", "password": BOB[1]}, headers=admin))
    bob = basic(*BOB)

    # Promotion to admin takes effect at once on this replica (cached credentials included).
    refused(
        app.patch(f"{U}/update-admin", json={"username": "bob", "is_admin": True}, headers=alice),
        403,
        "PERMISSION_DENIED",
    )
    refused(app.get("/api/2.0/ledgerflow/users/list", headers=bob), 403, "PERMISSION_DENIED")
    ok(app.patch(f"{U}/update-admin", json={"username": "bob", "is_admin": True}, headers=admin))
    assert ok(app.get(f"{U}/get", params={"username": "bob"}, headers=admin))["user"]["is_admin"] is True
    ok(app.get("/api/2.0/ledgerflow/users/list", headers=bob))
    ok(app.patch(f"{U}/update-admin", json={"username": "bob", "is_admin": False}, headers=admin))
    refused(app.get("/api/2.0/ledgerflow/users/list", headers=bob), 403, "PERMISSION_DENIED")
    refused(
        app.patch(f"{U}/update-admin", json={"username": ADMIN[0], "is_admin": False}, headers=admin),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    refused(
        app.patch(f"{U}/update-admin", json={"username": "bob"}, headers=admin),
        400,
        "INVALID_PARAMETER_VALUE",
    )

    # Delete: the user and every credential stop working; admins only; never yourself.
    refused(
        app.request("DELETE", f"{U}/delete", json={"username": "bob"}, headers=alice),
        403,
        "PERMISSION_DENIED",
    )
    refused(
        app.request("DELETE", f"{U}/delete", json={"username": ADMIN[0]}, headers=admin),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    ok(app.request("DELETE", f"{U}/delete", json={"username": "bob"}, headers=admin))
    assert app.get(f"{U}/get", params={"username": "bob"}, headers=bob).status_code == 401
    refused(app.get(f"{U}/get", params={"username": "bob"}, headers=admin), 404, "RESOURCE_DOES_NOT_EXIST")
    refused(
        app.request("DELETE", f"{U}/delete", json={"username": "bob"}, headers=admin),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_experiment_permissions_are_for_its_managers(app: TestClient) -> None:
    admin, alice = basic(*ADMIN), basic(*ALICE)
    ok(app.post(f"{U}/create", json={"username": BOB[0], "password": BOB[1]}, headers=admin))
    bob = basic(*BOB)
    eid = ok(app.post("/api/2.0/mlflow/experiments/create", json={"name": "alices"}, headers=alice))[
        "experiment_id"
    ]
    refused(
        app.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": eid}, headers=bob),
        403,
        "PERMISSION_DENIED",
    )
    # Bob holds nothing on it, so he cannot grant himself anything.
    refused(
        app.post(
            f"{EP}/create",
            json={"experiment_id": eid, "username": "bob", "permission": "MANAGE"},
            headers=bob,
        ),
        403,
        "PERMISSION_DENIED",
    )
    made = ok(
        app.post(
            f"{EP}/create",
            json={"experiment_id": eid, "username": "bob", "permission": "READ"},
            headers=alice,
        )
    )
    assert made["experiment_permission"]["experiment_id"] == eid
    assert made["experiment_permission"]["permission"] == "READ"
    refused(
        app.post(
            f"{EP}/create",
            json={"experiment_id": eid, "username": "bob", "permission": "EDIT"},
            headers=alice,
        ),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    ok(app.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": eid}, headers=bob))
    refused(
        app.post("/api/2.0/mlflow/runs/create", json={"experiment_id": eid}, headers=bob),
        403,
        "PERMISSION_DENIED",
    )
    # A reader is no manager: he cannot read or change the grants either.
    refused(
        app.get(f"{EP}/get", params={"experiment_id": eid, "username": "bob"}, headers=bob),
        403,
        "PERMISSION_DENIED",
    )
    got = ok(app.get(f"{EP}/get", params={"experiment_id": eid, "username": "bob"}, headers=alice))
    assert got["experiment_permission"]["permission"] == "READ"
    ok(
        app.patch(
            f"{EP}/update",
            json={"experiment_id": eid, "username": "bob", "permission": "EDIT"},
            headers=alice,
        )
    )
    ok(app.post("/api/2.0/mlflow/runs/create", json={"experiment_id": eid}, headers=bob))
    user = ok(app.get(f"{U}/get", params={"username": "bob"}, headers=admin))["user"]
    assert {"experiment_id": eid, "user_id": user["id"], "permission": "EDIT"} in user[
        "experiment_permissions"
    ]
    refused(
        app.patch(
            f"{EP}/update",
            json={"experiment_id": eid, "username": "bob", "permission": "NO_PERMISSIONS"},
            headers=alice,
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    refused(
        app.patch(
            f"{EP}/update",
            json={"experiment_id": eid, "username": "bob", "permission": "OWNER"},
            headers=alice,
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    ok(app.request("DELETE", f"{EP}/delete", json={"experiment_id": eid, "username": "bob"}, headers=alice))
    refused(
        app.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": eid}, headers=bob),
        403,
        "PERMISSION_DENIED",
    )
    refused(
        app.get(f"{EP}/get", params={"experiment_id": eid, "username": "bob"}, headers=alice),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    refused(
        app.request("DELETE", f"{EP}/delete", json={"experiment_id": eid, "username": "bob"}, headers=alice),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    refused(
        app.post(
            f"{EP}/create",
            json={"experiment_id": eid, "username": "ghost", "permission": "READ"},
            headers=alice,
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    # Every change is in the audit trail.
    records = ok(app.get("/api/2.0/ledgerflow/audit/records", params={"max_results": 500}, headers=admin))
    actions = {r["action"] for r in records.get("records", [])}
    assert {"authz.grant", "authz.revoke"} <= actions


def test_registered_model_permissions(app: TestClient) -> None:
    admin, alice = basic(*ADMIN), basic(*ALICE)
    ok(app.post(f"{U}/create", json={"username": BOB[0], "password": BOB[1]}, headers=admin))
    bob = basic(*BOB)
    ok(app.post("/api/2.0/mlflow/registered-models/create", json={"name": "fraud"}, headers=alice))
    refused(
        app.get("/api/2.0/mlflow/registered-models/get", params={"name": "fraud"}, headers=bob),
        403,
        "PERMISSION_DENIED",
    )
    refused(
        app.post(
            f"{RP}/create", json={"name": "fraud", "username": "bob", "permission": "READ"}, headers=bob
        ),
        403,
        "PERMISSION_DENIED",
    )
    made = ok(
        app.post(
            f"{RP}/create", json={"name": "fraud", "username": "bob", "permission": "READ"}, headers=alice
        )
    )
    assert made["registered_model_permission"] == {
        "name": "fraud",
        "user_id": made["registered_model_permission"]["user_id"],
        "permission": "READ",
    }
    ok(app.get("/api/2.0/mlflow/registered-models/get", params={"name": "fraud"}, headers=bob))
    ok(
        app.patch(
            f"{RP}/update", json={"name": "fraud", "username": "bob", "permission": "MANAGE"}, headers=alice
        )
    )
    assert (
        ok(app.get(f"{RP}/get", params={"name": "fraud", "username": "bob"}, headers=bob))[
            "registered_model_permission"
        ]["permission"]
        == "MANAGE"
    )
    user = ok(app.get(f"{U}/get", params={"username": "bob"}, headers=bob))["user"]
    assert [p["name"] for p in user["registered_model_permissions"]] == ["fraud"]
    ok(app.request("DELETE", f"{RP}/delete", json={"name": "fraud", "username": "bob"}, headers=alice))
    refused(
        app.get("/api/2.0/mlflow/registered-models/get", params={"name": "fraud"}, headers=bob),
        403,
        "PERMISSION_DENIED",
    )
    refused(
        app.get(f"{RP}/get", params={"name": "nope", "username": "bob"}, headers=admin),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


ADMIN_SCRIPT = r"""
import importlib.util, json, os, sys, types
from mlflow.exceptions import MlflowException

# mlflow.server.auth's package __init__ builds MLflow's own Flask auth app (it needs Flask-WTF,
# which this environment lacks); the admin client module does not. Import the stock client
# module unchanged, without running that app setup.
spec = importlib.util.find_spec("mlflow.server")
package = types.ModuleType("mlflow.server.auth")
package.__path__ = [os.path.join(os.path.dirname(spec.origin), "auth")]
sys.modules["mlflow.server.auth"] = package
from mlflow.server.auth.client import AuthServiceClient
from mlflow.utils.rest_utils import http_request, verify_rest_response
from mlflow.utils.credentials import get_default_host_creds
from mlflow.tracking import MlflowClient

uri = os.environ["MLFLOW_TRACKING_URI"]
auth = AuthServiceClient(uri)  # what get_app_client("basic-auth", tracking_uri=uri) returns
out = {}
user = auth.create_user("dana", "Strong-First-Passw0rd")
out["created"] = [user.username, user.is_admin]
out["got"] = auth.get_user("dana").username
auth.update_user_password("dana", "Strong-Other-Passw0rd!")
auth.update_user_admin("dana", True)
out["admin"] = auth.get_user("dana").is_admin
auth.update_user_admin("dana", False)
eid = MlflowClient().create_experiment("scripted")
creds = get_default_host_creds(uri)

def call(path, method, **kw):
    resp = http_request(creds, "/api/2.0/mlflow/" + path, method, **kw)
    return verify_rest_response(resp, path).json()

# The exact requests MLflow 2.x's AuthServiceClient makes for grants.
made = call("experiments/permissions/create", "POST", json={"experiment_id": eid, "username": "dana", "permission": "READ"})
out["exp_perm"] = made["experiment_permission"]["permission"]
call("experiments/permissions/update", "PATCH", json={"experiment_id": eid, "username": "dana", "permission": "EDIT"})
out["exp_get"] = call("experiments/permissions/get", "GET", params={"experiment_id": eid, "username": "dana"})["experiment_permission"]["permission"]
MlflowClient().create_registered_model("scripted-model")
call("registered-models/permissions/create", "POST", json={"name": "scripted-model", "username": "dana", "permission": "MANAGE"})
out["rm_get"] = call("registered-models/permissions/get", "GET", params={"name": "scripted-model", "username": "dana"})["registered_model_permission"]["permission"]
call("registered-models/permissions/delete", "DELETE", json={"name": "scripted-model", "username": "dana"})
call("experiments/permissions/delete", "DELETE", json={"experiment_id": eid, "username": "dana"})
auth.delete_user("dana")
try:
    auth.get_user("dana")
    out["after_delete"] = "found"
except MlflowException as error:
    out["after_delete"] = error.error_code
print("RESULT " + json.dumps(out))
"""


def test_stock_mlflow_auth_client_administers_the_server(
    make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig, tmp_path: Path
) -> None:
    live = make_live_server(replace(server_config, auth_required=True))
    live.app.state.services.auth.create_user(*ADMIN, is_admin=True)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": live.url,
        "MLFLOW_TRACKING_USERNAME": ADMIN[0],
        "MLFLOW_TRACKING_PASSWORD": ADMIN[1],
    }
    done = subprocess.run(
        [sys.executable, "-c", ADMIN_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result == {
        "created": ["dana", False],
        "got": "dana",
        "admin": True,
        "exp_perm": "READ",
        "exp_get": "EDIT",
        "rm_get": "MANAGE",
        "after_delete": "RESOURCE_DOES_NOT_EXIST",
    }
