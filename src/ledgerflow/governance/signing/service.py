"""Model version signatures: made at registration, uploaded by CI, verified on every use.

Two modes (``ServerConfig.sign_models_at_registration``):

* platform signature: the server hashes the new version's files and signs the OMS bundle
  with its own key inside the creating transaction;
* producer signature: CI signs with ``ledgerflow sign`` and uploads the bundle
  (``POST /api/2.0/ledgerflow/model-versions/signature``); the server verifies it against
  the trust store, the version's binding (name, version, run id) and the stored files.

With ``require_signature`` a version without a valid signature is created
``PENDING_REGISTRATION`` and becomes READY when a valid bundle arrives. Download, load,
serving and promotion call :meth:`SignatureService.enforce`, which re-hashes the stored files
and re-checks the key: a changed byte, an added or removed file, or a revoked key is refused
whatever the setting, an unsigned version is refused when signatures are required, and every
refusal is an audit record naming the key id. The version's ``sbom/cyclonedx.json`` is not
signed (``manifest.py``); on a signed version it must match its SBOM attestation instead
(``sbom_check``), or the version is refused the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter, LedgerflowError, PermissionDenied
from ledgerflow.governance.signing import dsse, oms, records
from ledgerflow.governance.signing.auditing import SigningAudit
from ledgerflow.governance.signing.keys import SigningKey, load_public_key
from ledgerflow.governance.signing.manifest import Manifest, is_unsigned
from ledgerflow.governance.signing.records import VersionRef
from ledgerflow.governance.signing.trust_store import TrustStore, UntrustedKey
from ledgerflow.governance.signing.version_files import VersionFiles
from ledgerflow.security.audit import context as audit_context
from ledgerflow.store import registry_versions as version_store
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import now_ms

log = logging.getLogger(__name__)

VALID = "valid"
INVALID = "invalid"
UNSIGNED = "unsigned"
PLATFORM = "platform"
PRODUCER = "producer"
READY = "READY"
PENDING = "PENDING_REGISTRATION"
FAILED = "FAILED_REGISTRATION"
PROMOTION_STAGES = ("Staging", "Production")
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
PREPARED_MANIFEST = "signing.manifest"


@dataclass(frozen=True)
class SignatureState:
    """What is known about a version's signature right now."""

    status: str  # valid | invalid | unsigned
    key_id: str | None = None
    manifest_digest: str | None = None
    reason: str | None = None
    mode: str | None = None
    signed_at: int | None = None
    bundle: dict[str, Any] | None = None

    def facts(self) -> dict[str, Any]:
        """The ``signature`` fact namespace (see governance/facts.py)."""
        return {
            "status": self.status,
            "key_id": self.key_id,
            "manifest_digest": self.manifest_digest,
            "reason": self.reason,
        }

    def to_json(self, *, with_bundle: bool = False) -> dict[str, Any]:
        out = {
            k: v
            for k, v in {**self.facts(), "mode": self.mode, "signed_at": self.signed_at}.items()
            if v is not None
        }
        if with_bundle and self.bundle is not None:
            out["bundle"] = self.bundle
        return out


def _binding(ref: VersionRef) -> oms.Binding:
    return oms.Binding(ref.name, str(ref.version), ref.run_id)


