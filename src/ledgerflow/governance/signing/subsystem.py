"""Building the signing subsystem for a server's service container."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledgerflow.governance.sbom.service import SbomService
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
        self.registry.versions.registration_checks.append(self.signatures.on_registration)
        self.registry.versions.integrity_checks.append(self.signatures.check_promotion)
        self.registry.aliases.integrity_checks.append(self.signatures.check_promotion)
        self.registry.events.subscribe(self._after_registration)
        facts.register(self.signatures)
        facts.register(self.sboms)

    def _after_registration(self, event: RegistryEvent) -> None:
        # After the version committed: its SBOM, then the SBOM and training provenance
        # attestations, all bound to the manifest digest. A failure here is logged by the
        # event hook and never undoes the registration.
        if event.name != "model_version.created":
            return
        name, version = str(event.data["name"]), str(event.data["version"])
        with self.registry.versions.db.read() as conn:
            ref = records.find_version(conn, name, version)
        manifest = self.files.manifest(ref)
        text = self.sboms.render_for(ref, manifest)
        digest = self.registry.versions.db.run_write(lambda conn: self.sboms.store(conn, ref, text))
        self.attestations.record(
            ref,
            PREDICATE_SBOM,
            manifest.digest,
            {"sbom_sha256": digest, "format": "CycloneDX", "specVersion": "1.6"},
        )
        if ref.run_id:
            run = self.runs.get(ref.run_id)
            environment = {}
            for file_name in provenance.ENVIRONMENT_FILES:
                content = self.files.read_text(ref, file_name)
                if content is not None:
                    environment[file_name] = content
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
    return SigningSubsystem(
        key=key,
        trust=trust,
        files=files,
        audit=signing_audit,
        attestations=AttestationService(db, trust, key, files, signing_audit),
        signatures=signatures,
        sboms=SbomService(db, files, runs, registry.versions),
        registry=registry,
        runs=runs,
    )
