"""Run artifacts: upload, list and download, through the server's proxy or a local folder.

A run whose ``artifact_uri`` is ``mlflow-artifacts:/...`` talks to the tracking server's
artifact proxy (one streamed PUT per file, GET to list and download, checked against the
``X-Ledgerflow-Sha256`` header). A local store writes through the in-process artifact
service into its artifacts folder; a plain folder URI is read and written directly. Listings always name paths relative to the
run's artifact root, as MLflow's ``list_artifacts`` does.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlparse

from ledgerflow.client.entities import FileInfo
from ledgerflow.client.transport import HttpTransport, LocalTransport, Transport, artifact_url_path
from ledgerflow.errors import InvalidParameter, LedgerflowError, ResourceDoesNotExist

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

CHUNK = 1024 * 1024
SHA256_HEADER = "X-Ledgerflow-Sha256"


def clean_artifact_path(path: str | None) -> str:
    """A relative POSIX path inside the run's root ("" for the root); refuses escapes."""
    if not path:
        return ""
    normalized = posixpath.normpath(path.replace("\\", "/"))
    if normalized in (".", "/"):
        return ""
    if normalized.startswith(("/", "../")) or normalized == "..":
        raise InvalidParameter(f"Invalid artifact path: '{path}'. It must stay inside the run's artifacts.")
    return normalized


def _join(*parts: str) -> str:
    return posixpath.join(*[p for p in parts if p]) if any(parts) else ""


class ArtifactStore(Protocol):
    def upload_file(self, local_file: Path, dest_path: str) -> None: ...

    def list(self, path: str) -> list[FileInfo]: ...

    def download_file(self, path: str, dest: Path) -> bool:
        """Copy one file to *dest*; False when *path* names no file."""
        ...


class ProxyArtifacts:
    """The ``/api/2.0/mlflow-artifacts`` proxy of a tracking server."""

    def __init__(self, transport: HttpTransport, base: str) -> None:
        self.transport = transport
        self.base = base.strip("/")

    def upload_file(self, local_file: Path, dest_path: str) -> None:
        size = local_file.stat().st_size
        mime = mimetypes.guess_type(local_file.name)[0] or "application/octet-stream"

        def chunks() -> Iterator[bytes]:
            with local_file.open("rb") as handle:
                while block := handle.read(CHUNK):
                    yield block

        self.transport.send(
            "PUT",
            artifact_url_path(_join(self.base, dest_path)),
            content=chunks,
            headers={"Content-Type": mime, "Content-Length": str(size)},
        )

    def list(self, path: str) -> list[FileInfo]:
        response = self.transport.send(
            "GET", "/api/2.0/mlflow-artifacts/artifacts", params=[("path", _join(self.base, path))]
        )
        data = response.json() if response.content.strip() else {}
        files = []
        for item in data.get("files") or []:
            # The proxy names entries relative to the listed folder; taking the last segment
            # also copes with a server that returns longer paths.
            name = posixpath.basename(str(item["path"]).rstrip("/"))
            is_dir = bool(item.get("is_dir", False))
            size = None if is_dir or item.get("file_size") is None else int(item["file_size"])
            files.append(FileInfo(_join(path, name), is_dir, size))
        return sorted(files, key=lambda f: f.path)

    def download_file(self, path: str, dest: Path) -> bool:
        response = self.transport.send(
            "GET", artifact_url_path(_join(self.base, path)), stream=True, ok_statuses=(404,)
        )
        try:
            if response.status_code == 404:
                return False
            expected = response.headers.get(SHA256_HEADER)
            digest = hashlib.sha256()
            partial = dest.with_name(dest.name + ".part")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("wb") as out:
                for block in response.iter_bytes(CHUNK):
                    digest.update(block)
                    out.write(block)
        finally:
            response.close()
        _settle(partial, dest, path, expected, digest.hexdigest())
        return True


