"""The subject of a gate: which files a model version is, as one digest.

The manifest digest is the signing subsystem's (OMS per-file manifest, the digest signatures
and attestations bind to), computed from the files now, not read from a record, so changing,
adding or removing a file after an approval changes it. Without the signing subsystem it falls
back to SHA-256 over the sorted ``path NUL sha256 LF`` lines of the version's files. A version whose files are
not stored on this server has no manifest digest (None), and a request bound to None can only
be executed while the files are still unreadable here; the signature and scan rules then carry
the evidence.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from ledgerflow.errors import LedgerflowError

if TYPE_CHECKING:
    from ledgerflow.artifacts.repository import ArtifactRepository
    from ledgerflow.tracking.services import Services

MAX_FILES = 10_000


def _files(repo: ArtifactRepository, rel: str) -> list[str]:
    found: list[str] = []
    pending = [rel]
    while pending:
        for info in repo.list_dir(pending.pop()):
            if info.is_dir:
                pending.append(info.path)
            else:
                found.append(info.path)
            if len(found) > MAX_FILES:
                raise ValueError("too many files")
    return sorted(found)


def manifest_digest(services: Services, name: str, version: int) -> str | None:
    attestations = getattr(services, "attestations", None)
    if attestations is not None:
        from ledgerflow.governance.signing.records import find_version

        try:
            with services.db.read() as conn:
                ref = find_version(conn, name, version)
            found: str = attestations.files.manifest(ref).digest
            return found
        except (LedgerflowError, ValueError, OSError):
            return None
    return _file_digest(services, name, version)


def _file_digest(services: Services, name: str, version: int) -> str | None:
    try:
        location = services.registry.versions.download_uri(name, version)
        repo, prefix = services.artifacts.roots.resolve(location)
        files = _files(repo, prefix)
    except (LedgerflowError, ValueError, OSError):
        return None
    if not files:
        return None
    manifest = hashlib.sha256()
    for path in files:
        content = hashlib.sha256()
        stream = repo.open_read(path)
        try:
            for chunk in stream.chunks:
                content.update(chunk)
        finally:
            stream.close()
        relative = path[len(prefix) :].lstrip("/") if prefix else path
        manifest.update(f"{relative}\0{content.hexdigest()}\n".encode())
    return manifest.hexdigest()
