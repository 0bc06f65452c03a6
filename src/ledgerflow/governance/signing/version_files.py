"""The files behind a registered version, as the server stores them."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field

from ledgerflow.artifacts.service import ArtifactService
from ledgerflow.errors import ResourceDoesNotExist
from ledgerflow.governance.signing.manifest import (
    SBOM_FILE,
    Manifest,
    RepositoryDirectory,
    Resource,
    hash_source,
)
from ledgerflow.governance.signing.records import VersionRef

TEXT_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class FilesSnapshot:
    """One pass over a version's files: the manifest and the small text files asked for."""

    manifest: Manifest
    texts: dict[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        return self.texts.get(name)


class VersionFiles:
    def __init__(self, artifacts: ArtifactService) -> None:
        self.artifacts = artifacts

    def directory(self, ref: VersionRef) -> RepositoryDirectory:
        repo, prefix = self.artifacts.roots.resolve(ref.storage_location)
        return RepositoryDirectory(repo, prefix)

    def manifest(self, ref: VersionRef) -> Manifest:
        return hash_source(self.directory(ref))

    def snapshot(self, ref: VersionRef, text_names: Collection[str]) -> FilesSnapshot:
        """List the files once and read each once: its digest, and its text when it is one of
        ``text_names`` (top-level names, as :meth:`read_text` takes) and at most 4 MiB. The
        registration work (SBOM, attestations) uses this instead of listing and reading the
        tree again for every file it looks at."""
        directory = self.directory(ref)
        resources = []
        texts: dict[str, str] = {}
        for name in directory.names():
            hasher = hashlib.sha256()
            keep: bytearray | None = bytearray() if name in text_names else None
            for block in directory.chunks(name):
                hasher.update(block)
                if keep is not None:
                    keep += block
                    if len(keep) > TEXT_LIMIT:
                        keep = None
            resources.append(Resource(name, hasher.hexdigest()))
            if keep is not None:
                texts[name] = keep.decode("utf-8", errors="replace")
        return FilesSnapshot(Manifest.of(resources), texts)

    def read_text(self, ref: VersionRef, name: str, limit: int = TEXT_LIMIT) -> str | None:
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

    def sbom_digest(self, ref: VersionRef) -> str | None:
        """The SHA-256 of the version's ``sbom/cyclonedx.json``, or None when it has none."""
        directory = self.directory(ref)
        hasher = hashlib.sha256()
        try:
            for block in directory.chunks(SBOM_FILE):
                hasher.update(block)
        except ResourceDoesNotExist:
            return None
        return hasher.hexdigest()

    def write_sbom(self, ref: VersionRef, text: str) -> None:
        """Store ``text`` as the version's ``sbom/cyclonedx.json`` through the artifact
        service, so its digest is recorded like every stored file's (and the server's
        upload checks see it). Raises whatever keeps the server from writing there."""
        target = self.artifacts.file_under(ref.storage_location, SBOM_FILE)
        self.artifacts.store(target, [text.encode("utf-8")], "application/json")
