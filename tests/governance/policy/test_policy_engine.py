"""Check 10: the policy engine through the API: schema errors with a path, per-rule results
with observed value and threshold, missing input -> error (blocks), warn never blocks, waivers,
the CEL sandbox, and the evaluation record (policy digest, inputs snapshot)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest

from ledgerflow.governance.policy.json_schema import SCHEMA
from tests.governance.policy.support import ADMIN, LF, POLICY, World, ok

REPO = Path(__file__).resolve().parents[3]


def _error(response: object, status: int, code: str) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error_code"] == code
    return str(body["message"])


def test_published_schema_is_served_and_checked_in(world: World) -> None:
    served = ok(world.call("bob", "GET", f"{LF}/policies/schema"))["schema"]
    assert served == SCHEMA
    assert json.loads((REPO / "docs" / "governance" / "policy.schema.json").read_text()) == SCHEMA
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (POLICY.replace('op: ">="', 'op: "=>"'), "rules[0].op"),
        (POLICY.replace("kind: PromotionPolicy", "kind: Nope"), "kind"),
        (POLICY.replace("value: 0.9", 'value: "high"'), "rules[0].value"),
        (POLICY.replace("{id: scan, type: scan_clean}", "{id: acc, type: scan_clean}"), "rules[1].id"),
        (POLICY.replace("metrics['accuracy'] > 0.99", "os.system('x')"), "rules[5].cel"),
        (
            POLICY + "waivers: [{rule: nope, reason: r, approved_by: x, expires_at: 2030-01-01}]",
            "waivers[0].rule",
        ),
        ("rules: [", "(document)"),
    ],
)
def test_invalid_policy_is_refused_with_its_error_path(world: World, document: str, path: str) -> None:
    message = _error(world.upload_policy(document), 400, "INVALID_PARAMETER_VALUE")
    assert f"at {path}:" in message
    assert ok(world.call(ADMIN, "GET", f"{LF}/policies/list"))["policies"] == []


def test_each_rule_reports_result_observed_and_threshold(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version, accuracy=0.93)
    evaluation = ok(
        world.call(
            "alice",
            "POST",
            f"{LF}/policies/evaluate",
            {"name": world.model, "version": str(version), "target": "alias:champion"},
        )
    )["evaluation"]
    by_id = {r["id"]: r for r in evaluation["rules"]}
    assert (
        by_id["acc"]["result"] == "pass"
        and by_id["acc"]["observed"] == 0.93
        and by_id["acc"]["threshold"] == ">= 0.9"
    )
    assert by_id["scan"]["result"] == "pass" and by_id["scan"]["observed"] == "clean"
    assert by_id["sig"]["result"] == "pass"
    assert by_id["sbom"]["result"] == "pass"
    assert by_id["4eyes"]["result"] == "skip"
    # severity: warn never blocks
    assert by_id["lat"]["result"] == "warn" and by_id["lat"]["blocking"] is False, by_id["lat"]["message"]
    assert evaluation["decision"] == "pass"
    # The record: policy digest, subject with manifest digest, inputs snapshot.
    stored = ok(
        world.call(
            "alice", "GET", f"{LF}/policies/evaluations/get", {"evaluation_id": evaluation["evaluation_id"]}
        )
    )["evaluation"]
    policy = ok(world.call("alice", "GET", f"{LF}/policies/get", {"name": "credit-prod"}))["policy"]
    assert stored["policies"][0]["digest"] == policy["digest"]
    assert stored["policy_digest"] == evaluation["policy_digest"]
    assert stored["subject"]["manifest_digest"] and len(stored["subject"]["manifest_digest"]) == 64
    assert stored["inputs"]["facts"]["evaluation"]["metrics"]["accuracy"] == 0.93
    assert stored["inputs"]["facts"]["scan"]["status"] == "clean"
    # Signed as an attestation through the signing subsystem, bound to the same manifest digest.
    attestation = world.services.attestations.get(stored["attestation"]["attestation_id"])
    assert attestation.predicate["evaluation_id"] == evaluation["evaluation_id"]
    assert world.services.attestations.verify(attestation.attestation_id).to_json()["valid"] is True
    audit = ok(world.call(ADMIN, "GET", f"{LF}/audit/records", {"action": "policy.evaluate"}))
    assert any(r["resource_id"] == f"{world.model}/{version}" for r in audit["records"])


def test_failing_and_missing_inputs_block(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version, accuracy=0.5)
    world.sources["sbom"].by_version.pop((world.model, version), None) if "sbom" in world.sources else None
    evaluation = ok(
        world.call(
            "alice",
            "POST",
            f"{LF}/policies/evaluate",
            {"name": world.model, "version": str(version), "target": "alias:champion"},
        )
    )["evaluation"]
    by_id = {r["id"]: r for r in evaluation["rules"]}
    assert by_id["acc"]["result"] == "fail" and by_id["acc"]["blocking"] is True
    if "sbom" in world.sources:
        assert by_id["sbom"]["result"] == "error" and by_id["sbom"]["blocking"] is True
    assert evaluation["decision"] == "fail"


def test_missing_metric_is_an_error_that_blocks(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version, f1=0.99)
    evaluation = ok(
        world.call("alice", "POST", f"{LF}/policies/evaluate", {"name": world.model, "version": str(version)})
    )["evaluation"]
    acc = next(r for r in evaluation["rules"] if r["id"] == "acc")
    assert acc["result"] == "error" and "missing" in acc["message"] and acc["blocking"]
    lat = next(r for r in evaluation["rules"] if r["id"] == "lat")
    assert lat["result"] == "error" and not lat["blocking"]
    assert evaluation["decision"] == "fail"


def test_waiver_needs_to_be_unexpired(world: World) -> None:
    waived = POLICY + (
        "waivers:\n"
        "  - {rule: acc, reason: 'known dataset shift', approved_by: risk-officer, expires_at: '2999-01-01T00:00:00Z'}\n"
    )
    ok(world.upload_policy(waived))
    version = world.new_version()
    world.good_facts(version, accuracy=0.5)
    body = {"name": world.model, "version": str(version)}
    evaluation = ok(world.call("alice", "POST", f"{LF}/policies/evaluate", body))["evaluation"]
    acc = next(r for r in evaluation["rules"] if r["id"] == "acc")
    assert acc["result"] == "skip" and acc["waiver"]["approved_by"] == "risk-officer"
    assert evaluation["decision"] == "pass"
    ok(world.upload_policy(waived.replace("2999-01-01", "2001-01-01")))
    evaluation = ok(world.call("alice", "POST", f"{LF}/policies/evaluate", body))["evaluation"]
    acc = next(r for r in evaluation["rules"] if r["id"] == "acc")
    assert acc["result"] == "fail" and "waiver expired" in acc["message"]


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('id')",
        "os.getcwd() == ''",
        "secret_env > 1",
        "'a'.matches('(a+)+$')",
        " || ".join(["metrics['accuracy'] > 0.5"] * 60),
        "x" * 1001,
    ],
)
def test_cel_outside_the_sandbox_is_refused(world: World, expression: str) -> None:
    document = POLICY.replace("metrics['accuracy'] > 0.99", expression.replace('"', '\\"'))
    message = _error(world.upload_policy(document), 400, "INVALID_PARAMETER_VALUE")
    assert "rules[5].cel" in message


def test_cel_reads_the_provided_variables(world: World) -> None:
    document = POLICY.replace(
        "metrics['accuracy'] > 0.99\", severity: warn",
        "metrics['accuracy'] > 0.9 && scan.status == 'clean'\"",
    )
    ok(world.upload_policy(document))
    version = world.new_version()
    world.good_facts(version, accuracy=0.95)
    evaluation = ok(
        world.call("alice", "POST", f"{LF}/policies/evaluate", {"name": world.model, "version": str(version)})
    )["evaluation"]
    lat = next(r for r in evaluation["rules"] if r["id"] == "lat")
    assert lat["result"] == "pass" and lat["severity"] == "block"


def test_metric_vs_champion_compares_with_the_alias_holder(world: World) -> None:
    document = (
        POLICY + "  - {id: nore, type: metric_vs_champion, metric: accuracy, min_relative_change: -0.01}\n"
    )
    ok(world.upload_policy(document))
    first = world.new_version(b"v1")
    world.good_facts(first, accuracy=0.95)
    body = {"name": world.model, "version": str(first), "target": "alias:champion"}
    no_champion = ok(world.call("alice", "POST", f"{LF}/policies/evaluate", body))["evaluation"]
    assert next(r for r in no_champion["rules"] if r["id"] == "nore")["result"] == "skip"
    ok(
        world.call(
            ADMIN, "POST", f"{LF}/promotions/break-glass", {**body, "reason": "bootstrap the champion"}
        )
    )
    second = world.new_version(b"v2")
    world.good_facts(second, accuracy=0.91)
    worse = ok(world.call("alice", "POST", f"{LF}/policies/evaluate", {**body, "version": str(second)}))[
        "evaluation"
    ]
    nore = next(r for r in worse["rules"] if r["id"] == "nore")
    assert (
        nore["result"] == "fail"
        and nore["observed"]["champion"] == 0.95
        and nore["observed"]["champion_version"] == first
    )


def test_documented_example_policy_is_valid() -> None:
    from ledgerflow.governance.policy.document import parse_document

    document = parse_document((REPO / "docs" / "governance" / "example-policy.yaml").read_text())
    assert len(document.rules) == 11 and document.waivers[0].rule == "eod"
