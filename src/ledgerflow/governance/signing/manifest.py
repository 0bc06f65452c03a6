"""The manifest of a model version's files: one SHA-256 per file, in canonical order.

Canonical order sorts paths by their components (``a/b`` before ``a.txt``), the order the
OMS reference implementation lists resources in, so both tools compute the same manifest
digest for the same directory: SHA-256 over the concatenated raw per-file digests.

Files come from a :class:`FileSource`: a local directory (the CLI, ``load_model`` after
download) or the server's artifact repository (local disk or S3). Symbolic links are not
followed and are refused in a local directory (OMS ``allow_symlinks: false``).

One file is never part of a manifest: ``sbom/cyclonedx.json``, which the server writes into a
version's folder after registration. The SBOM describes the signed files (it carries the
manifest digest), so it cannot be among them; its own integrity is its SBOM attestation, and
signatures list it under OMS ``ignore_paths``, as OMS tools leave out their own signature
files. Only that exact path is left out: any other file, in ``sbom/`` or elsewhere, is signed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ledgerflow.errors import InvalidParameter

if TYPE_CHECKING:
    from ledgerflow.artifacts.repository import ArtifactRepository

HASH_TYPE = "sha256"
SBOM_FILE = "sbom/cyclonedx.json"
UNSIGNED_FILES = frozenset({SBOM_FILE})
_READ_SIZE = 1024 * 1024


def is_unsigned(name: str) -> bool:
    """Whether a relative path is left out of every manifest (see the module docstring)."""
    return name in UNSIGNED_FILES


def order_key(name: str) -> tuple[str, ...]:
    return tuple(name.split("/"))


@dataclass(frozen=True)
class Resource:
    name: str  # relative POSIX path
    digest: str  # hex SHA-256 of the contents

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "algorithm": HASH_TYPE, "digest": self.digest}


@dataclass(frozen=True)
class Manifest:
    resources: tuple[Resource, ...]

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> Manifest:
        return cls(tuple(sorted(resources, key=lambda r: order_key(r.name))))

    @property
    def digest(self) -> str:
        return root_digest(r.digest for r in self.resources)

    def by_name(self) -> dict[str, str]:
        return {r.name: r.digest for r in self.resources}

    def differences(self, signed: Manifest) -> list[str]:
        """What differs between these (actual) files and the ``signed`` manifest, one line
        per file: files added after signing, signed files missing, changed contents."""
        actual, expected = self.by_name(), signed.by_name()
        found = [f"file added after signing: {name}" for name in sorted(actual.keys() - expected.keys())]
        found += [f"signed file missing: {name}" for name in sorted(expected.keys() - actual.keys())]
        found += [
            f"file changed after signing: {name}"
            for name in sorted(actual.keys() & expected.keys())
            if actual[name] != expected[name]
        ]
        return found


def root_digest(digests: Iterable[str]) -> str:
    """SHA-256 over the raw bytes of each digest, in the order given (OMS subject digest)."""
    hasher = hashlib.sha256()
    for value in digests:
        hasher.update(bytes.fromhex(value))
    return hasher.hexdigest()


class FileSource(Protocol):
    """The regular files below one directory that a manifest covers (all but
    :data:`UNSIGNED_FILES`)."""

    def names(self) -> list[str]: ...

    def chunks(self, name: str) -> Iterator[bytes]: ...


def hash_source(source: FileSource) -> Manifest:
    resources = []
    for name in source.names():
        hasher = hashlib.sha256()
        for block in source.chunks(name):
            hasher.update(block)
        resources.append(Resource(name, hasher.hexdigest()))
    return Manifest.of(resources)


class LocalDirectory:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InvalidParameter(f"'{root}' is not a directory.")

    def names(self) -> list[str]:
        found: list[str] = []
        for folder, dirs, files in os.walk(self.root, followlinks=False):
            base = Path(folder)
            for entry in [*dirs, *files]:
                if (base / entry).is_symlink():
                    raise InvalidParameter(
                        f"'{(base / entry).relative_to(self.root).as_posix()}' is a symbolic link; "
                        "model directories with links cannot be signed or verified."
                    )
            found.extend((base / name).relative_to(self.root).as_posix() for name in files)
        return sorted((name for name in found if not is_unsigned(name)), key=order_key)

    def chunks(self, name: str) -> Iterator[bytes]:
        with (self.root / name).open("rb") as handle:
            while block := handle.read(_READ_SIZE):
                yield block


class RepositoryDirectory:
    """A version's files in the server's artifact repository (listed recursively)."""

    def __init__(self, repo: ArtifactRepository, prefix: str) -> None:
        self.repo = repo
        self.prefix = prefix.strip("/")

    def _walk(self, rel: str) -> Iterator[str]:
        for info in self.repo.list_dir(rel):
            if info.is_dir:
                yield from self._walk(info.path)
            else:
                yield info.path

    def names(self) -> list[str]:
        cut = len(self.prefix) + 1 if self.prefix else 0
        names = (path[cut:] for path in self._walk(self.prefix))
        return sorted((name for name in names if not is_unsigned(name)), key=order_key)

    def chunks(self, name: str) -> Iterator[bytes]:
        stream = self.repo.open_read(f"{self.prefix}/{name}" if self.prefix else name)
        try:
            yield from stream.chunks
        finally:
            stream.close()
