"""Renaming a registered model that holds a protected target (a protected alias, a version in
Production) is gated like deleting it: references (``models:/<name>@champion``), signatures
and policy scopes go by the name. It needs ``promote``; with the promotion gate on it is refused
(403 naming break-glass, audited ``promotion.refused``) until a break-glass has removed the
target; without the gate it is refused when the new name leaves the scope of a policy in force
for the target. Nothing is renamed on a refusal. Through our API and the stock mlflow 3 client.

Archiving a version that holds a protected alias demotes the champion: it needs ``promote``."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.errors import PermissionDenied
from ledgerflow.security.auth.identity import Identity, bind_identity
from tests.conftest import LiveServer
from tests.governance.policy.support import ADMIN, LF, PASSWORD, POLICY, World, build_world, ok

_RM = "/api/2.0/mlflow/registered-models"
_MV = "/api/2.0/mlflow/model-versions"
MLFLOW3 = Path(__file__).resolve().parents[3] / ".venvs/mlflow3/bin/python"


def _exists(world: World, name: str) -> bool:
    return world.call(ADMIN, "GET", f"{_RM}/get", {"name": name}).status_code == 200


def _rename(world: World, user: str, new_name: str, name: str | None = None) -> Any:
    return world.call(user, "POST", f"{_RM}/rename", {"name": name or world.model, "new_name": new_name})


def _break_glass(world: World, version: int, target: str) -> None:
    body = {"name": world.model, "version": str(version), "target": target, "reason": "setup"}
    ok(world.call(ADMIN, "POST", f"{LF}/promotions/break-glass", body))


def _refusals(world: World) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(
        world.call(ADMIN, "GET", f"{LF}/audit/records", {"action": "promotion.refused"})
    ).get("records", [])
    return found


def _denied(response: Any) -> str:
    assert response.status_code == 403, response.text
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    return str(response.json()["message"])


def _user(world: World, username: str, role: str) -> Identity:
    world.services.auth.create_user(username, PASSWORD)
    world.services.authz.grant("registered_model", world.model, "user", username, role, actor=None)
    [found] = [u for u in world.services.auth.list_users() if u["username"] == username]
    return Identity(user_id=str(found["user_id"]), username=username, scopes=frozenset({"read", "write"}))


def test_with_the_gate_a_model_holding_the_champion_or_production_is_not_renamed(world: World) -> None:
    champion = world.new_version()
    _break_glass(world, champion, "alias:champion")
    message = _denied(_rename(world, "dave", "zz-renamed"))
    assert "alias 'champion' (version" in message and "break-glass" in message
    assert '"target": "alias:champion", "remove": true' in message
    # Not even an administrator renames it directly, as with deleting it.
    _denied(_rename(world, ADMIN, "credit-default-v2"))
    assert _exists(world, world.model) and not _exists(world, "zz-renamed")
    found = world.call(ADMIN, "GET", f"{_RM}/alias", {"name": world.model, "alias": "champion"})
    assert found.json()["model_version"]["version"] == str(champion)
    refusals = json.dumps(_refusals(world))
    assert "rename_registered_model" in refusals and "zz-renamed" in refusals
    # The alias removed by break-glass, Production still holds: the rename waits for that too.
    ok(world.call(ADMIN, "POST", f"{LF}/promotions/break-glass",
                  {"name": world.model, "target": "alias:champion", "remove": True, "reason": "retire"}))  # fmt: skip
    production = world.new_version()
    _break_glass(world, production, "stage:Production")
    by_stage = _denied(_rename(world, "dave", "zz-renamed"))
    assert "stage 'Production'" in by_stage and f'"version": "{production}"' in by_stage
    ok(world.call(ADMIN, "POST", f"{LF}/promotions/break-glass",
                  {"name": world.model, "target": "stage:Production", "remove": True,
                   "version": str(production), "reason": "retire"}))  # fmt: skip
    # Nothing protected held: a manager renames as before, and unprotected aliases follow.
    ok(
        world.call(
            "dave", "POST", f"{_RM}/alias", {"name": world.model, "alias": "candidate", "version": "1"}
        )
    )
    ok(_rename(world, "dave", "zz-renamed"))
    assert not _exists(world, world.model)
    moved = world.call(ADMIN, "GET", f"{_RM}/alias", {"name": "zz-renamed", "alias": "candidate"})
    assert moved.json()["model_version"]["version"] == "1"


def test_without_the_gate_a_rename_may_not_leave_a_policy_scope_and_needs_promote(
    make_client: Callable[[ServerConfig], TestClient], governed_config: ServerConfig
) -> None:
    world = build_world(make_client(dataclasses.replace(governed_config, promotion_gate=False)))
    champion = world.new_version()
    ok(world.call("dave", "POST", f"{_RM}/alias",
                  {"name": world.model, "alias": "champion", "version": str(champion)}))  # fmt: skip
    # No policy in force yet: a manager renames a champion-holding model as before.
    ok(_rename(world, "dave", "credit-first"))
    ok(_rename(world, "dave", world.model, name="credit-first"))
    ok(world.upload_policy(POLICY))  # scope: credit-*, alias:champion and stage:Production
    message = _denied(_rename(world, "dave", "zz-renamed"))
    assert "out of the scope of the policy 'credit-prod'" in message and "alias 'champion'" in message
    assert not _exists(world, "zz-renamed")
    assert "rename_registered_model" in json.dumps(_refusals(world))
    # Staying in the scope (or entering a stricter one) is fine.
    ok(_rename(world, "dave", "credit-default-v2"))
    ok(_rename(world, "dave", world.model, name="credit-default-v2"))
    # A caller without promote (straight through the service: every role with manage holds
    # promote today) cannot move the champion by renaming, even within the scope.
    editor = _user(world, "frank", "editor")
    with bind_identity(editor), pytest.raises(PermissionDenied, match="needs 'promote' on the model"):
        world.services.registry.models.rename(world.model, "credit-default-v3")
    assert _exists(world, world.model) and not _exists(world, "credit-default-v3")
    # The alias deleted (needs promote; dave has it), the model leaves the scope freely.
    ok(world.call("dave", "DELETE", f"{_RM}/alias", {"name": world.model, "alias": "champion"}))
    ok(_rename(world, "dave", "zz-renamed"))


def test_archiving_the_champion_needs_promote(world: World) -> None:
    champion = world.new_version()
    _break_glass(world, champion, "alias:champion")
    _user(world, "erin", "editor")
    archive = {
        "name": world.model,
        "version": str(champion),
        "stage": "Archived",
        "archive_existing_versions": False,
    }
    message = _denied(world.call("erin", "POST", f"{_MV}/transition-stage", archive))
    assert "holds the alias 'champion'" in message and "needs 'promote'" in message
    stage = world.call(ADMIN, "GET", f"{_MV}/get", {"name": world.model, "version": str(champion)})
    assert stage.json()["model_version"]["current_stage"] == "None"
    assert "archive_model_version" in json.dumps(_refusals(world))
    # The editor still archives a version that holds nothing protected, and moves the champion
    # to another stage; a manager (promote) archives the champion.
    spare = world.new_version()
    ok(world.call("erin", "POST", f"{_MV}/transition-stage", {**archive, "version": str(spare)}))
    ok(world.call("erin", "POST", f"{_MV}/transition-stage", {**archive, "stage": "Staging"}))
    ok(world.call("dave", "POST", f"{_MV}/transition-stage", archive))


@pytest.mark.compat
def test_stock_mlflow_client_cannot_rename_the_model_holding_the_champion(
    make_live_server: Callable[[ServerConfig], LiveServer], governed_config: ServerConfig, tmp_path: Path
) -> None:
    live = make_live_server(governed_config)
    world = build_world(TestClient(live.app))
    _break_glass(world, world.new_version(), "alias:champion")
    ok(world.call("dave", "POST", f"{_RM}/create", {"name": "credit-plain"}))
    script = (
        "import os\n"
        "from mlflow.exceptions import MlflowException\n"
        "from mlflow import MlflowClient\n"
        "c = MlflowClient()\n"
        "for old, new in ((os.environ['MODEL'], 'zz-renamed'), ('credit-plain', 'zz-plain')):\n"
        "    try:\n"
        "        c.rename_registered_model(old, new)\n"
        "        print('RESULT', old, 'renamed')\n"
        "    except MlflowException as e:\n"
        "        print('RESULT', old, e.error_code, 'break-glass' in e.message)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": live.url,
        "MLFLOW_TRACKING_USERNAME": "dave",
        "MLFLOW_TRACKING_PASSWORD": PASSWORD,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GIT_PYTHON_REFRESH": "quiet",
        "MODEL": world.model,
    }
    done = subprocess.run(
        [str(MLFLOW3), "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    results = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert results == [[world.model, "PERMISSION_DENIED", "True"], ["credit-plain", "renamed"]]
    assert _exists(world, world.model) and not _exists(world, "zz-renamed")
    found = world.call(ADMIN, "GET", f"{_RM}/alias", {"name": world.model, "alias": "champion"})
    assert found.json()["model_version"]["current_stage"] == "None"
