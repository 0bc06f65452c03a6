"""The OpenSSF model-signing (OMS) v1.0 signature: statement, signing and verification.

The statement (in-toto v1, in the DSSE bundle of ``dsse.py``) has one subject, the model
name with the manifest digest (SHA-256 over the per-file digests in the listed order), and
predicate type ``https://model_signing/signature/v1.0`` whose predicate lists every file as
``{name, algorithm, digest}`` under ``resources`` and how they were hashed under
``serialization`` (``method: files``, ``hash_type: sha256``, ``allow_symlinks: false``).

Ledgerflow adds ``predicate.ledgerflow = {model_name, model_version, run_id}``. OMS v1.0
verifiers ignore predicate fields they do not know, so the bundle stays verifiable by the
reference tool, while our verifier refuses a bundle whose binding names another version: a
signature made for version 3 cannot be replayed onto version 4 even with identical files.

OMS lets a signer exclude paths (``ignore_paths``). We only honour the git metadata names the
reference signer excludes by default and the version's SBOM file (``sbom/cyclonedx.json``,
written by the server after registration and checked against its own attestation, see
``manifest.py``), which our signatures list there so that OMS verifiers skip it too; a bundle
excluding anything else is refused, because an excluded file would be served without being
signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ledgerflow.governance.signing import dsse
from ledgerflow.governance.signing.keys import SigningKey
from ledgerflow.governance.signing.manifest import (
    HASH_TYPE,
    UNSIGNED_FILES,
    Manifest,
    Resource,
    is_unsigned,
    root_digest,
)

PREDICATE_TYPE = "https://model_signing/signature/v1.0"
GIT_PATHS = frozenset({".git", ".gitattributes", ".github", ".gitignore"})
_DIGEST_CHARS = frozenset("0123456789abcdef")


class SignatureError(ValueError):
    """A bundle that does not verify, or does not match the files or the version."""


@dataclass(frozen=True)
class Binding:
    """The registry version a signature is made for."""

    model_name: str
    model_version: str
    run_id: str | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model_name": self.model_name, "model_version": self.model_version}
        if self.run_id:
            out["run_id"] = self.run_id
        return out

    def problem_with(self, signed: Binding | None) -> str | None:
        if signed is None:
            return "the signature is not bound to a model version (no predicate.ledgerflow)"
        if (signed.model_name, signed.model_version) != (self.model_name, self.model_version):
            return (
                f"the signature was made for {signed.model_name} version {signed.model_version}, "
                f"not {self.model_name} version {self.model_version}"
            )
        if (signed.run_id or None) != (self.run_id or None):
            return f"the signature was made for run {signed.run_id}, not run {self.run_id}"
        return None


def statement_for(manifest: Manifest, model_name: str, binding: Binding | None) -> dict[str, Any]:
    predicate: dict[str, Any] = {
        "serialization": {
            "method": "files",
            "hash_type": HASH_TYPE,
            "allow_symlinks": False,
            "ignore_paths": sorted(UNSIGNED_FILES),
        },
        "resources": [resource.to_json() for resource in manifest.resources],
    }
    if binding is not None:
        predicate["ledgerflow"] = binding.to_json()
    subject = {"name": model_name, "digest": {"sha256": manifest.digest}}
    return dsse.statement([subject], PREDICATE_TYPE, predicate)


def sign(manifest: Manifest, key: SigningKey, model_name: str, binding: Binding | None) -> dict[str, Any]:
    """The OMS bundle signing ``manifest`` (bound to ``binding`` when given)."""
    return dsse.sign_statement(statement_for(manifest, model_name, binding), key)


@dataclass(frozen=True)
class SignedManifest:
    """What a bundle's verified statement says."""

    subject_name: str
    manifest: Manifest
    binding: Binding | None
    ignored: frozenset[str]

    def differences(self, actual: Manifest) -> list[str]:
        """How ``actual`` (all files of the directory) differs from what was signed; files
        under the git names the signer excluded do not count, nor does the SBOM file on
        either side (a signer that hashed it, e.g. the reference tool on a downloaded
        version, does not make it part of the model)."""
        kept = Manifest(tuple(r for r in actual.resources if r.name.split("/", 1)[0] not in self.ignored))
        signed = Manifest(tuple(r for r in self.manifest.resources if not is_unsigned(r.name)))
        return kept.differences(signed)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise SignatureError(f"The signed statement has no {what}.")
    return value


