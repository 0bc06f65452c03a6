"""The Ed25519 key that signs audit checkpoints.

The private key lives in a PEM file readable only by the server's user (0600), outside the
artifact root: by default next to an SQLite database, else under ``~/.ledgerflow``. Replicas
that share a database should share the file; each distinct key is listed in ``audit_keys`` by
its id, so ``ledgerflow audit verify`` needs only public keys.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.keyfiles import key_path_beside_store

from .chain import canonical_json

log = logging.getLogger(__name__)
KEY_FILE_NAME = "ledgerflow-audit-signing-key.pem"
_DOMAIN = b"ledgerflow-audit-checkpoint\n"
# Each signed statement has its own domain, so a signature over one can never pass for another.
_SCHEDULE_DOMAIN = b"ledgerflow-audit-checkpoint-schedule\n"
_ANCHOR_DOMAIN = b"ledgerflow-audit-anchor\n"


def checkpoint_message(seq: int, record_hash: str, time_ms: int, key_id: str) -> bytes:
    body = {"seq": seq, "record_hash": record_hash, "time_ms": time_ms, "key_id": key_id}
    return _DOMAIN + canonical_json(body).encode()


def schedule_message(seq: int, key_id: str, interval: int, seconds: float) -> bytes:
    """What a writer signs when it declares its checkpoint schedule in the record at ``seq``:
    a checkpoint at every multiple of ``interval`` and at most ``seconds`` after a write."""
    body = {
        "seq": seq,
        "key_id": key_id,
        "checkpoint_interval": interval,
        "checkpoint_seconds": float(seconds),
    }
    return _SCHEDULE_DOMAIN + canonical_json(body).encode()


def anchor_message(seq: int, record_hash: str, time_ms: int, key_id: str) -> bytes:
    body = {"seq": seq, "record_hash": record_hash, "time_ms": time_ms, "key_id": key_id}
    return _ANCHOR_DOMAIN + canonical_json(body).encode()


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id_of(public_text: str) -> str:
    return hashlib.sha256(public_text.encode()).hexdigest()[:16]


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its base64 raw form or a PEM ``PUBLIC KEY`` block."""
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            loaded = serialization.load_pem_public_key(stripped.encode())
            if not isinstance(loaded, Ed25519PublicKey):
                raise InvalidParameter("The public key file does not hold an Ed25519 key.")
            return loaded
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(stripped, validate=True))
    except (ValueError, TypeError):
        raise InvalidParameter("Could not read the audit public key.") from None


def verify_signature(public_text: str, signature: str, message: bytes) -> bool:
    try:
        load_public_key(public_text).verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError, InvalidParameter):
        return False
    return True


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    path: str

    @property
    def public_text(self) -> str:
        return public_key_text(self.private_key.public_key())

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_text)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private_key.sign(message)).decode()

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )


def default_key_path(backend_store_uri: str) -> str:
    return key_path_beside_store(backend_store_uri, KEY_FILE_NAME)


def load_or_create(path: str) -> Signer:
    """Read the key file, making a new key first if there is none."""
    target = Path(path)
    if not target.exists():
        _create(target)
    mode = stat.S_IMODE(target.stat().st_mode)
    if mode & 0o077:
        log.warning("Audit signing key %s is readable by other users (mode %o); use chmod 600.", path, mode)
    try:
        key = serialization.load_pem_private_key(target.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise InvalidParameter(f"The audit signing key file '{path}' is not a PEM private key.") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidParameter(f"The audit signing key file '{path}' does not hold an Ed25519 key.")
    return Signer(key, str(target))


def _create(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Written to a private temp file and then hard-linked into place: two servers starting at
    # once never read a half-written key, and the loser of the race keeps the winner's key.
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".audit-key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
        os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(temp, target)
    finally:
        os.unlink(temp)
