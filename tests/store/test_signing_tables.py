"""The signing tables on every backend: keys, signatures, attestations and SBOMs written,
read back, and deleted with their version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from ledgerflow.governance.signing.attestations import PREDICATE_POLICY_EVALUATION
from ledgerflow.store.governance.signing_schema import (
    attestations,
    model_version_sboms,
    model_version_signatures,
)
from tests.governance.signing.conftest import (  # noqa: F401 - fixtures
    classifier,
    clean_fluent_state,
    iris,
    register,
)


def count(reg: Any, table: sa.Table) -> int:
    with reg.services.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_signing_records_round_trip_and_cascade(register: Callable[..., Any]) -> None:  # noqa: F811
    reg = register(sign_models_at_registration=True)
    services = reg.services
    state = services.signing.signatures.state(reg.name, reg.version)
    assert state.status == "valid" and state.key_id == services.signing.key.key_id
    big = {"rules": [{"id": f"r{i}", "text": "x" * 500} for i in range(200)]}  # ~100 KB envelope
    attestation_id = services.attestations.attest(
        PREDICATE_POLICY_EVALUATION, reg.name, reg.version, None, big
    )
    assert services.attestations.verify(attestation_id).valid
    assert services.attestations.get(attestation_id).predicate == big
    assert services.signing.sboms.facts_for(reg.name, int(reg.version))["present"] is True
    assert services.signing.trust.get(services.signing.key.key_id).status == "active"
    assert count(reg, model_version_signatures) == 1 and count(reg, model_version_sboms) == 1
    assert count(reg, attestations) == 3  # SBOM, provenance, policy evaluation

    services.registry.versions.delete(reg.name, reg.version)
    assert count(reg, model_version_signatures) == 0
    assert count(reg, model_version_sboms) == 0
    assert count(reg, attestations) == 0


def test_attestation_write_refused_once_its_version_is_gone(register: Callable[..., Any]) -> None:  # noqa: F811
    # The write re-checks, in its own transaction, that the version still exists under its
    # name (one statement joining the model): a stale reference records nothing.
    import pytest

    from ledgerflow.errors import ResourceDoesNotExist
    from ledgerflow.governance.signing import records

    reg = register()
    services = reg.services
    with services.db.read() as conn:
        ref = records.find_version(conn, reg.name, reg.version)
    before = count(reg, attestations)
    services.attestations.record(ref, PREDICATE_POLICY_EVALUATION, "0" * 64, {"check": "present"})
    assert count(reg, attestations) == before + 1
    services.registry.versions.delete(reg.name, reg.version)
    with pytest.raises(ResourceDoesNotExist):
        services.attestations.record(ref, PREDICATE_POLICY_EVALUATION, "0" * 64, {"check": "gone"})
    assert count(reg, attestations) == 0
