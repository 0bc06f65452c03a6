"""The Production stage is as protected as a protected alias when something would un-set it.

With the promotion gate on, deleting the version in Production, deleting the model holding it,
or moving the version to another stage is refused (403 PERMISSION_DENIED naming break-glass,
audited ``promotion.refused``) and nothing changes; break-glass ``{"remove": true, "target":
"stage:Production", "version": N}`` archives it with a reason (high-severity audit, webhook).
With or without the gate, un-setting a protected target by a delete needs ``promote`` on the
model, as demoting it does. Through our API and the stock mlflow client."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.errors import PermissionDenied
from ledgerflow.registry.events import RegistryEvent
from ledgerflow.security.auth.identity import Identity, bind_identity
from tests.conftest import LiveServer
from tests.governance.policy.support import ADMIN, LF, PASSWORD, World, build_world, ok

_RM = "/api/2.0/mlflow/registered-models"
_MV = "/api/2.0/mlflow/model-versions"


def _stage(world: World, version: int) -> str | None:
    found = world.call(ADMIN, "GET", f"{_MV}/get", {"name": world.model, "version": str(version)})
    return str(found.json()["model_version"]["current_stage"]) if found.status_code == 200 else None


def _to_production(world: World) -> int:
    """A version in Production (through break-glass: the gate lets nothing else put it there)."""
    version = world.new_version()
    body = {"name": world.model, "version": str(version), "target": "stage:Production", "reason": "setup"}
    ok(world.call(ADMIN, "POST", f"{LF}/promotions/break-glass", body))
    assert _stage(world, version) == "Production"
    return version


def _records(world: World, action: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(world.call(ADMIN, "GET", f"{LF}/audit/records", {"action": action})).get(
        "records", []
    )
    return found


def _denied(response: Any) -> str:
    assert response.status_code == 403, response.text
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    return str(response.json()["message"])


def test_deleting_or_demoting_the_production_version_is_refused(world: World) -> None:
    version = _to_production(world)
    by_version = _denied(
        world.call("dave", "DELETE", f"{_MV}/delete", {"name": world.model, "version": str(version)})
    )
    assert "stage 'Production'" in by_version and "deleting the version" in by_version
    assert (
        '"target": "stage:Production", "remove": true' in by_version
        and f'"version": "{version}"' in by_version
    )
    _denied(world.call(ADMIN, "DELETE", f"{_RM}/delete", {"name": world.model}))
    demoted = world.call(
        "dave",
        "POST",
        f"{_MV}/transition-stage",
        {
            "name": world.model,
            "version": str(version),
            "stage": "Archived",
            "archive_existing_versions": False,
        },
    )
    assert "moving the version to another stage" in _denied(demoted)
    assert _stage(world, version) == "Production"
    refusals = json.dumps(_records(world, "promotion.refused"))
    for operation in ("delete_model_version", "delete_registered_model", "transition_stage"):
        assert operation in refusals
    assert "stage:Production" in refusals
    assert _records(world, "registry.delete_model_version") == []
    # Other versions and other stages are unaffected.
    spare = world.new_version()
    ok(world.call("dave", "POST", f"{_MV}/transition-stage",
                  {"name": world.model, "version": str(spare), "stage": "Staging", "archive_existing_versions": False}))  # fmt: skip
    ok(world.call("dave", "DELETE", f"{_MV}/delete", {"name": world.model, "version": str(spare)}))


def test_break_glass_takes_a_version_out_of_production(world: World) -> None:
    announced: list[RegistryEvent] = []
    world.services.registry.events.subscribe(announced.append)
    version = _to_production(world)
    body = {"name": world.model, "target": "stage:Production", "remove": True, "version": str(version)}
    _denied(world.call("dave", "POST", f"{LF}/promotions/break-glass", {**body, "reason": "x"}))
    assert world.call(ADMIN, "POST", f"{LF}/promotions/break-glass", body).status_code == 400  # no reason
    unnamed = world.call(
        ADMIN, "POST", f"{LF}/promotions/break-glass", {**body, "version": None, "reason": "x"}
    )
    assert unnamed.status_code == 400 and "version" in unnamed.json()["message"]
    other = world.new_version()
    not_there = world.call(
        ADMIN, "POST", f"{LF}/promotions/break-glass", {**body, "version": str(other), "reason": "x"}
    )
    assert not_there.status_code == 400 and "not in Production" in not_there.json()["message"]

    done = ok(world.call(ADMIN, "POST", f"{LF}/promotions/break-glass", {**body, "reason": "incident 9"}))
    assert done["promotion"]["target"] == "stage:Production" and done["promotion"]["operation"] == "remove"
    assert _stage(world, version) == "Archived"
    assert "incident 9" in json.dumps(_records(world, "promotion.break_glass"))
    glass = [e for e in announced if e.name == "promotion.break_glass"]
    assert glass and glass[-1].data["reason"] == "incident 9" and glass[-1].data["severity"] == "high"
    # Nothing protected is held any more: the version and the model delete as before.
    ok(world.call("dave", "DELETE", f"{_MV}/delete", {"name": world.model, "version": str(version)}))
    ok(world.call(ADMIN, "DELETE", f"{_RM}/delete", {"name": world.model}))


def test_without_the_gate_a_manager_deletes_and_the_promote_check_still_holds(
    make_client: Callable[[ServerConfig], TestClient], governed_config: ServerConfig
) -> None:
    world = build_world(make_client(dataclasses.replace(governed_config, promotion_gate=False)))
    version = world.new_version()
    staged = {
        "name": world.model,
        "version": str(version),
        "stage": "Production",
        "archive_existing_versions": False,
    }
    # Neither an editor nor a promoter deletes a version (that needs manage); dave manages the model.
    world.services.auth.create_user("erin", PASSWORD)
    world.services.authz.grant("registered_model", world.model, "user", "erin", "promoter", actor=None)
    ok(world.call("erin", "POST", f"{_MV}/transition-stage", staged))
    _denied(world.call("erin", "DELETE", f"{_MV}/delete", {"name": world.model, "version": str(version)}))
    # Every role with manage holds promote today; the gate checks promote itself all the same, so
    # a caller without it (frank, an editor, straight through the registry service) cannot drop
    # Production by deleting.
    world.services.auth.create_user("frank", PASSWORD)
    world.services.authz.grant("registered_model", world.model, "user", "frank", "editor", actor=None)
    [frank] = [u for u in world.services.auth.list_users() if u["username"] == "frank"]
    editor = Identity(user_id=str(frank["user_id"]), username="frank", scopes=frozenset({"read", "write"}))
    with bind_identity(editor), pytest.raises(PermissionDenied, match="needs 'promote' on the model"):
        world.services.registry.versions.delete(world.model, str(version))
    assert _stage(world, version) == "Production"
    refused = json.dumps(_records(world, "promotion.refused"))
    assert "needs 'promote'" in refused and "stage:Production" in refused
    ok(world.call("dave", "DELETE", f"{_MV}/delete", {"name": world.model, "version": str(version)}))
    assert _stage(world, version) is None


@pytest.mark.compat
def test_stock_mlflow_client_cannot_delete_what_holds_production_or_the_champion(
    make_live_server: Callable[[ServerConfig], LiveServer], governed_config: ServerConfig, tmp_path: Path
) -> None:
    live = make_live_server(governed_config)
    world = build_world(TestClient(live.app))
    in_production = _to_production(world)
    champion = world.new_version()
    ok(world.call(ADMIN, "POST", f"{LF}/promotions/break-glass",
                  {"name": world.model, "version": str(champion), "target": "alias:champion", "reason": "setup"}))  # fmt: skip
    script = (
        "import os\n"
        "from mlflow.exceptions import MlflowException\n"
        "from mlflow import MlflowClient\n"
        "c = MlflowClient()\n"
        "calls = [('v_prod', lambda: c.delete_model_version(os.environ['MODEL'], os.environ['PROD'])),\n"
        "         ('v_champ', lambda: c.delete_model_version(os.environ['MODEL'], os.environ['CHAMP'])),\n"
        "         ('model', lambda: c.delete_registered_model(os.environ['MODEL']))]\n"
        "for label, call in calls:\n"
        "    try:\n"
        "        call()\n"
        "        print('RESULT', label, 'deleted')\n"
        "    except MlflowException as e:\n"
        "        print('RESULT', label, e.error_code)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": live.url,
        "MLFLOW_TRACKING_USERNAME": "dave",
        "MLFLOW_TRACKING_PASSWORD": PASSWORD,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "GIT_PYTHON_REFRESH": "quiet",
        "MODEL": world.model,
        "PROD": str(in_production),
        "CHAMP": str(champion),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    results = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert results == [
        ["v_prod", "PERMISSION_DENIED"],
        ["v_champ", "PERMISSION_DENIED"],
        ["model", "PERMISSION_DENIED"],
    ]
    assert _stage(world, in_production) == "Production" and _stage(world, champion) == "None"
    found = world.call(ADMIN, "GET", f"{_RM}/alias", {"name": world.model, "alias": "champion"})
    assert found.json()["model_version"]["version"] == str(champion)
