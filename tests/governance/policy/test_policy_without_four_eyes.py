"""Without --promotion-gate, a policy in force still gates direct promotions, and its approvals
rule makes a protected target move only through an approved promotion request."""

from __future__ import annotations

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
from tests.conftest import LiveServer
from tests.governance.policy.support import ADMIN, LF, PASSWORD, POLICY, World, build_world, ok

_ALIAS = "/api/2.0/mlflow/registered-models/alias"
_STAGE = "/api/2.0/mlflow/model-versions/transition-stage"
ACCURACY_POLICY = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: credit-acc}
scope: {models: ["credit-*"], targets: ["alias:champion", "stage:Production"]}
rules:
  - {id: acc, type: metric_threshold, metric: accuracy, op: ">=", value: 0.9}
"""


def _world(make_client: Callable[[ServerConfig], TestClient], governed_config: ServerConfig) -> World:
    return build_world(make_client(replace(governed_config, promotion_gate=False)))


def _set_alias(world: World, alias: str, version: int) -> object:
    return world.call(ADMIN, "POST", _ALIAS, {"name": world.model, "alias": alias, "version": str(version)})


def test_a_failing_policy_refuses_a_direct_alias_move_and_stage_transition(
    make_client: Callable[[ServerConfig], TestClient], governed_config: ServerConfig
) -> None:
    world = _world(make_client, governed_config)
    ok(world.upload_policy(ACCURACY_POLICY))
    weak = world.new_version(b"weak")
    world.good_facts(weak, accuracy=0.7)
    refused = _set_alias(world, "champion", weak)
    assert refused.status_code == 409, refused.text  # type: ignore[attr-defined]
    body = refused.json()  # type: ignore[attr-defined]
    assert body["error_code"] == "RESOURCE_CONFLICT" and "credit-acc:acc" in body["message"]
    staged = world.call(
        ADMIN,
        "POST",
        _STAGE,
        {
            "name": world.model,
            "version": str(weak),
            "stage": "Production",
            "archive_existing_versions": False,
        },
    )
    assert staged.status_code == 409 and "credit-acc:acc" in staged.json()["message"], staged.text
    found = world.call(ADMIN, "GET", _ALIAS, {"name": world.model, "alias": "champion"})
    assert found.status_code != 200  # nothing moved
    version = ok(world.call(ADMIN, "GET", "/api/2.0/mlflow/model-versions/get",
                            {"name": world.model, "version": str(weak)}))["model_version"]  # fmt: skip
    assert version["current_stage"] == "None"

    strong = world.new_version(b"strong")
    world.good_facts(strong, accuracy=0.95)
    assert _set_alias(world, "champion", strong).status_code == 200  # type: ignore[attr-defined]
    # A target outside the policy's scope is not gated.
    assert _set_alias(world, "candidate", weak).status_code == 200  # type: ignore[attr-defined]


def test_no_policy_in_scope_leaves_promotions_alone(
    make_client: Callable[[ServerConfig], TestClient], governed_config: ServerConfig
) -> None:
    world = _world(make_client, governed_config)
    version = world.new_version()
    assert _set_alias(world, "champion", version).status_code == 200  # type: ignore[attr-defined]


def _request(world: World, user: str, version: int, target: str) -> dict[str, Any]:
    body = {"name": world.model, "version": str(version), "target": target, "justification": "reviewed"}
    found: dict[str, Any] = ok(world.call(user, "POST", f"{LF}/promotion-requests/create", body))[
        "promotion_request"
    ]
    return found


def test_an_approvals_rule_is_enforced_without_the_flag(
    make_client: Callable[[ServerConfig], TestClient], governed_config: ServerConfig
) -> None:
    world = _world(make_client, governed_config)
    ok(world.upload_policy(POLICY))  # acc, scan, sig, sbom and 4eyes (approvals, min 1)
    version = world.new_version()
    world.good_facts(version)
    # Every other rule passes; a direct move has no approvals, so the 4eyes rule fails and is named.
    for path, body in (
        (_ALIAS, {"name": world.model, "alias": "champion", "version": str(version)}),
        (_STAGE, {"name": world.model, "version": str(version), "stage": "Production",
                  "archive_existing_versions": False}),
    ):  # fmt: skip
        refused = world.call(ADMIN, "POST", path, body)
        assert refused.status_code == 409, refused.text
        message = refused.json()["message"]
        assert "credit-prod:4eyes fail (observed 0" in message and "credit-prod:acc" not in message
        assert "approved promotion request" in message
    assert world.call(ADMIN, "GET", _ALIAS, {"name": world.model, "alias": "champion"}).status_code != 200

    # Through a request approved by a second person it goes, and the request is marked promoted.
    request = _request(world, "dave", version, "alias:champion")
    ok(world.call("bob", "POST", f"{LF}/promotion-requests/approve", {"request_id": request["request_id"]}))
    promoted = ok(
        world.call("dave", "POST", f"{LF}/promotion-requests/promote", {"request_id": request["request_id"]})
    )["promotion_request"]
    assert promoted["status"] == "PROMOTED"
    found = ok(world.call(ADMIN, "GET", _ALIAS, {"name": world.model, "alias": "champion"}))
    assert found["model_version"]["version"] == str(version)
    staged = _request(world, "dave", version, "stage:Production")
    ok(world.call("carol", "POST", f"{LF}/promotion-requests/approve", {"request_id": staged["request_id"]}))
    ok(world.call("dave", "POST", f"{LF}/promotion-requests/promote", {"request_id": staged["request_id"]}))
    current = ok(world.call(ADMIN, "GET", "/api/2.0/mlflow/model-versions/get",
                            {"name": world.model, "version": str(version)}))["model_version"]  # fmt: skip
    assert current["current_stage"] == "Production"


EVERY_ALIAS = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: any-alias}
scope: {models: ["credit-*"]}
rules:
  - {id: acc, type: metric_threshold, metric: accuracy, op: ">=", value: 0.9}
  - {id: 4eyes, type: approvals, min: 1}
"""


