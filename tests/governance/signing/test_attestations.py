"""The attestation API other subsystems call: attest, list, get, verify."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from ledgerflow.errors import InvalidParameter, ResourceConflict, ResourceDoesNotExist
from ledgerflow.governance.signing import dsse
from ledgerflow.governance.signing.attestations import (
    PREDICATE_POLICY_EVALUATION,
    PREDICATE_PROVENANCE,
    PREDICATE_SBOM,
)
from ledgerflow.store.governance.signing_schema import attestations
from ledgerflow.store.schema import audit_log


def test_attest_list_get_verify(register: Callable[..., Any]) -> None:
    reg = register()
    service = reg.services.attestations
    digest = reg.services.signing.files.manifest(_ref(reg)).digest
    predicate = {"decision": "pass", "rules": [{"id": "accuracy", "observed": 0.97, "threshold": 0.9}]}
    first = service.attest(PREDICATE_POLICY_EVALUATION, reg.name, reg.version, digest, predicate)
    second = service.attest(
        "https://example.com/approval/v1", reg.name, int(reg.version), None, {"by": "bob"}
    )

    # Registration already attested the SBOM and the training provenance.
    listed = service.list(reg.name, reg.version)
    assert [a.predicate_type for a in listed[:2]] == [PREDICATE_SBOM, PREDICATE_PROVENANCE]
    assert [a.attestation_id for a in listed[2:]] == [first, second]
    only = service.list(reg.name, reg.version, predicate_type=PREDICATE_POLICY_EVALUATION)
    assert [a.attestation_id for a in only] == [first]

    found = service.get(first)
    assert found.predicate == predicate and found.manifest_digest == digest
    assert found.key_id == reg.services.signing.key.key_id
    statement = json.loads(base64.b64decode(found.bundle["dsseEnvelope"]["payload"]))
    assert statement["subject"][0]["name"] == reg.name
    assert statement["subject"][0]["annotations"]["ledgerflow.model_version"] == reg.version
    assert statement["subject"][0]["annotations"]["ledgerflow.run_id"] == reg.run_id

    check = service.verify(first, check_files=True)
    assert check.valid and check.files_match and check.key_id == found.key_id

    with reg.services.db.read() as conn:
        details = [
            json.loads(row.details)
            for row in conn.execute(sa.select(audit_log).where(audit_log.c.action == "attestations.create"))
        ]
    assert {d["attestation_id"] for d in details} == {a.attestation_id for a in listed}
    assert all(d["key_id"] == found.key_id for d in details)


def test_tampered_or_revoked_attestation_is_invalid(register: Callable[..., Any]) -> None:
    reg = register()
    service = reg.services.attestations
    attestation_id = service.attest(
        PREDICATE_POLICY_EVALUATION, reg.name, reg.version, None, {"decision": "pass"}
    )

    # Someone with database access flips the decision inside the signed payload.
    found = service.get(attestation_id)
    statement = json.loads(base64.b64decode(found.bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["decision"] = "fail"
    forged = dict(found.bundle)
    forged["dsseEnvelope"] = dict(
        found.bundle["dsseEnvelope"], payload=base64.b64encode(json.dumps(statement).encode()).decode()
    )
    with reg.services.db.write() as conn:
        conn.execute(
            attestations.update()
            .where(attestations.c.attestation_id == attestation_id)
            .values(envelope=dsse.dumps(forged))
        )
    check = service.verify(attestation_id)
    assert not check.valid and "signature does not match" in (check.reason or "")

    other = service.attest(PREDICATE_POLICY_EVALUATION, reg.name, reg.version, None, {"decision": "pass"})
    assert service.verify(other).valid
    reg.services.signing.trust.revoke(reg.services.signing.key.key_id, "compromised")
    check = service.verify(other)
    assert not check.valid and "revoked: compromised" in (check.reason or "")


def test_bad_attestation_requests(register: Callable[..., Any]) -> None:
    reg = register()
    service = reg.services.attestations
    with pytest.raises(ResourceConflict):
        service.attest(PREDICATE_POLICY_EVALUATION, reg.name, reg.version, "0" * 64, {})
    with pytest.raises(InvalidParameter):
        service.attest(PREDICATE_POLICY_EVALUATION, reg.name, reg.version, "not-a-digest", {})
    with pytest.raises(InvalidParameter):
        service.attest(PREDICATE_POLICY_EVALUATION, reg.name, reg.version, None, {"x": float("nan")})
    with pytest.raises(InvalidParameter):
        service.attest("no uri", reg.name, reg.version, None, {})
    with pytest.raises(InvalidParameter):
        service.attest(PREDICATE_POLICY_EVALUATION, reg.name, reg.version, None, ["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(ResourceDoesNotExist):
        service.attest(PREDICATE_POLICY_EVALUATION, reg.name, "99", None, {})
    with pytest.raises(ResourceDoesNotExist):
        service.get("0" * 32)
    assert len(service.list(reg.name, reg.version)) == 2  # SBOM and provenance only


def test_training_provenance_from_the_run(register: Callable[..., Any]) -> None:
    reg = register()
    [found] = reg.services.attestations.list(reg.name, reg.version, predicate_type=PREDICATE_PROVENANCE)
    predicate = found.predicate
    assert predicate["runDetails"]["metadata"]["invocationId"] == reg.run_id
    dependencies = predicate["buildDefinition"]["resolvedDependencies"]
    assert dependencies[0]["digest"] == {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}
    assert (
        dependencies[1]["name"] == "dataset:iris-train"
        and dependencies[1]["digest"]["ledgerflowDatasetDigest"]
    )
    files = predicate["buildDefinition"]["internalParameters"]["environment"]["files"]
    assert "requirements.txt" in files and len(files["requirements.txt"]["sha256"]) == 64
    assert reg.services.attestations.verify(found.attestation_id, check_files=True).files_match


def _ref(reg: Any) -> Any:
    from ledgerflow.governance.signing.records import find_version

    with reg.services.db.read() as conn:
        return find_version(conn, reg.name, reg.version)
