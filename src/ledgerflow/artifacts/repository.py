"""The storage interface every artifact backend implements.

A repository is rooted at one URI (a local folder, ``s3://bucket/prefix``) and addressed by
relative paths that :func:`ledgerflow.artifacts.paths.clean_path` has already validated
(``""`` is the root). Backends must still make sure nothing they touch lies outside the root
(for example through symbolic links on a local disk).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class FileInfo:
    """One listing entry; ``path`` is relative to the repository root."""

    path: str
    is_dir: bool
    file_size: int | None = None

    def to_json(self, path: str) -> dict[str, object]:
        entry: dict[str, object] = {"path": path, "is_dir": self.is_dir}
        if not self.is_dir and self.file_size is not None:
            entry["file_size"] = self.file_size
        return entry


@dataclass
class FileStream:
    """An opened file: its size and an iterator over its bytes.

    Iterating to the end, or calling :meth:`close`, releases the underlying handle.
    ``modified_ms``: when the stored bytes last changed (epoch ms), where the backend says.
    """

    size: int
    chunks: Iterator[bytes]
    modified_ms: int | None = None

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class ArtifactWriter(ABC):
    """A file being written. Nothing is visible at the destination until :meth:`commit`;
    :meth:`abort` (or a failed commit) leaves no trace, not even a partial file."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Append *data*. Backends keep at most a bounded buffer in memory."""

    @abstractmethod
    def commit(self) -> None:
        """Make the complete file visible at its path, replacing any previous file."""

    @abstractmethod
    def abort(self) -> None:
        """Discard everything written so far. Safe to call more than once, and after commit."""


class ArtifactRepository(ABC):
    """Files under one root URI."""

    #: The root this repository was opened on, as a URI or absolute local path.
    root: str

    def location(self, rel: str) -> str:
        """The full location string of *rel* (recorded with its digest)."""
        return f"{self.root.rstrip('/')}/{rel}" if rel else self.root

    @abstractmethod
    def open_writer(self, rel: str, content_type: str | None = None) -> ArtifactWriter:
        """Start writing the file at *rel* (intermediate directories are implied).

        *content_type* is kept as object metadata by backends that have it.

        Raises:
            InvalidParameter: *rel* names an existing directory, runs through an existing
                file, or would resolve outside the root.
        """

    @abstractmethod
    def open_read(self, rel: str) -> FileStream:
        """Open the file at *rel* for streaming.

        Raises:
            ResourceDoesNotExist: there is no file at *rel* (a directory is not a file).
        """

    @abstractmethod
    def list_dir(self, rel: str) -> list[FileInfo]:
        """The direct children of the directory *rel*, sorted by path.

        A missing path, or a path naming a file, lists as ``[]``: clients tell files from
        directories this way (MLflow's rule).
        """

    @abstractmethod
    def delete(self, rel: str) -> None:
        """Delete the file or the whole directory tree at *rel*; a missing path is a no-op.

        Raises:
            InvalidParameter: *rel* is the root (a repository never deletes itself).
        """

    @abstractmethod
    def file_size(self, rel: str) -> int | None:
        """The size of the file at *rel*, or None when there is no file there."""
