"""Which storage a stored artifact URI points into.

Runs and logged models record URIs such as ``mlflow-artifacts:/1/<run>/artifacts`` (proxied:
below the artifacts destination), a local path or ``file:`` URI, or ``s3://bucket/prefix/...``.
The server only ever opens storage under its own configured roots (the artifacts
destination, the default artifact root and the allowed roots), never a location a client made
up; the part of a URI below its root is validated like any client path.
"""

from __future__ import annotations

import os
import threading

from ledgerflow.artifacts import paths
from ledgerflow.artifacts.local import file_uri_path
from ledgerflow.artifacts.registry import RepositoryRegistry, uri_scheme
from ledgerflow.artifacts.repository import ArtifactRepository
from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter

PROXY_SCHEME = "mlflow-artifacts:"
# A root like http://host/api/2.0/mlflow-artifacts/artifacts is this server's own proxy.
PROXY_URL_PATH = "/api/2.0/mlflow-artifacts/artifacts"


def _local_root(uri: str) -> str:
    return os.path.abspath(uri[len("file://") :] if uri.startswith("file://") else uri)


class ArtifactRoots:
    def __init__(self, config: ServerConfig, registry: RepositoryRegistry) -> None:
        self.config = config
        self.registry = registry
        self._repos: dict[str, ArtifactRepository] = {}
        self._lock = threading.Lock()
        self.destination = self.repository(config.resolved_artifacts_destination())
        configured = [config.default_artifact_root, *config.allowed_artifact_roots]
        self._proxy_aliases: list[str] = []
        self._storage_roots: list[str] = [self.destination.root]
        for root in configured:
            if not root or root.rstrip("/") == PROXY_SCHEME:
                continue
            root = root.rstrip("/")
            scheme = uri_scheme(root)
            if scheme in ("http", "https") and root.endswith(PROXY_URL_PATH):
                self._proxy_aliases.append(root)
            elif scheme in ("", "file"):
                self._storage_roots.append(_local_root(root))
            else:
                self._storage_roots.append(root)

    def repository(self, root: str) -> ArtifactRepository:
        """The repository for a configured root, opened once per service."""
        with self._lock:
            repo = self._repos.get(root)
            if repo is None:
                repo = self.registry.open(root, self.config)
                self._repos[root] = repo
            return repo

    def resolve(self, uri: str) -> tuple[ArtifactRepository, str]:
        """Map a stored artifact URI to ``(repository, clean relative prefix)``.

        Raises:
            InvalidParameter: the URI lies under none of the server's roots, or its path
                below the root is not a safe relative path.
        """
        if uri.startswith(PROXY_SCHEME):
            rest = uri[len(PROXY_SCHEME) :]
            if rest.startswith("//"):
                # mlflow-artifacts://host/x names this server's proxy too; the host is moot.
                rest = rest[2:].partition("/")[2]
            return self.destination, paths.clean_path(rest.removeprefix("/"))
        for alias in self._proxy_aliases:
            below = self._below(uri, alias)
            if below is not None:
                return self.destination, paths.clean_path(below)
        scheme = uri_scheme(uri)
        if scheme in ("", "file"):
            candidate = file_uri_path(uri) if scheme == "file" else uri
            if candidate.startswith("/"):
                for root in self._storage_roots:
                    if uri_scheme(root) == "":
                        below = self._below(candidate, root)
                        if below is not None:
                            return self.repository(root), paths.clean_path(below)
        elif "?" not in uri and "#" not in uri:
            for root in self._storage_roots:
                below = self._below(uri, root)
                if below is not None:
                    return self.repository(root), paths.clean_path(below)
        raise InvalidParameter(
            f"The artifact location '{uri}' is not under any of this server's artifact roots."
        )

    @staticmethod
    def _below(uri: str, root: str) -> str | None:
        root = root.rstrip("/")
        if uri.rstrip("/") == root:
            return ""
        if uri.startswith(root + "/"):
            return uri[len(root) + 1 :]
        return None