@pytest.mark.parametrize("gate", [False, True])
def test_unprotected_aliases_keep_working_for_stock_clients(
    gate: bool,
    make_live_server: Callable[[ServerConfig], LiveServer],
    governed_config: ServerConfig,
    tmp_path: Path,
) -> None:
    """A policy scoped to every alias: its approvals rule binds the protected ones only (there is
    no request for an unprotected alias), its other rules gate every alias, with or without the
    flag (with it, no uploaded policy is ignored on an unprotected alias either)."""
    live = make_live_server(replace(governed_config, promotion_gate=gate))
    world = build_world(TestClient(live.app))
    ok(world.upload_policy(EVERY_ALIAS))
    good, weak = world.new_version(b"good"), world.new_version(b"weak")
    world.good_facts(good, accuracy=0.95)
    world.good_facts(weak, accuracy=0.5)
    script = (
        "import os\n"
        "from mlflow.exceptions import MlflowException\n"
        "from mlflow import MlflowClient\n"
        "c = MlflowClient()\n"
        "for alias, version in (('candidate', os.environ['GOOD']), ('shadow', os.environ['WEAK']),\n"
        "                       ('champion', os.environ['GOOD'])):\n"
        "    try:\n"
        "        c.set_registered_model_alias(os.environ['MODEL'], alias, version)\n"
        "        print('RESULT', alias, 'set')\n"
        "    except MlflowException as e:\n"
        "        print('RESULT', alias, e.error_code)\n"
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
        "GOOD": str(good),
        "WEAK": str(weak),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    results = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("RESULT")]
    # champion is protected: without the flag the approvals rule refuses (409), with it the gate (403).
    champion = "PERMISSION_DENIED" if gate else "RESOURCE_CONFLICT"
    assert results == [["candidate", "set"], ["shadow", "RESOURCE_CONFLICT"], ["champion", champion]]
    evaluations = ok(world.call(ADMIN, "GET", f"{LF}/policies/evaluations/list",
                                {"name": world.model, "version": str(good)}))["evaluations"]  # fmt: skip
    candidate = [e for e in evaluations if e["subject"]["target"] == "alias:candidate"]
    assert candidate and {r["id"]: r["result"] for r in candidate[0]["rules"]} == {
        "acc": "pass",
        "4eyes": "skip",
    }