class FolderArtifacts:
    """Artifacts in a folder on this machine (a local store, or a server without a proxy)."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def _local(self, path: str) -> Path:
        return self.root.joinpath(*path.split("/")) if path else self.root

    def upload_file(self, local_file: Path, dest_path: str) -> None:
        target = self._local(dest_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_file, target)

    def list(self, path: str) -> list[FileInfo]:
        folder = self._local(path)
        if not folder.is_dir():
            return []
        files = []
        for entry in os.scandir(folder):
            is_dir = entry.is_dir()
            files.append(FileInfo(_join(path, entry.name), is_dir, None if is_dir else entry.stat().st_size))
        return sorted(files, key=lambda f: f.path)

    def download_file(self, path: str, dest: Path) -> bool:
        source = self._local(path)
        if not source.is_file():
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        return True


class ServiceArtifacts:
    """A local store's artifacts through the tracking services in this process: the same
    path checks, storage backends and recorded digests as a server over that store."""

    def __init__(self, services: Services, run_id: str) -> None:
        self.artifacts = services.artifacts
        self.run_id = run_id

    def upload_file(self, local_file: Path, dest_path: str) -> None:
        target = self.artifacts.run_file(self.run_id, dest_path)
        with local_file.open("rb") as handle:
            self.artifacts.store(target, iter(lambda: handle.read(CHUNK), b""))

    def list(self, path: str) -> list[FileInfo]:
        listing = self.artifacts.list_run_artifacts(self.run_id, path or None)
        return sorted((FileInfo.from_json(f) for f in listing.get("files") or []), key=lambda f: f.path)

    def download_file(self, path: str, dest: Path) -> bool:
        target = self.artifacts.run_file(self.run_id, path)
        try:
            download = self.artifacts.open_download(target)
        except ResourceDoesNotExist:
            return False
        digest = hashlib.sha256()
        partial = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with partial.open("wb") as out:
                for block in download.chunks:
                    digest.update(block)
                    out.write(block)
        finally:
            download.close()
        expected = download.digest.sha256 if download.digest is not None else None
        _settle(partial, dest, path, expected, digest.hexdigest())
        return True


def _settle(partial: Path, dest: Path, path: str, expected: str | None, actual: str) -> None:
    """Move a finished download into place, unless its bytes do not match the digest."""
    if expected and expected.lower() != actual:
        partial.unlink(missing_ok=True)
        raise LedgerflowError(
            f"Artifact '{path}' failed its integrity check: the server announced SHA-256 "
            f"{expected} but the bytes received hash to {actual}.",
            error_code="DATA_LOSS",
        )
    os.replace(partial, dest)


def store_for(transport: Transport, run_id: str, artifact_uri: str) -> ArtifactStore:
    if isinstance(transport, LocalTransport):
        return ServiceArtifacts(transport.services, run_id)
    if artifact_uri.startswith("mlflow-artifacts:"):
        if not isinstance(transport, HttpTransport):
            raise InvalidParameter(f"'{artifact_uri}' needs a tracking server to reach its artifacts.")
        rest = urlparse(artifact_uri).path if artifact_uri.startswith("mlflow-artifacts://") else None
        base = rest if rest is not None else artifact_uri[len("mlflow-artifacts:") :]
        return ProxyArtifacts(transport, unquote(base))
    if artifact_uri.startswith("file:"):
        return FolderArtifacts(unquote(urlparse(artifact_uri).path))
    if "://" not in artifact_uri:
        return FolderArtifacts(artifact_uri)
    raise InvalidParameter(
        f"The client cannot reach artifacts at '{artifact_uri}' directly; start the tracking "
        "server with artifact proxying so runs get mlflow-artifacts:/ locations."
    )


def upload(store: ArtifactStore, local_path: str | os.PathLike[str], artifact_path: str | None) -> None:
    """``log_artifact`` for a file and ``log_artifacts`` for a folder's contents."""
    source = Path(local_path)
    prefix = clean_artifact_path(artifact_path)
    if source.is_file():
        store.upload_file(source, _join(prefix, source.name))
        return
    if not source.is_dir():
        raise InvalidParameter(f"No such file or directory: '{source}'")
    for folder, _dirs, names in os.walk(source):
        relative = Path(folder).relative_to(source).as_posix()
        for name in sorted(names):
            store.upload_file(Path(folder) / name, _join(prefix, "" if relative == "." else relative, name))


def _inside(dst: Path, path: str) -> Path:
    target = (dst / path).resolve() if path else dst.resolve()
    if target != dst.resolve() and dst.resolve() not in target.parents:
        raise InvalidParameter(f"Refusing to write artifact '{path}' outside '{dst}'.")
    return target


def download(store: ArtifactStore, path: str | None, dst_path: str | os.PathLike[str] | None) -> str:
    """Copy *path* (a file, a folder, or everything) under *dst_path*, keeping its relative
    layout: ``dir/file.txt`` lands at ``<dst>/dir/file.txt``. Returns the local path of what
    was asked for."""
    relative = clean_artifact_path(path)
    dst = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="ledgerflow-"))
    dst.mkdir(parents=True, exist_ok=True)
    entries = store.list(relative)
    if not entries and relative:
        # ListArtifacts of a file is empty, so an empty listing means a file (or nothing).
        target = _inside(dst, relative)
        if store.download_file(relative, target):
            return str(target)
        raise ResourceDoesNotExist(f"No artifact found at '{relative}'.")
    pending = list(entries)
    while pending:
        entry = pending.pop()
        if entry.is_dir:
            _inside(dst, entry.path).mkdir(parents=True, exist_ok=True)
            pending.extend(store.list(entry.path))
        else:
            store.download_file(entry.path, _inside(dst, entry.path))
    target = _inside(dst, relative)
    target.mkdir(parents=True, exist_ok=True)
    return str(target)
