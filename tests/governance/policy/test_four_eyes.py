"""Checks 11 and 12: four-eyes promotion requests and protected aliases/stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledgerflow.governance.signing.attestations import PREDICATE_APPROVAL
from ledgerflow.registry.events import RegistryEvent
from tests.governance.policy.support import ADMIN, LF, POLICY, World, ok

_RM = "/api/2.0/mlflow/registered-models"


def _request(world: World, user: str, version: int, target: str = "alias:champion") -> dict[str, Any]:
    body = {"name": world.model, "version": str(version), "target": target, "justification": "better model"}
    found: dict[str, Any] = ok(world.call(user, "POST", f"{LF}/promotion-requests/create", body))[
        "promotion_request"
    ]
    return found


def _decide(world: World, user: str, request_id: str, verb: str = "approve") -> object:
    return world.call(
        user, "POST", f"{LF}/promotion-requests/{verb}", {"request_id": request_id, "comment": "ok"}
    )


def _alias(world: World, alias: str) -> str | None:
    found = world.call(ADMIN, "GET", f"{_RM}/alias", {"name": world.model, "alias": alias})
    return found.json()["model_version"]["version"] if found.status_code == 200 else None


def test_requester_and_run_owner_cannot_approve_a_second_approver_can(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version)
    by_dave = _request(world, "dave", version)
    assert by_dave["status"] == "REQUESTED"
    own = _decide(world, "dave", by_dave["request_id"])
    assert own.status_code == 403 and own.json()["error_code"] == "PERMISSION_DENIED"  # type: ignore[attr-defined]
    run_owner = _decide(world, "alice", by_dave["request_id"])  # alice owns the run (and manages the model)
    assert run_owner.status_code == 403 and "owner" in run_owner.json()["message"]  # type: ignore[attr-defined]
    approved = ok(_decide(world, "bob", by_dave["request_id"]))["promotion_request"]
    assert approved["status"] == "APPROVED"
    assert approved["approvals"][0]["approver"] == "bob"
    assert approved["approvals"][0]["manifest_digest"] == by_dave["manifest_digest"]
    # The approval is signed as an attestation bound to the files it was made on.
    [signed] = world.services.attestations.list(world.model, version, predicate_type=PREDICATE_APPROVAL)
    assert signed.predicate["approver"] == "bob" and signed.manifest_digest == by_dave["manifest_digest"]
    promoted = ok(
        world.call("dave", "POST", f"{LF}/promotion-requests/promote", {"request_id": by_dave["request_id"]})
    )
    assert promoted["promotion_request"]["status"] == "PROMOTED"
    assert _alias(world, "champion") == str(version)


def test_changed_artifact_invalidates_the_approval(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version)
    request = _request(world, "dave", version)
    ok(_decide(world, "bob", request["request_id"]))
    # The API refuses to change a registered version's files, so the change happens behind the
    # server, on the artifact store's disk.
    path = f"{world.model_dirs[-1]}/model.pkl"
    refused_write = world.client.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{path}", content=b"tampered", headers=world.as_user("alice")
    )
    assert refused_write.status_code == 403
    root = Path(world.services.config.artifacts_destination)
    (root / path).write_bytes(b"tampered")
    refused = world.call(
        "dave", "POST", f"{LF}/promotion-requests/promote", {"request_id": request["request_id"]}
    )
    assert refused.status_code == 409, refused.text
    found = ok(
        world.call("dave", "GET", f"{LF}/promotion-requests/get", {"request_id": request["request_id"]})
    )
    assert found["promotion_request"]["status"] == "INVALIDATED"
    assert "manifest digest" in found["promotion_request"]["status_reason"]
    assert _alias(world, "champion") is None


def test_changed_policy_invalidates_the_approval(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version)
    request = _request(world, "dave", version)
    ok(_decide(world, "bob", request["request_id"]))
    ok(world.upload_policy(POLICY.replace("value: 0.9", "value: 0.5")))
    refused = world.call(
        "dave", "POST", f"{LF}/promotion-requests/promote", {"request_id": request["request_id"]}
    )
    assert refused.status_code == 409
    found = ok(
        world.call("bob", "GET", f"{LF}/promotion-requests/get", {"request_id": request["request_id"]})
    )
    assert found["promotion_request"]["status"] == "INVALIDATED"


def test_promotion_re_evaluates_and_a_now_failing_gate_blocks(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version, accuracy=0.95)
    request = _request(world, "dave", version)
    ok(_decide(world, "bob", request["request_id"]))
    # A new evaluation of the same files: accuracy is now below the threshold.
    world.good_facts(version, accuracy=0.6)
    refused = world.call(
        "dave", "POST", f"{LF}/promotion-requests/promote", {"request_id": request["request_id"]}
    )
    assert refused.status_code == 409
    body = refused.json()
    assert body["error_code"] == "RESOURCE_CONFLICT" and "credit-prod:acc fail" in body["message"]
    assert _alias(world, "champion") is None


def test_protected_alias_and_stage_refuse_direct_moves_unprotected_work(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version)
    direct = world.call(
        "dave", "POST", f"{_RM}/alias", {"name": world.model, "alias": "champion", "version": str(version)}
    )
    assert direct.status_code == 403 and direct.json()["error_code"] == "PERMISSION_DENIED"
    assert "promotion request" in direct.json()["message"]
    stage = world.call(
        "dave",
        "POST",
        "/api/2.0/mlflow/model-versions/transition-stage",
        {
            "name": world.model,
            "version": str(version),
            "stage": "Production",
            "archive_existing_versions": False,
        },
    )
    assert stage.status_code == 403 and stage.json()["error_code"] == "PERMISSION_DENIED"
    ok(
        world.call(
            "dave",
            "POST",
            f"{_RM}/alias",
            {"name": world.model, "alias": "candidate", "version": str(version)},
        )
    )
    assert _alias(world, "candidate") == str(version)
    assert _alias(world, "champion") is None


def test_break_glass_needs_admin_and_a_reason_and_is_audited(world: World) -> None:
    announced: list[RegistryEvent] = []
    world.services.registry.events.subscribe(announced.append)
    version = world.new_version()
    body = {"name": world.model, "version": str(version), "target": "alias:champion"}
    assert (
        world.call("dave", "POST", f"{LF}/promotions/break-glass", {**body, "reason": "x"}).status_code == 403
    )
    no_reason = world.call(ADMIN, "POST", f"{LF}/promotions/break-glass", body)
    assert no_reason.status_code == 400
    done = ok(
        world.call(ADMIN, "POST", f"{LF}/promotions/break-glass", {**body, "reason": "incident 42 rollback"})
    )
    assert done["promotion"]["severity"] == "high"
    assert _alias(world, "champion") == str(version)
    records = ok(world.call(ADMIN, "GET", f"{LF}/audit/records", {"action": "promotion.break_glass"}))[
        "records"
    ]
    assert records and "incident 42 rollback" in str(records[0])
    # The webhook event (the registry hook the webhook service subscribes to).
    glass = [e for e in announced if e.name == "promotion.break_glass"]
    assert (
        len(glass) == 1 and glass[0].data["reason"] == "incident 42 rollback" and glass[0].data["by"] == ADMIN
    )


def test_revoked_signing_key_invalidates_the_approval(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version)
    request = _request(world, "dave", version)
    ok(_decide(world, "bob", request["request_id"]))
    key_id = world.services.facts.collect(world.model, version)["signature"]["key_id"]
    ok(world.call(ADMIN, "POST", f"{LF}/keys/revoke", {"key_id": key_id, "reason": "key leaked"}))
    refused = world.call(
        "dave", "POST", f"{LF}/promotion-requests/promote", {"request_id": request["request_id"]}
    )
    assert refused.status_code == 409
    found = ok(
        world.call("bob", "GET", f"{LF}/promotion-requests/get", {"request_id": request["request_id"]})
    )
    assert found["promotion_request"]["status"] == "INVALIDATED"
    assert "signature" in found["promotion_request"]["status_reason"]
    assert _alias(world, "champion") is None
