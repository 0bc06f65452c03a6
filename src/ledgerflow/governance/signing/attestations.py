"""Attestations: signed statements about a model version, for any subsystem to record.

Usage (from another subsystem, through the service container)::

    attestation_id = services.attestations.attest(
        "https://ledgerflow.dev/attestations/policy-evaluation/v1",   # predicate_type
        "iris-rf", 3,                                                 # subject name, version
        manifest_digest,                                              # or None: current files
        {"policy_digest": "...", "decision": "pass", "rules": [...]}, # predicate (JSON object)
    )
    services.attestations.list("iris-rf", 3, predicate_type=None)   # -> [Attestation]
    services.attestations.get(attestation_id)                       # -> Attestation
    services.attestations.verify(attestation_id)                    # -> AttestationCheck

Each attestation is an in-toto Statement v1 in a DSSE envelope (the same Sigstore bundle v0.3
container as an OMS model signature), signed with the server's ECDSA P-256 key, which is in
the trust store. Its one subject is the registered model name with the version's **manifest
digest** (SHA-256 over the per-file digests, see ``manifest.py``) and annotations binding the
version number and run id, so an attestation cannot be read as being about another version
or about other bytes.

``manifest_digest``: pass the digest the predicate was computed on; it must equal the digest
of the version's files now (ResourceConflict otherwise: the files changed under you). Pass
None to bind to the current files. ``predicate`` must be a JSON object of at most 1 MiB
without NaN or infinities (it is canonicalised with RFC 8785 before signing).

Writing is recorded in the audit trail in the same transaction (action
``attestations.create``, naming the key id and predicate type). ``verify`` re-checks the
signature against the trust store (a revoked key makes every attestation it signed invalid)
and the binding to the stored version; with ``check_files`` it also re-hashes the version's
files and reports whether they still match.

Predicate types Ledgerflow itself writes are the ``PREDICATE_*`` constants below.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import rfc8785
from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter, ResourceConflict, ResourceDoesNotExist
from ledgerflow.governance.signing import dsse, records
from ledgerflow.governance.signing.auditing import SigningAudit
from ledgerflow.governance.signing.keys import SigningKey, load_public_key
from ledgerflow.governance.signing.records import VersionRef
from ledgerflow.governance.signing.trust_store import TrustStore, UntrustedKey
from ledgerflow.governance.signing.version_files import VersionFiles
from ledgerflow.security.audit import context as audit_context
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import now_ms

_BASE = "https://ledgerflow.dev/attestations"
PREDICATE_PROVENANCE = "https://slsa.dev/provenance/v1"
PREDICATE_SBOM = "https://cyclonedx.org/bom/v1.6"
PREDICATE_POLICY_EVALUATION = f"{_BASE}/policy-evaluation/v1"
PREDICATE_EVALUATION = f"{_BASE}/evaluation/v1"
PREDICATE_SCAN = f"{_BASE}/scan/v1"
PREDICATE_APPROVAL = f"{_BASE}/approval/v1"

ANNOTATION_VERSION = "ledgerflow.model_version"
ANNOTATION_RUN_ID = "ledgerflow.run_id"
MAX_PREDICATE_BYTES = 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_PREDICATE_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]{1,240}$")


@dataclass(frozen=True)
class Attestation:
    attestation_id: str
    name: str
    version: int
    predicate_type: str
    manifest_digest: str
    key_id: str
    created_by: str | None
    creation_time: int
    bundle: dict[str, Any]

    @property
    def predicate(self) -> Any:
        return dsse.open_bundle(self.bundle).statement().get("predicate")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attestation_id": self.attestation_id,
            "name": self.name,
            "version": str(self.version),
            "predicate_type": self.predicate_type,
            "manifest_digest": self.manifest_digest,
            "key_id": self.key_id,
            "creation_time": self.creation_time,
            "predicate": self.predicate,
            "bundle": self.bundle,
        }
        if self.created_by is not None:
            out["created_by"] = self.created_by
        return out


@dataclass(frozen=True)
class AttestationCheck:
    attestation_id: str
    valid: bool
    key_id: str | None
    reason: str | None = None
    # Only with check_files: whether the version's files still hash to the attested digest.
    files_match: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"attestation_id": self.attestation_id, "valid": self.valid}
        for name in ("key_id", "reason", "files_match"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


def binding_subject(ref: VersionRef, manifest_digest: str) -> dict[str, Any]:
    annotations = {ANNOTATION_VERSION: str(ref.version)}
    if ref.run_id:
        annotations[ANNOTATION_RUN_ID] = ref.run_id
    return {"name": ref.name, "digest": {"sha256": manifest_digest}, "annotations": annotations}


def _canonical_predicate(predicate: Any) -> dict[str, Any]:
    if not isinstance(predicate, dict):
        raise InvalidParameter("An attestation predicate must be a JSON object.")
    try:
        encoded = rfc8785.dumps(predicate)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as error:
        raise InvalidParameter(f"The attestation predicate is not canonical JSON: {error}") from None
    if len(encoded) > MAX_PREDICATE_BYTES:
        raise InvalidParameter(f"An attestation predicate is at most {MAX_PREDICATE_BYTES} bytes.")
    result: dict[str, Any] = json.loads(encoded)
    return result


class AttestationService:
    def __init__(
        self, db: Database, trust: TrustStore, key: SigningKey, files: VersionFiles, audit: SigningAudit
    ) -> None:
        self.db = db
        self.trust = trust
        self.key = key
        self.files = files
        self.audit = audit

    def _ref(self, name: str, version: str | int) -> VersionRef:
        with self.db.read() as conn:
            return records.find_version(conn, name, version)

    def attest(
        self,
        predicate_type: str,
        subject_name: str,
        subject_version: str | int,
        manifest_digest: str | None,
        predicate: dict[str, Any],
    ) -> str:
        """Sign and store a statement about a version; returns the new attestation id."""
        if not isinstance(predicate_type, str) or not _PREDICATE_TYPE.match(predicate_type):
            raise InvalidParameter("An attestation predicate_type must be a URI (at most 256 characters).")
        body = _canonical_predicate(predicate)
        ref = self._ref(subject_name, subject_version)
        current = self.files.manifest(ref).digest
        if manifest_digest is None:
            manifest_digest = current
        elif not isinstance(manifest_digest, str) or not _DIGEST.match(manifest_digest):
            raise InvalidParameter("manifest_digest must be 64 lowercase hex characters (SHA-256).")
        elif manifest_digest != current:
            raise ResourceConflict(
                f"manifest_digest {manifest_digest} is not the digest of {ref.name} version "
                f"{ref.version}'s files ({current}); they changed since it was computed."
            )
        return self.record(ref, predicate_type, manifest_digest, body)

    def record(
        self, ref: VersionRef, predicate_type: str, manifest_digest: str, predicate: dict[str, Any]
    ) -> str:
        """Sign and store with a digest already checked by the caller (this subsystem)."""
        statement = dsse.statement([binding_subject(ref, manifest_digest)], predicate_type, predicate)
        bundle = dsse.sign_statement(statement, self.key)
        attestation_id = uuid.uuid4().hex
        context = audit_context.current()

        def store(conn: Connection) -> None:
            # The version must still exist (under that name) when the record lands.
            records.require_unchanged(conn, ref)
            records.insert_attestation(
                conn,
                {
                    "attestation_id": attestation_id,
                    **ref.key,
                    "subject_name": ref.name,
                    "predicate_type": predicate_type,
                    "manifest_digest": manifest_digest,
                    "key_id": self.key.key_id,
                    "envelope": dsse.dumps(bundle),
                    "created_by": context.actor if context else None,
                    "creation_time": now_ms(),
                },
            )
            self.audit.within(
                conn,
                "attestations.create",
                ref.name,
                ref.version,
                {
                    "attestation_id": attestation_id,
                    "predicate_type": predicate_type,
                    "key_id": self.key.key_id,
                    "manifest_digest": manifest_digest,
                },
            )

        self.db.run_write(store)
        return attestation_id

    @staticmethod
    def _from_row(row: Any, name: str) -> Attestation:
        return Attestation(
            attestation_id=str(row.attestation_id),
            name=name,
            version=int(row.version),
            predicate_type=str(row.predicate_type),
            manifest_digest=str(row.manifest_digest),
            key_id=str(row.key_id),
            created_by=row.created_by,
            creation_time=int(row.creation_time),
            bundle=json.loads(row.envelope),
        )

    def list(self, name: str, version: str | int, predicate_type: str | None = None) -> list[Attestation]:
        """The version's attestations, oldest first (optionally of one predicate type)."""
        with self.db.read() as conn:
            ref = records.find_version(conn, name, version)
            rows = records.attestation_rows(conn, ref, predicate_type)
        return [self._from_row(row, ref.name) for row in rows]

    def get(self, attestation_id: str) -> Attestation:
        with self.db.read() as conn:
            row = records.attestation_row(conn, attestation_id) if isinstance(attestation_id, str) else None
            if row is None:
                raise ResourceDoesNotExist(f"No attestation with id '{attestation_id}'.")
            name = records.model_name(conn, int(row.registered_model_id))
        return self._from_row(row, name)

    def verify(self, attestation_id: str, *, check_files: bool = False) -> AttestationCheck:
        """Check the signature (trust store at creation time), the predicate type and the
        binding to the stored version and digest."""
        found = self.get(attestation_id)
        check = self.check(found)
        if check.valid and check_files:
            files_match = (
                self.files.manifest(self._ref(found.name, found.version)).digest == found.manifest_digest
            )
            return AttestationCheck(found.attestation_id, True, check.key_id, None, files_match)
        return check

    def check(self, found: Attestation) -> AttestationCheck:
        """:meth:`verify` on an attestation already read (signature and binding only)."""
        try:
            opened = dsse.open_bundle(found.bundle)
            key = self.trust.trusted(opened.key_hint, found.creation_time)
            statement = opened.verify(load_public_key(key.public_key_pem))
        except (dsse.EnvelopeError, UntrustedKey) as error:
            return AttestationCheck(found.attestation_id, False, found.key_id, str(error))
        problem = _binding_problem(statement, found)
        if problem is not None:
            return AttestationCheck(found.attestation_id, False, key.key_id, problem)
        return AttestationCheck(found.attestation_id, True, key.key_id)

    def valid_predicates(
        self, ref: VersionRef, predicate_type: str, *, same_location: bool = False
    ) -> tuple[Any, ...]:
        """The predicates of the valid ``predicate_type`` attestations about ``ref``, or, with
        ``same_location``, about any version stored at ``ref``'s storage location."""
        with self.db.read() as conn:
            rows = (
                records.attestations_at(conn, ref.storage_location, predicate_type)
                if same_location
                else records.attestation_rows(conn, ref, predicate_type)
            )
        found = [self._from_row(row, ref.name) for row in rows]
        return tuple(item.predicate for item in found if self.check(item).valid)


def _binding_problem(statement: dict[str, Any], found: Attestation) -> str | None:
    if statement.get("predicateType") != found.predicate_type:
        return "the signed predicate type differs from the stored one"
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        return "the statement must have exactly one subject"
    subject: dict[str, Any] = subjects[0]
    digest = subject.get("digest")
    if not isinstance(digest, dict) or digest.get("sha256") != found.manifest_digest:
        return "the signed manifest digest differs from the stored one"
    annotations = subject.get("annotations")
    if not isinstance(annotations, dict) or annotations.get(ANNOTATION_VERSION) != str(found.version):
        return "the statement is bound to another model version"
    return None