def _binding(predicate: dict[str, Any]) -> Binding | None:
    found = predicate.get("ledgerflow")
    if found is None:
        return None
    if not isinstance(found, dict):
        raise SignatureError("predicate.ledgerflow is not an object.")
    run_id = found.get("run_id")
    return Binding(
        _text(found.get("model_name"), "model name binding"),
        _text(found.get("model_version"), "model version binding"),
        run_id if isinstance(run_id, str) and run_id else None,
    )


def read_statement(statement: dict[str, Any]) -> SignedManifest:
    """The manifest a verified statement signs, after checking it is self-consistent."""
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise SignatureError(f"The predicate type is not {PREDICATE_TYPE}.")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise SignatureError("An OMS statement has exactly one subject.")
    digest = subjects[0].get("digest")
    expected = _text(digest.get("sha256") if isinstance(digest, dict) else None, "subject digest")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise SignatureError("The signed statement has no predicate.")
    serialization = predicate.get("serialization")
    if not isinstance(serialization, dict) or serialization.get("method") != "files":
        raise SignatureError("Only the 'files' serialization method is supported.")
    if serialization.get("hash_type") != HASH_TYPE:
        raise SignatureError("Only sha256 file digests are supported.")
    if serialization.get("allow_symlinks") not in (False, None):
        raise SignatureError("Signatures that follow symbolic links are not accepted.")
    ignored = serialization.get("ignore_paths") or []
    if not isinstance(ignored, list) or not all(isinstance(p, str) for p in ignored):
        raise SignatureError("serialization.ignore_paths is not a list of paths.")
    extra = sorted({p.strip("/") for p in ignored} - GIT_PATHS - UNSIGNED_FILES)
    if extra:
        raise SignatureError(f"The signature leaves files unsigned (ignore_paths {extra}).")
    resources = predicate.get("resources")
    if not isinstance(resources, list):
        raise SignatureError("The signed statement lists no resources.")
    items = []
    for entry in resources:
        if not isinstance(entry, dict) or entry.get("algorithm") != HASH_TYPE:
            raise SignatureError("Every signed resource needs a sha256 digest.")
        value = _text(entry.get("digest"), "resource digest")
        if len(value) != 64 or not set(value) <= _DIGEST_CHARS:
            raise SignatureError("A signed resource digest is not SHA-256 hex.")
        items.append(Resource(_text(entry.get("name"), "resource name"), value))
    # The subject digest covers the resources in the order they are listed.
    if root_digest(item.digest for item in items) != expected:
        raise SignatureError("The subject digest does not match the signed resources.")
    if len({item.name for item in items}) != len(items):
        raise SignatureError("A resource is listed twice.")
    manifest = Manifest(tuple(items))
    return SignedManifest(
        _text(subjects[0].get("name"), "subject name"), manifest, _binding(predicate), frozenset(ignored)
    )


def verify(bundle: dict[str, Any] | str | bytes, public_key: ec.EllipticCurvePublicKey) -> SignedManifest:
    """Check the bundle's signature with ``public_key`` and read what it signs."""
    try:
        statement = dsse.open_bundle(bundle).verify(public_key)
    except dsse.EnvelopeError as error:
        raise SignatureError(str(error)) from None
    return read_statement(statement)


def manifest_digest_of(signed: SignedManifest) -> str:
    return signed.manifest.digest
