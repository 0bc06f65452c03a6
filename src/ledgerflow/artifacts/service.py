"""Artifact storage behind the proxy and the tracking service's artifact endpoints.

Every client path is validated by :mod:`ledgerflow.artifacts.paths` before it reaches a
repository; every stored file gets its SHA-256 recorded as it streams in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from ledgerflow.artifacts import digests, owners, paths
from ledgerflow.artifacts.digests import Digest, StreamHasher
from ledgerflow.artifacts.registry import RepositoryRegistry, default_registry, uri_scheme
from ledgerflow.artifacts.repository import ArtifactRepository, ArtifactWriter, FileInfo
from ledgerflow.artifacts.roots import PROXY_SCHEME, ArtifactRoots
from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.governance.secrets import SecretGuard
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import now_ms

# Commits of the same location are serialised so the recorded digest is the final file's.
_COMMIT_LOCK_STRIPES = 64


@dataclass(frozen=True)
class Target:
    repo: ArtifactRepository
    rel: str

    @property
    def location(self) -> str:
        return self.repo.location(self.rel)


@dataclass
class Download:
    """An opened artifact file: stream ``chunks`` and send ``digest`` along."""

    name: str
    size: int
    chunks: Iterator[bytes]
    digest: Digest | None

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class UploadObserver(Protocol):
    """Sees an upload's bytes as they pass (see :class:`StorageHooks`)."""

    def write(self, data: bytes) -> None: ...

    def finish(self, digest: Digest) -> Callable[[Connection], None]:
        """Called once every byte was written, before the file becomes visible; the returned
        write runs in the transaction that records the file's digest."""
        ...

    def committed(self) -> None:
        """The file and its digest are stored."""
        ...

    def abort(self) -> None: ...


class DeleteObserver(Protocol):
    def write(self, conn: Connection) -> None:
        """Runs in the transaction that forgets the deleted files' digests."""
        ...

    def committed(self) -> None: ...


class StorageHooks(Protocol):
    """What the server adds around stored files (the model-file scanning): a look at every
    upload and delete, and the gate that decides whether a file may be handed out."""

    def upload(self, target: Target, size_hint: int | None = None) -> UploadObserver:
        """``size_hint``: the size the client declared (Content-Length), when it did."""
        ...

    def deleting(self, target: Target) -> DeleteObserver: ...

    def serve(self, target: Target) -> Download: ...


class Upload:
    """A file being uploaded: bytes are hashed as they pass; nothing is visible before
    :meth:`commit` and nothing is left after :meth:`abort`."""

    def __init__(
        self,
        service: ArtifactService,
        target: Target,
        writer: ArtifactWriter,
        max_bytes: int | None,
        observer: UploadObserver | None = None,
    ) -> None:
        self.service = service
        self.target = target
        self.writer = writer
        self.max_bytes = max_bytes
        self.hasher = StreamHasher()
        self.observer = observer
        # The first bytes, kept for the secret scan of text files at commit.
        self.head = bytearray()

    def write(self, data: bytes) -> None:
        if self.max_bytes is not None and self.hasher.size + len(data) > self.max_bytes:
            raise InvalidParameter(
                f"Artifact is too large: the limit for this upload is {self.max_bytes} bytes."
            )
        self.hasher.update(data)
        room = self.service.secrets.max_file_bytes - len(self.head)
        if room > 0:
            self.head += data[:room]
        if self.observer is not None:
            self.observer.write(data)
        self.writer.write(data)

    def commit(self) -> Digest:
        self.service.secrets.file(self.target.rel, bytes(self.head))
        digest = self.hasher.digest()
        also = self.observer.finish(digest) if self.observer is not None else None
        with self.service.commit_lock(self.target.location):
            self.writer.commit()
            try:
                digests.record(self.service.db, self.target.location, digest, now_ms(), also=also)
            except BaseException:
                # A file without its digest would fail verification forever; take it back.
                self.target.repo.delete(self.target.rel)
                raise
        if self.observer is not None:
            self.observer.committed()
        return digest

    def abort(self) -> None:
        self.writer.abort()
        if self.observer is not None:
            self.observer.abort()


