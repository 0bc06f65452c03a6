"""Building the signing subsystem for a server's service container."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledgerflow.governance.signing.attestations import AttestationService
from ledgerflow.governance.signing.auditing import SigningAudit
from ledgerflow.governance.signing.keys import SigningKey, default_server_key_path, load_or_create
from ledgerflow.governance.signing.trust_store import TrustStore
from ledgerflow.governance.signing.version_files import VersionFiles

if TYPE_CHECKING:
    from ledgerflow.artifacts.service import ArtifactService
    from ledgerflow.config import ServerConfig
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.store.database import Database

log = logging.getLogger(__name__)
SERVER_KEY_LABEL = "ledgerflow-server"


@dataclass
class SigningSubsystem:
    key: SigningKey
    trust: TrustStore
    files: VersionFiles
    audit: SigningAudit
    attestations: AttestationService


def build_signing(
    db: Database, config: ServerConfig, artifacts: ArtifactService, audit: AuditLog
) -> SigningSubsystem:
    path = config.signing_key_path or default_server_key_path(config.backend_store_uri)
    key = load_or_create(path)
    trust = TrustStore(db)
    # The server's own key vouches for what the server signs (attestations, and model
    # versions when it signs at registration); an operator can still revoke it.
    trust.ensure(key.public_pem, SERVER_KEY_LABEL)
    log.info("Model signatures and attestations are signed with key %s from %s", key.key_id, path)
    files = VersionFiles(artifacts)
    signing_audit = SigningAudit(audit)
    return SigningSubsystem(
        key=key,
        trust=trust,
        files=files,
        audit=signing_audit,
        attestations=AttestationService(db, trust, key, files, signing_audit),
    )
