"""The files behind a registered version, as the server stores them."""

from __future__ import annotations

from ledgerflow.artifacts.service import ArtifactService
from ledgerflow.governance.signing.manifest import Manifest, RepositoryDirectory, hash_source
from ledgerflow.governance.signing.records import VersionRef


class VersionFiles:
    def __init__(self, artifacts: ArtifactService) -> None:
        self.artifacts = artifacts

    def directory(self, ref: VersionRef) -> RepositoryDirectory:
        repo, prefix = self.artifacts.roots.resolve(ref.storage_location)
        return RepositoryDirectory(repo, prefix)

    def manifest(self, ref: VersionRef) -> Manifest:
        return hash_source(self.directory(ref))

    def read_text(self, ref: VersionRef, name: str, limit: int = 4 * 1024 * 1024) -> str | None:
        """A small text file of the version (requirements.txt, MLmodel), or None if absent."""
        directory = self.directory(ref)
        if name not in directory.names():
            return None
        data = bytearray()
        for block in directory.chunks(name):
            data += block
            if len(data) > limit:
                return None
        return data.decode("utf-8", errors="replace")
