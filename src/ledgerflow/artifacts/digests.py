"""SHA-256 digests of stored artifact files, computed while the upload streams through.

Rows live in ``artifact_digests`` keyed by sha256(location), so a client can check what it
downloaded against what was uploaded and an operator can find files changed behind the
server's back (:meth:`ArtifactService.verify`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledgerflow.store.database import Database
from ledgerflow.store.schema import artifact_digests


@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str  # lowercase hex

    @property
    def sha256_base64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.sha256)).decode("ascii")

    def headers(self) -> dict[str, str]:
        """``X-Ledgerflow-Sha256`` plus the RFC 9530 ``Repr-Digest`` field."""
        return {"X-Ledgerflow-Sha256": self.sha256, "Repr-Digest": f"sha-256=:{self.sha256_base64}:"}


class StreamHasher:
    """Counts and hashes bytes as they pass."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.size, self._hash.hexdigest())


def location_hash(location: str) -> str:
    return hashlib.sha256(location.encode("utf-8", "surrogatepass")).hexdigest()


# Extra work a caller runs in the same transaction (the scan result of the same file).
Also = Callable[[Connection], None] | None


def _upsert(conn: Connection, location: str, digest: Digest, now: int, also: Also = None) -> None:
    key = location_hash(location)
    values = {"location": location, "size": digest.size, "sha256": digest.sha256, "created_time": now}
    updated = conn.execute(
        sa.update(artifact_digests).where(artifact_digests.c.location_hash == key).values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(sa.insert(artifact_digests).values(location_hash=key, **values))
    if also is not None:
        also(conn)


def record(db: Database, location: str, digest: Digest, now: int, *, also: Also = None) -> None:
    """Store (or replace) the digest of the file at *location* (and run *also* with it)."""
    try:
        db.run_write(_upsert, location, digest, now, also)
    except IntegrityError:
        # Another upload of the same path inserted first; ours is the later write.
        db.run_write(_upsert, location, digest, now, also)


def lookup(db: Database, location: str) -> Digest | None:
    with db.read() as conn:
        row = conn.execute(
            sa.select(artifact_digests.c.size, artifact_digests.c.sha256).where(
                artifact_digests.c.location_hash == location_hash(location)
            )
        ).first()
    return None if row is None else Digest(int(row.size), str(row.sha256))


def _forget(conn: Connection, location: str, also: Also = None) -> None:
    conn.execute(
        sa.delete(artifact_digests).where(
            sa.or_(
                artifact_digests.c.location_hash == location_hash(location),
                artifact_digests.c.location.startswith(location.rstrip("/") + "/", autoescape=True),
            )
        )
    )
    if also is not None:
        also(conn)


def forget_tree(db: Database, location: str, *, also: Also = None) -> None:
    """Drop the digests of *location* and of everything below it (and run *also* with it)."""
    db.run_write(_forget, location, also)
