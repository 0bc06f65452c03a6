"""With the promotion gate on, a protected alias is never un-set by a plain delete: not by
deleting the alias, nor the version it points at, nor the model. Only an admin break-glass
(with a reason) removes it; every refusal is audited like a refused move. Without the gate,
deletes are as before."""

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
from tests.conftest import LiveServer
from tests.governance.policy.support import ADMIN, LF, PASSWORD, World, build_world, ok

_RM = "/api/2.0/mlflow/registered-models"
_MV = "/api/2.0/mlflow/model-versions"


def _alias(world: World, alias: str) -> str | None:
    found = world.call(ADMIN, "GET", f"{_RM}/alias", {"name": world.model, "alias": alias})
    return found.json()["model_version"]["version"] if found.status_code == 200 else None


def _crown(world: World) -> int:
    """A version that holds the protected champion alias (set through break-glass)."""
    version = world.new_version()
    body = {"name": world.model, "version": str(version), "target": "alias:champion", "reason": "setup"}
    ok(world.call(ADMIN, "POST", f"{LF}/promotions/break-glass", body))
    assert _alias(world, "champion") == str(version)
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


def test_deleting_a_protected_alias_is_refused_and_audited(world: World) -> None:
    version = _crown(world)
    refused = world.call("dave", "DELETE", f"{_RM}/alias", {"name": world.model, "alias": "champion"})
    message = _denied(refused)
    assert "break-glass" in message and '"remove": true' in message
    assert _alias(world, "champion") == str(version)
    # Not even an admin deletes it directly: break-glass is the audited way.
    _denied(world.call(ADMIN, "DELETE", f"{_RM}/alias", {"name": world.model, "alias": "champion"}))
    refusals = [r for r in _records(world, "promotion.refused") if "delete_alias" in json.dumps(r)]
    assert len(refusals) == 2 and "alias:champion" in json.dumps(refusals[0])
    assert _records(world, "registry.delete_alias") == []
    # An unprotected alias is deleted as before.
    ok(
        world.call(
            "dave",
            "POST",
            f"{_RM}/alias",
            {"name": world.model, "alias": "candidate", "version": str(version)},
        )
    )
    ok(world.call("dave", "DELETE", f"{_RM}/alias", {"name": world.model, "alias": "candidate"}))
    assert _alias(world, "candidate") is None


def test_deleting_the_version_or_model_holding_it_is_refused(world: World) -> None:
    version = _crown(world)
    by_version = world.call("dave", "DELETE", f"{_MV}/delete", {"name": world.model, "version": str(version)})
    assert "deleting the version" in _denied(by_version)
    by_model = world.call(ADMIN, "DELETE", f"{_RM}/delete", {"name": world.model})
    assert "deleting the registered model" in _denied(by_model)
    assert _alias(world, "champion") == str(version)
    ok(world.call(ADMIN, "GET", f"{_MV}/get", {"name": world.model, "version": str(version)}))
    operations = json.dumps(_records(world, "promotion.refused"))
    assert "delete_model_version" in operations and "delete_registered_model" in operations
    # A version that holds no protected alias is still deleted as before.
    spare = world.new_version()
    ok(world.call("dave", "DELETE", f"{_MV}/delete", {"name": world.model, "version": str(spare)}))


def test_break_glass_removes_a_protected_alias_with_a_reason(world: World) -> None:
    version = _crown(world)
    body = {"name": world.model, "target": "alias:champion", "remove": True}
    _denied(world.call("dave", "POST", f"{LF}/promotions/break-glass", {**body, "reason": "x"}))
    assert world.call(ADMIN, "POST", f"{LF}/promotions/break-glass", body).status_code == 400
    stage = world.call(
        ADMIN, "POST", f"{LF}/promotions/break-glass", {**body, "target": "stage:Production", "reason": "x"}
    )
    assert stage.status_code == 400 and stage.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    done = ok(world.call(ADMIN, "POST", f"{LF}/promotions/break-glass", {**body, "reason": "retire model 7"}))
    assert done["promotion"] == {
        "name": world.model,
        "version": str(version),
        "severity": "high",
        "target": "alias:champion",
        "reason": "retire model 7",
        "operation": "remove",
    }
    assert _alias(world, "champion") is None
    assert "retire model 7" in json.dumps(_records(world, "promotion.break_glass"))
    # Nothing protected is held any more: the version and then the model delete as before.
    ok(world.call("dave", "DELETE", f"{_MV}/delete", {"name": world.model, "version": str(version)}))
    ok(world.call(ADMIN, "DELETE", f"{_RM}/delete", {"name": world.model}))


def test_without_the_gate_deletes_are_unchanged(
    make_client: Callable[[ServerConfig], TestClient], governed_config: ServerConfig
) -> None:
    world = build_world(make_client(dataclasses.replace(governed_config, promotion_gate=False)))
    version = world.new_version()
    ok(
        world.call(
            "dave",
            "POST",
            f"{_RM}/alias",
            {"name": world.model, "alias": "champion", "version": str(version)},
        )
    )
    ok(world.call("dave", "DELETE", f"{_RM}/alias", {"name": world.model, "alias": "champion"}))
    assert _alias(world, "champion") is None
    ok(
        world.call(
            "dave",
            "POST",
            f"{_RM}/alias",
            {"name": world.model, "alias": "champion", "version": str(version)},
        )
    )
    ok(world.call("dave", "DELETE", f"{_MV}/delete", {"name": world.model, "version": str(version)}))
    assert _records(world, "promotion.refused") == []
    # The filter the gated test relies on finds the direct delete here.
    assert len(_records(world, "registry.delete_alias")) == 1


@pytest.mark.compat
def test_stock_mlflow_client_cannot_delete_the_champion(
    make_live_server: Callable[[ServerConfig], LiveServer], governed_config: ServerConfig, tmp_path: Path
) -> None:
    live = make_live_server(governed_config)
    world = build_world(TestClient(live.app))
    version = _crown(world)
    script = (
        "import os\n"
        "from mlflow.exceptions import MlflowException\n"
        "from mlflow import MlflowClient\n"
        "try:\n"
        "    MlflowClient().delete_registered_model_alias(os.environ['MODEL'], 'champion')\n"
        "    print('RESULT deleted')\n"
        "except MlflowException as e:\n"
        "    print('RESULT ' + e.error_code)\n"
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
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert "RESULT PERMISSION_DENIED" in done.stdout
    assert _alias(world, "champion") == str(version)