class SignatureService:
    namespace = "signature"

    def __init__(
        self,
        db: Database,
        trust: TrustStore,
        key: SigningKey,
        files: VersionFiles,
        audit: SigningAudit,
        *,
        sign_at_registration: bool,
        require_signature: bool,
    ) -> None:
        self.db = db
        self.trust = trust
        self.key = key
        self.files = files
        self.audit = audit
        self.sign_at_registration = sign_at_registration
        self.require_signature = require_signature
        # Set by the subsystem once the SBOM service exists: why the version's SBOM file
        # cannot be trusted, or None.
        self.sbom_check: Callable[[VersionRef], str | None] | None = None

    # -- registration ---------------------------------------------------------------------------

    def on_registration(self, conn: Connection, created: dict[str, Any]) -> tuple[str, str] | None:
        """The registry's registration check: runs in the creating transaction once the
        version row exists; returns a non-READY (status, message) to hold the version back."""
        ref = VersionRef(
            int(created["registered_model_id"]),
            str(created["name"]),
            int(created["version"]),
            created.get("run_id"),
            str(created["storage_location"]),
            PENDING,
        )
        if self.sign_at_registration:
            try:
                self._sign_platform(conn, ref, created.get("prepared", {}).get(PREPARED_MANIFEST))
            except LedgerflowError as error:
                # Files this server cannot read (outside its artifact roots) cannot be
                # signed; the version is kept but never becomes READY or signed.
                log.warning("Cannot sign %s/%s at registration: %s", ref.name, ref.version, error.message)
                return FAILED, f"The server could not sign the version's files: {error.message}"
            return None
        if self.require_signature:
            return PENDING, "Waiting for a valid signature (signatures are required on this server)."
        return None

    def prepare_registration(self, storage_location: str) -> dict[str, Any]:
        """Hash a new version's files before its write transaction (the registry's prepare
        hook), so the signature made inside it does not hash them under the write lock.
        Files that cannot be read are left to the check, which records why."""
        if not self.sign_at_registration:
            return {}
        ref = VersionRef(0, "", 0, None, storage_location, PENDING)
        try:
            return {PREPARED_MANIFEST: self.files.manifest(ref)}
        except LedgerflowError:
            return {}

    def _sign_platform(self, conn: Connection, ref: VersionRef, manifest: Manifest | None = None) -> None:
        # The manifest hashed just before the transaction, for this same storage location.
        manifest = manifest if manifest is not None else self.files.manifest(ref)
        bundle = oms.sign(manifest, self.key, ref.name, _binding(ref))
        now = now_ms()
        records.put_signature(conn, ref, self._row(bundle, manifest.digest, self.key.key_id, PLATFORM, now))
        self.audit.within(
            conn,
            "signatures.sign",
            ref.name,
            ref.version,
            {"key_id": self.key.key_id, "manifest_digest": manifest.digest, "mode": PLATFORM},
        )

    @staticmethod
    def _row(bundle: dict[str, Any], digest: str, key_id: str, mode: str, now: int) -> dict[str, Any]:
        context = audit_context.current()
        return {
            "key_id": key_id,
            "manifest_digest": digest,
            "mode": mode,
            "bundle": dsse.dumps(bundle),
            "status": VALID,
            "reason": None,
            "verified_at": now,
            "created_by": context.actor if context else None,
            "creation_time": now,
        }

    # -- producer signatures ----------------------------------------------------------------------

    def upload(self, name: str, version: str | int, bundle: Any) -> SignatureState:
        """Verify a CI-made bundle for a version and keep it; the version becomes READY.

        A bundle that does not verify is refused (PERMISSION_DENIED) and recorded in the audit
        trail with the key id it names; the version's state is left as it was."""
        if isinstance(bundle, str):
            if len(bundle) > MAX_BUNDLE_BYTES:
                raise InvalidParameter(f"A signature bundle is at most {MAX_BUNDLE_BYTES} bytes.")
            try:
                bundle = json.loads(bundle)
            except ValueError:
                raise InvalidParameter("The signature bundle is not JSON.") from None
        if not isinstance(bundle, dict):
            raise InvalidParameter("The signature bundle must be a JSON object (a Sigstore bundle).")
        with self.db.read() as conn:
            ref = records.find_version(conn, name, version)
        now = now_ms()
        try:
            opened = dsse.open_bundle(bundle)
        except dsse.EnvelopeError as error:
            raise InvalidParameter(f"The signature bundle is not readable: {error}") from None
        try:
            key = self.trust.trusted(opened.key_hint, now)
            signed = oms.verify(bundle, load_public_key(key.public_key_pem))
            problem = _binding(ref).problem_with(signed.binding)
            if problem is None:
                differences = signed.differences(self.files.manifest(ref))
                problem = "; ".join(differences[:5]) if differences else None
            if problem is not None:
                raise oms.SignatureError(problem)
        except (UntrustedKey, oms.SignatureError) as error:
            self.audit.refused(
                "signatures.upload_refused",
                ref.name,
                ref.version,
                {"key_id": opened.key_hint, "reason": str(error)},
            )
            raise PermissionDenied(
                f"Signature refused for {ref.name} version {ref.version}: {error}"
            ) from None
        digest = signed.manifest.digest

        def store(conn: Connection) -> None:
            current = records.find_version(conn, ref.name, ref.version)
            records.put_signature(conn, current, self._row(bundle, digest, key.key_id, PRODUCER, now))
            if current.status == PENDING:
                version_store.update(
                    conn, current.registered_model_id, current.version, status=READY, status_message=""
                )
            self.audit.within(
                conn,
                "signatures.upload",
                ref.name,
                ref.version,
                {"key_id": key.key_id, "manifest_digest": digest, "mode": PRODUCER},
            )

        self.db.run_write(store)
        return SignatureState(VALID, key.key_id, digest, None, PRODUCER, now, bundle)

    # -- verification -----------------------------------------------------------------------------

    def state(self, name: str, version: str | int) -> SignatureState:
        """Verify the version's stored signature now: trust store, binding and files."""
        with self.db.read() as conn:
            ref = records.find_version(conn, name, version)
            row = records.signature_row(conn, ref)
        return self._state(ref, row)

    def _state(self, ref: VersionRef, row: Any) -> SignatureState:
        if row is None:
            return SignatureState(UNSIGNED)
        bundle = json.loads(row.bundle)
        base = {"key_id": row.key_id, "mode": row.mode, "signed_at": int(row.creation_time), "bundle": bundle}
        try:
            key = self.trust.trusted(dsse.open_bundle(bundle).key_hint, int(row.creation_time))
            signed = oms.verify(bundle, load_public_key(key.public_key_pem))
        except (UntrustedKey, oms.SignatureError, dsse.EnvelopeError) as error:
            return SignatureState(INVALID, manifest_digest=row.manifest_digest, reason=str(error), **base)
        problem = _binding(ref).problem_with(signed.binding)
        actual = self.files.manifest(ref)
        if problem is None:
            differences = signed.differences(actual)
            problem = "; ".join(differences[:5]) if differences else None
        if problem is None and self.sbom_check is not None:
            problem = self.sbom_check(ref)
        if problem is not None:
            return SignatureState(INVALID, manifest_digest=actual.digest, reason=problem, **base)
        return SignatureState(VALID, manifest_digest=signed.manifest.digest, **base)

    def enforce(self, name: str, version: str | int, use: str) -> SignatureState:
        """Refuse ``use`` (download, load, serve, promote) of a version whose signature is
        invalid, or unsigned while signatures are required; audited with the key id."""
        found = self.state(name, version)
        refused = found.status == INVALID or (found.status == UNSIGNED and self.require_signature)
        if refused:
            reason = found.reason or "the version is not signed and signatures are required"
            self.audit.refused(
                f"signatures.{use}_refused",
                name,
                version,
                {
                    "key_id": found.key_id,
                    "status": found.status,
                    "reason": reason,
                    "manifest_digest": found.manifest_digest,
                },
            )
            raise PermissionDenied(
                f"Refusing to {use} {name} version {version}: signature {found.status}: {reason}"
            )
        return found

    def check_promotion(self, name: str, version: int, target: str) -> None:
        """The registry's integrity check before an alias move or a stage change: any alias,
        and the Staging and Production stages, need a version that verifies."""
        if target.startswith("stage:") and target[len("stage:") :] not in PROMOTION_STAGES:
            return
        self.enforce(name, version, "promote")

    def facts_for(self, name: str, version: int) -> dict[str, Any]:
        try:
            return self.state(name, version).facts()
        except Exception:
            log.debug("No signature facts for %s/%s", name, version, exc_info=True)
            return {}

    def enforce_file(self, name: str, version: str | int, path: str) -> None:
        """The download check for one file of a version: the bundle and key must verify and
        the file must be signed with these exact bytes (only that file is re-hashed)."""
        import hashlib

        with self.db.read() as conn:
            ref = records.find_version(conn, name, version)
            row = records.signature_row(conn, ref)
        problem: str | None = None
        key_id = row.key_id if row is not None else None
        if row is None:
            if not self.require_signature:
                return
            problem = "the version is not signed and signatures are required"
        else:
            try:
                bundle = json.loads(row.bundle)
                key = self.trust.trusted(dsse.open_bundle(bundle).key_hint, int(row.creation_time))
                signed = oms.verify(bundle, load_public_key(key.public_key_pem))
                problem = _binding(ref).problem_with(signed.binding)
            except (UntrustedKey, oms.SignatureError, dsse.EnvelopeError) as error:
                problem = str(error)
            if problem is None and is_unsigned(path.strip("/")):
                # Checked against its attestation, not the signature; a missing file is the
                # download's own 404.
                problem = self.sbom_check(ref) if self.sbom_check is not None else None
            elif problem is None:
                expected = signed.manifest.by_name().get(path.strip("/"))
                if expected is None:
                    problem = f"file not signed: {path}"
                else:
                    hasher = hashlib.sha256()
                    for block in self.files.directory(ref).chunks(path.strip("/")):
                        hasher.update(block)
                    if hasher.hexdigest() != expected:
                        problem = f"file changed after signing: {path}"
        if problem is not None:
            self.audit.refused(
                "signatures.download_refused",
                ref.name,
                ref.version,
                {"key_id": key_id, "reason": problem, "path": path},
            )
            raise PermissionDenied(f"Refusing to download {path} of {name} version {version}: {problem}")
