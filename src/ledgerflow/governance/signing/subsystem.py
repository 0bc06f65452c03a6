"""Building the signing subsystem for a server's service container."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledgerflow.governance.sbom.cyclonedx_bom import render
from ledgerflow.governance.sbom.service import SBOM_TEXT_FILES, SbomService, facts_from
from ledgerflow.governance.signing import provenance, records
from ledgerflow.governance.signing.attestations import (
    PREDICATE_PROVENANCE,
    PREDICATE_SBOM,
    AttestationService,
)
from ledgerflow.governance.signing.auditing import SigningAudit
from ledgerflow.governance.signing.keys import SigningKey, default_server_key_path, load_or_create
from ledgerflow.governance.signing.service import SignatureService
from ledgerflow.governance.signing.trust_store import TrustStore
from ledgerflow.governance.signing.version_files import VersionFiles
from ledgerflow.store import registry_versions as version_store

if TYPE_CHECKING:
    from ledgerflow.artifacts.service import ArtifactService
    from ledgerflow.config import ServerConfig
    from ledgerflow.governance.facts import FactRegistry
    from ledgerflow.registry.events import RegistryEvent
    from ledgerflow.registry.service import RegistryService
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.store.database import Database
    from ledgerflow.tracking.runs import RunService

log = logging.getLogger(__name__)
SERVER_KEY_LABEL = "ledgerflow-server"
# Read in the one pass over a new version's files (SBOM and provenance).
REGISTRATION_TEXT_FILES = frozenset({*SBOM_TEXT_FILES, *provenance.ENVIRONMENT_FILES})


@dataclass
class SigningSubsystem:
    key: SigningKey
    trust: TrustStore
    files: VersionFiles
    audit: SigningAudit
    attestations: AttestationService
    signatures: SignatureService
    sboms: SbomService
    registry: RegistryService
    runs: RunService

    def install(self, facts: FactRegistry) -> None:
        """Hook into registration and promotion; publish the ``signature`` and ``sbom`` facts."""
        if self.signatures.sign_at_registration:
            # Hash the files before the creating transaction, not under its write lock.
            self.registry.versions.registration_prepares.append(self.signatures.prepare_registration)
        self.registry.versions.registration_checks.append(self.signatures.on_registration)
        self.registry.versions.integrity_checks.append(self.signatures.check_promotion)
        self.registry.aliases.integrity_checks.append(self.signatures.check_promotion)
        self.registry.events.subscribe(self._after_registration)
        facts.register(self.signatures)
        facts.register(self.sboms)

    def _after_registration(self, event: RegistryEvent) -> None:
        # After the version committed: its SBOM, then the SBOM attestation, the SBOM file in
        # the version's folder and the training provenance attestation, all bound to the
        # manifest digest. A failure here is logged by the event hook and never undoes the
        # registration. The version, its run and its files are each read once here and shared
        # by the records (each still its own audited transaction, as before). This listener
        # is subscribed before the scanner's, so the scan sees the SBOM file with the rest.
        if event.name != "model_version.created":
            return
        name, version = str(event.data["name"]), str(event.data["version"])
        with self.registry.versions.db.read() as conn:
            ref = records.find_version(conn, name, version)
            version_row = version_store.load(conn, [(ref.registered_model_id, ref.version)])[0]
            signature = records.signature_row(conn, ref)
        snapshot = self.files.snapshot(ref, REGISTRATION_TEXT_FILES)
        manifest = snapshot.manifest
        run: dict[str, Any] | None = None
        run_error: Exception | None = None
        if ref.run_id:
            try:
                run = self.runs.get(ref.run_id)
            except Exception as error:
                run_error = error
                log.info("Run %s of %s/%s is gone; its SBOM has no run facts", ref.run_id, name, version)
        key_id = signature.key_id if signature is not None else None
        text = render(facts_from(ref, version_row, manifest, snapshot, run or {}, key_id))
        digest = self.registry.versions.db.run_write(lambda conn: self.sboms.store(conn, ref, text))
        self.attestations.record(
            ref,
            PREDICATE_SBOM,
            manifest.digest,
            {"sbom_sha256": digest, "format": "CycloneDX", "specVersion": "1.6"},
        )
        if manifest.resources:
            # A version with no files has no folder to put it in; the API still serves it.
            self.sboms.place_file(ref, text, digest)
        if ref.run_id:
            if run is None:
                # No provenance without the run (logged by the event hook, as before).
                raise run_error or RuntimeError(f"run {ref.run_id} not found")
            environment = {
                file_name: content
                for file_name in provenance.ENVIRONMENT_FILES
                if (content := snapshot.text(file_name)) is not None
            }
            self.attestations.record(
                ref, PREDICATE_PROVENANCE, manifest.digest, provenance.predicate(run, environment)
            )


def build_signing(
    db: Database,
    config: ServerConfig,
    artifacts: ArtifactService,
    audit: AuditLog,
    runs: RunService,
    registry: RegistryService,
) -> SigningSubsystem:
    path = config.signing_key_path or default_server_key_path(config.backend_store_uri)
    key = load_or_create(path)
    trust = TrustStore(db)
    # The server's own key vouches for what the server signs (attestations, and model
    # versions when it signs at registration); an operator can still revoke it.
    trust.ensure(key.public_pem, SERVER_KEY_LABEL, audit)
    log.info("Model signatures and attestations are signed with key %s from %s", key.key_id, path)
    files = VersionFiles(artifacts)
    signing_audit = SigningAudit(audit)
    signatures = SignatureService(
        db,
        trust,
        key,
        files,
        signing_audit,
        sign_at_registration=config.sign_models_at_registration,
        require_signature=config.require_signature,
    )
    attestations = AttestationService(db, trust, key, files, signing_audit)
    sboms = SbomService(db, files, runs, registry.versions, attestations)
    signatures.sbom_check = sboms.file_problem
    return SigningSubsystem(
        key=key,
        trust=trust,
        files=files,
        audit=signing_audit,
        attestations=attestations,
        signatures=signatures,
        sboms=sboms,
        registry=registry,
        runs=runs,
    )
