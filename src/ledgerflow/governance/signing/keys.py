"""ECDSA P-256 keys: loading, generating, and the key id every bundle names.

A key id is the SHA-256 (hex) of the public key's SubjectPublicKeyInfo PEM, which is what an
OMS bundle carries as ``verificationMaterial.publicKey.hint``; the trust store is keyed by it,
so a bundle names the key to check it with and nobody has to trust the name.

The server's own private key lives in a PEM file readable only by its user (0600), outside
the artifact root and never in the database; it is made on first start like the audit key.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.keyfiles import key_path_beside_store

log = logging.getLogger(__name__)

ALGORITHM = "ecdsa-p256-sha256"
SERVER_KEY_FILE = "ledgerflow-signing-key.pem"
_CURVE = "secp256r1"


def public_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_id_of(pem: str) -> str:
    return hashlib.sha256(pem.encode("ascii")).hexdigest()


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from PEM text (InvalidParameter for anything else)."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise InvalidParameter("The public key is not a PEM SubjectPublicKeyInfo key.") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _CURVE:
        # OMS key mode verifiers only take ECDSA keys; we sign with P-256 only.
        raise InvalidParameter("Only ECDSA P-256 public keys are accepted.")
    return key


def canonical_public_pem(pem: str) -> str:
    """The PEM as ``cryptography`` writes it, so one key always has one key id."""
    return public_pem(load_public_key(pem))


@dataclass(frozen=True)
class SigningKey:
    """A private key in memory, with the public half's PEM and key id."""

    private: ec.EllipticCurvePrivateKey

    @property
    def public_pem(self) -> str:
        return public_pem(self.private.public_key())

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_pem)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message, ec.ECDSA(hashes.SHA256()))


def generate() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP256R1()))


def private_pem(key: SigningKey) -> bytes:
    return key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(path: str | Path, password: bytes | None = None) -> SigningKey:
    target = Path(path)
    try:
        data = target.read_bytes()
    except OSError as error:
        raise InvalidParameter(f"Cannot read the key file '{path}': {error.strerror}.") from None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError):
        raise InvalidParameter(f"The key file '{path}' is not a readable PEM private key.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _CURVE:
        raise InvalidParameter(f"The key file '{path}' does not hold an ECDSA P-256 key.")
    return SigningKey(key)


def write_private_key(path: str | Path, key: SigningKey) -> None:
    """Write a new key file with mode 0600, never replacing an existing file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written privately then hard-linked into place: two servers starting at once never read
    # half a key, and the loser of the race keeps the winner's key.
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".signing-key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, private_pem(key))
        os.fsync(fd)
        os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(temp, target)
    finally:
        os.unlink(temp)


def default_server_key_path(backend_store_uri: str) -> str:
    return key_path_beside_store(backend_store_uri, SERVER_KEY_FILE)


def load_or_create(path: str) -> SigningKey:
    target = Path(path)
    if not target.exists():
        write_private_key(target, generate())
    mode = stat.S_IMODE(target.stat().st_mode)
    if mode & 0o077:
        log.warning("Signing key %s is readable by other users (mode %o); use chmod 600.", path, mode)
    return load_private_key(target)