class ArtifactService:
    def __init__(
        self, config: ServerConfig, db: Database, registry: RepositoryRegistry | None = None
    ) -> None:
        self.config = config
        self.db = db
        self.roots = ArtifactRoots(config, registry or default_registry())
        self._commit_locks = [threading.Lock() for _ in range(_COMMIT_LOCK_STRIPES)]
        # Text uploads are screened for credentials before they are committed (set by the
        # server's service container; a bare artifact service scans nothing).
        self.secrets = SecretGuard.off()
        # Model-file scanning of uploads, deletes and downloads (set by the service container).
        self.hooks: StorageHooks | None = None

    @property
    def destination(self) -> ArtifactRepository:
        return self.roots.destination

    def commit_lock(self, location: str) -> threading.Lock:
        return self._commit_locks[int(digests.location_hash(location)[:8], 16) % _COMMIT_LOCK_STRIPES]

    # -- targets ---------------------------------------------------------------------------

    def proxy_target(self, path: str | None, *, allow_root: bool = False) -> Target:
        """A path of the ``mlflow-artifacts`` proxy, relative to the artifacts destination."""
        return Target(self.destination, paths.clean_path(path, allow_root=allow_root))

    def _owned_root(self, artifact_uri: str) -> Target:
        repo, prefix = self.roots.resolve(artifact_uri)
        return Target(repo, prefix)

    def run_root(self, run_id: str | None) -> tuple[str, Target]:
        if not run_id:
            raise InvalidParameter("Missing value for required parameter 'run_id'.")
        uri = owners.run_artifact_uri(self.db, run_id)
        return uri, self._owned_root(uri)

    def logged_model_root(self, model_id: str) -> tuple[str, Target]:
        uri = owners.logged_model_artifact_uri(self.db, model_id)
        return uri, self._owned_root(uri)

    @staticmethod
    def below(root: Target, path: str | None, *, allow_root: bool = True) -> Target:
        return Target(root.repo, paths.join(root.rel, paths.clean_path(path, allow_root=allow_root)))

    # -- operations on targets -------------------------------------------------------------

    def open_upload(
        self,
        target: Target,
        content_type: str | None = None,
        max_bytes: int | None = None,
        size_hint: int | None = None,
    ) -> Upload:
        if not target.rel:
            raise paths.invalid_path("the path is empty")
        writer = target.repo.open_writer(target.rel, content_type)
        observer = self.hooks.upload(target, size_hint) if self.hooks is not None else None
        return Upload(self, target, writer, max_bytes, observer)

    def store(self, target: Target, chunks: Iterable[bytes], content_type: str | None = None) -> Digest:
        """Upload a whole file from an iterable of byte chunks."""
        upload = self.open_upload(target, content_type)
        try:
            for chunk in chunks:
                upload.write(chunk)
            return upload.commit()
        except BaseException:
            upload.abort()
            raise

    def open_download(self, target: Target) -> Download:
        stream = target.repo.open_read(target.rel)
        try:
            digest = digests.lookup(self.db, target.location)
        except BaseException:
            stream.close()
            raise
        return Download(target.rel.rpartition("/")[2], stream.size, stream.chunks, digest)

    def serve(self, target: Target) -> Download:
        """Open a file to hand to a client: like :meth:`open_download`, behind the storage
        hooks' gate (a model file whose scan blocks is refused)."""
        if self.hooks is None:
            return self.open_download(target)
        return self.hooks.serve(target)

    def list_files(self, directory: Target) -> list[FileInfo]:
        return directory.repo.list_dir(directory.rel)

    def delete(self, target: Target) -> None:
        if not target.rel:
            raise paths.invalid_path("the artifact root cannot be deleted")
        observer = self.hooks.deleting(target) if self.hooks is not None else None
        with self.commit_lock(target.location):
            target.repo.delete(target.rel)
            digests.forget_tree(self.db, target.location, also=observer.write if observer else None)
        if observer is not None:
            observer.committed()

    # -- the proxy (MlflowArtifactsService) -------------------------------------------------

    def list_proxy_directory(self, path: str | None) -> dict[str, Any]:
        """Listing of ``mlflow-artifacts``: names relative to the directory; ``{}`` if empty."""
        directory = self.proxy_target(path, allow_root=True)
        files = []
        for info in self.list_files(directory):
            name = paths.relative_to(info.path, directory.rel)
            if name:
                files.append(info.to_json(name))
        return {"files": files} if files else {}

    # -- the tracking service (run and logged-model artifacts) -----------------------------

    def _listing(self, root_uri: str, root: Target, path: str | None) -> dict[str, Any]:
        directory = self.below(root, path)
        files = []
        for info in self.list_files(directory):
            # Paths are relative to the owner's root and keep the directory prefix (BC-33).
            name = paths.relative_to(info.path, root.rel)
            if name:
                files.append(info.to_json(name))
        response: dict[str, Any] = {"root_uri": root_uri}
        if files:
            response["files"] = files
        return response

    def list_run_artifacts(self, run_id: str | None, path: str | None) -> dict[str, Any]:
        root_uri, root = self.run_root(run_id)
        return self._listing(root_uri, root, path)

    def list_logged_model_artifacts(self, model_id: str, path: str | None) -> dict[str, Any]:
        root_uri, root = self.logged_model_root(model_id)
        return self._listing(root_uri, root, path)

    def file_under(self, artifact_uri: str, path: str | None) -> Target:
        """A file below a stored artifact URI (for example a model version's storage
        location), validated like every client path."""
        return self.below(self._owned_root(artifact_uri), path, allow_root=False)

    def run_file(self, run_id: str | None, path: str | None) -> Target:
        return self.below(self.run_root(run_id)[1], path, allow_root=False)

    def logged_model_file(self, model_id: str, path: str | None) -> Target:
        return self.below(self.logged_model_root(model_id)[1], path, allow_root=False)

    # -- maintenance -----------------------------------------------------------------------

    def _target_for(self, path_or_uri: str) -> Target:
        if path_or_uri.startswith((PROXY_SCHEME, "/")) or uri_scheme(path_or_uri):
            return self._owned_root(path_or_uri)
        return self.proxy_target(path_or_uri)

    def delete_tree(self, artifact_uri: str) -> None:
        """Delete everything stored under an experiment's, run's or logged model's artifact
        URI (used by ``ledgerflow gc``); a URI with nothing stored under it is a no-op.

        Raises:
            InvalidParameter: the URI is outside the server's roots, or is a root itself.
        """
        self.delete(self._owned_root(artifact_uri))

    def verify(self, path: str) -> bool:
        """Re-read a stored file and compare it with the digest recorded at upload.

        *path* is a proxy path (``<exp>/<run>/artifacts/x``) or a stored artifact URI.
        False when the file is missing, has no recorded digest, or differs from it.
        """
        target = self._target_for(path)
        try:
            download = self.open_download(target)
        except ResourceDoesNotExist:
            return False
        if download.digest is None:
            download.close()
            return False
        hasher = StreamHasher()
        try:
            for chunk in download.chunks:
                hasher.update(chunk)
        finally:
            download.close()
        return hasher.digest() == download.digest
