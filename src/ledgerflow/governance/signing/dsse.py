"""DSSE envelopes in Sigstore bundle v0.3 form, signed with ECDSA P-256.

This is the container of the OpenSSF model-signing (OMS) format: a bundle whose
``dsseEnvelope`` carries a base64 in-toto Statement v1 and one signature over the DSSE
pre-authentication encoding (PAE) of that payload, and whose ``verificationMaterial`` names
the key by ``publicKey.hint`` (the key id). Every attestation Ledgerflow writes uses the same
container, so one verifier checks signatures and attestations alike.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerflow.governance.signing.keys import SigningKey

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


class EnvelopeError(ValueError):
    """A bundle that is malformed or whose signature does not check."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature is computed over."""
    head = f"DSSEv1 {len(payload_type.encode())} {payload_type} {len(payload)} "
    return head.encode() + payload


def statement(
    subjects: list[dict[str, Any]], predicate_type: str, predicate: dict[str, Any]
) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def sign_statement(body: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """A bundle holding ``body`` (canonical JSON, RFC 8785) signed by ``key``."""
    payload = rfc8785.dumps(body)
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key.key_id}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }


@dataclass(frozen=True)
class OpenedBundle:
    """A parsed bundle whose signature has not been checked yet."""

    key_hint: str | None
    payload: bytes
    signature: bytes

    def statement(self) -> dict[str, Any]:
        try:
            body = json.loads(self.payload)
        except ValueError:
            raise EnvelopeError("The signed payload is not JSON.") from None
        if not isinstance(body, dict) or body.get("_type") != STATEMENT_TYPE:
            raise EnvelopeError(f"The signed payload is not an in-toto {STATEMENT_TYPE} statement.")
        return body

    def verify(self, public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
        """The statement, once the signature checks against ``public_key``."""
        try:
            public_key.verify(self.signature, pae(PAYLOAD_TYPE, self.payload), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise EnvelopeError("The signature does not match the signed payload and key.") from None
        return self.statement()


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise EnvelopeError(f"The bundle's {what} is missing.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"The bundle's {what} is not base64.") from None


def open_bundle(document: str | bytes | dict[str, Any]) -> OpenedBundle:
    """Parse a bundle (JSON text or the decoded object) without trusting anything in it."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError:
            raise EnvelopeError("The bundle is not JSON.") from None
    if not isinstance(document, dict):
        raise EnvelopeError("The bundle is not a JSON object.")
    if document.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise EnvelopeError(f"The bundle's mediaType is not {BUNDLE_MEDIA_TYPE}.")
    envelope = document.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise EnvelopeError("The bundle holds no dsseEnvelope.")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise EnvelopeError(f"The envelope's payloadType is not {PAYLOAD_TYPE}.")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or len(signatures) != 1 or not isinstance(signatures[0], dict):
        raise EnvelopeError("The envelope must hold exactly one signature.")
    material = document.get("verificationMaterial")
    hint = None
    if isinstance(material, dict) and isinstance(material.get("publicKey"), dict):
        found = material["publicKey"].get("hint")
        hint = found if isinstance(found, str) and found else None
    return OpenedBundle(
        hint, _b64(envelope.get("payload"), "payload"), _b64(signatures[0].get("sig"), "signature")
    )


def dumps(bundle: dict[str, Any]) -> str:
    """The stored text of a bundle (canonical, so equal bundles store equal bytes)."""
    return rfc8785.dumps(bundle).decode("utf-8")
