"""The policy engine judges the real ``scan`` facts: a version whose only import is
``logging.getLogger`` is refused promotion; an active override lets the scan rule pass.
Also: non-admins cannot override (auth on)."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.governance.policy.support import ADMIN, LF, World, build_world, ok
from tests.governance.scanning import payloads as p

SCAN_ONLY = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: scan-gate}
scope: {models: ["credit-*"], targets: ["alias:champion", "stage:Production"]}
rules:
  - {id: scan, type: scan_clean}
"""


@pytest.fixture
def world(make_client: Callable[[ServerConfig], TestClient], tmp_path: Path) -> World:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'gov.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        auth_required=True,
        promotion_gate=True,
    )
    return build_world(make_client(config))


def _evaluate(world: World, version: int) -> dict[str, object]:
    body = {"name": world.model, "version": str(version), "target": "alias:champion"}
    evaluation = ok(world.call("alice", "POST", f"{LF}/policies/evaluate", body))["evaluation"]
    return {rule["id"]: rule for rule in evaluation["rules"]} | {"decision": evaluation["decision"]}


def test_logger_only_pickle_is_refused_promotion_until_overridden(world: World) -> None:
    assert "scan" not in world.sources, "the scan facts must come from the real scanner"
    ok(world.upload_policy(SCAN_ONLY))
    clean = world.new_version(pickle.dumps(p.forest()))
    assert _evaluate(world, clean)["decision"] == "pass"
    logger = world.new_version(p.logger_pickle())
    scan = ok(
        world.call("alice", "GET", f"{LF}/model-versions/scan", {"name": world.model, "version": logger})
    )
    assert scan["scan"]["status"] == "findings"
    result = _evaluate(world, logger)
    assert result["decision"] == "fail" and result["scan"]["observed"] == "findings"  # type: ignore[index]
    # Only an admin may override.
    body = {
        "name": world.model,
        "version": str(logger),
        "reason": "reviewed: the logger call is harmless",
        "expires_at": int(time.time() * 1000) + 3_600_000,
    }
    refused = world.call("alice", "POST", f"{LF}/model-versions/scan/override", body)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    granted = ok(world.call(ADMIN, "POST", f"{LF}/model-versions/scan/override", body))["scan"]
    assert granted["effective_status"] == "overridden" and granted["override"]["by"] == ADMIN
    assert _evaluate(world, logger)["decision"] == "pass"
    records = ok(world.call(ADMIN, "GET", f"{LF}/audit/records", {"action": "registry.override_scan_result"}))
    assert records["records"][0]["actor"] == ADMIN
    assert records["records"][0]["resource_id"] == f"{world.model}/{logger}"
