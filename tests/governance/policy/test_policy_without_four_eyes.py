"""Without --promotion-gate (no four-eyes), a policy in force still gates direct promotions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.governance.policy.support import ADMIN, World, build_world, ok

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
