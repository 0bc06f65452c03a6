"""Artifacts in a local folder, laid out exactly as paths read (``<root>/<exp>/<run>/artifacts/x``).

Uploads stream into a hidden temporary file in the target directory and are renamed over the
target only once complete, so readers never see half a file and an aborted upload leaves
nothing behind. Every path is resolved (symbolic links included) and must stay inside the
root's real path before anything is read, listed, written or deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from ledgerflow.artifacts import paths
from ledgerflow.artifacts.paths import invalid_path
from ledgerflow.artifacts.repository import (
    CHUNK_SIZE,
    ArtifactRepository,
    ArtifactWriter,
    FileInfo,
    FileStream,
)
from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist

TEMP_PREFIX = ".lf-upload-"
TEMP_SUFFIX = ".part"
FILE_MODE = 0o644


def _is_temp(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def _read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while data := handle.read(CHUNK_SIZE):
            yield data


class LocalWriter(ArtifactWriter):
    def __init__(self, final_path: str, directory: str) -> None:
        self.final_path = final_path
        fd, self.temp_path = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        self.finished = False

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.chmod(self.temp_path, FILE_MODE)
            os.replace(self.temp_path, self.final_path)
        except IsADirectoryError:
            self.abort()
            raise InvalidParameter("Invalid path: a directory exists at this path") from None
        except BaseException:
            self.abort()
            raise
        self.finished = True

    def abort(self) -> None:
        if self.finished:
            return
        self.finished = True
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)


def file_uri_path(uri: str) -> str:
    """The path of a ``file:`` URI in both spellings MLflow accepts: ``file:///abs/path`` and
    ``file:/abs/path`` (a host, as in ``file://host/x``, leaves no absolute path)."""
    rest = uri[len("file:") :]
    return rest[2:] if rest.startswith("//") else rest


class LocalArtifactRepository(ArtifactRepository):
    def __init__(self, root: str) -> None:
        if root.startswith("file:"):
            path = file_uri_path(root)
            if not path.startswith("/"):
                raise InvalidParameter(f"Unsupported file URI with a host: '{root}'.")
            root = path
        self.root = os.path.abspath(root)

    def location(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/")) if rel else self.root

    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _contained(self, real: str) -> bool:
        base = self._real_root()
        return real == base or real.startswith(base.rstrip(os.sep) + os.sep)

    def _resolve(self, rel: str) -> str:
        real = os.path.realpath(self.location(rel))
        if not self._contained(real):
            raise invalid_path("it resolves outside the artifact root")
        return real

    def open_writer(self, rel: str, content_type: str | None = None) -> ArtifactWriter:
        if not rel:
            raise invalid_path("the path is empty")
        final = self.location(rel)
        directory = self._resolve(rel.rpartition("/")[0])
        try:
            os.makedirs(directory, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise invalid_path("a parent of this path is a file") from None
        # makedirs may have raced with a symlink swap; check the directory we will write into.
        if not self._contained(os.path.realpath(directory)):
            raise invalid_path("it resolves outside the artifact root")
        if os.path.isdir(final) and not os.path.islink(final):
            raise invalid_path("a directory exists at this path")
        try:
            return LocalWriter(final, directory)
        except OSError as error:
            raise InvalidParameter(f"Invalid path: cannot write there ({error.strerror})") from None

    def open_read(self, rel: str) -> FileStream:
        missing = ResourceDoesNotExist(f"Artifact '{rel}' does not exist.")
        if not rel:
            raise missing
        real = self._resolve(rel)
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise missing from None
        except OSError:
            # A symlink appeared between resolving and opening (O_NOFOLLOW refuses it).
            raise invalid_path("it resolves outside the artifact root") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise missing
        return FileStream(
            size=info.st_size,
            chunks=_read_chunks(os.fdopen(fd, "rb")),
            modified_ms=info.st_mtime_ns // 1_000_000,
        )

    def list_dir(self, rel: str) -> list[FileInfo]:
        real = self._resolve(rel)
        if not os.path.isdir(real):
            return []
        entries: list[FileInfo] = []
        with os.scandir(real) as scan:
            for entry in scan:
                if _is_temp(entry.name) or not paths.is_safe(entry.name):
                    continue
                if entry.is_symlink() and not self._contained(os.path.realpath(entry.path)):
                    continue
                child = paths.join(rel, entry.name)
                try:
                    if entry.is_dir():
                        entries.append(FileInfo(child, True))
                    elif entry.is_file():
                        entries.append(FileInfo(child, False, entry.stat().st_size))
                except OSError:
                    continue  # vanished while listing
        return sorted(entries, key=lambda info: info.path)

    def delete(self, rel: str) -> None:
        if not rel:
            raise invalid_path("the artifact root cannot be deleted")
        full = self.location(rel)
        if os.path.islink(full):
            # Remove the link itself, never what it points to.
            self._resolve(rel.rpartition("/")[0])
            os.unlink(full)
            return
        real = self._resolve(rel)
        if real == self._real_root():
            raise invalid_path("the artifact root cannot be deleted")
        if os.path.isdir(real):
            shutil.rmtree(real)
        else:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                os.remove(real)

    def file_size(self, rel: str) -> int | None:
        if not rel:
            return None
        try:
            info = os.stat(self._resolve(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None
