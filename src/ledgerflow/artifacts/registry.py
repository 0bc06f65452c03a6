"""Artifact backends chosen by URI scheme.

Built-in: plain paths and ``file:`` URIs (local folder), ``s3://`` (boto3). Plugins add
schemes through the ``ledgerflow.artifact_repositories`` entry-point group; each entry point
names a factory ``factory(uri, config) -> ArtifactRepository``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from ledgerflow.artifacts.repository import ArtifactRepository
from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter

RepositoryFactory = Callable[[str, ServerConfig], ArtifactRepository]
ENTRY_POINT_GROUP = "ledgerflow.artifact_repositories"


def uri_scheme(uri: str) -> str:
    """The scheme of *uri*; ``""`` for a plain local path. ``file:/abs`` (one slash, as MLflow
    also writes it) is a ``file`` URI like ``file:///abs``."""
    if uri.startswith("file:/") and not uri.startswith("file://"):
        return "file"
    head, sep, _ = uri.partition("://")
    if not sep or "/" in head:
        return ""
    return head.lower()


def _local(uri: str, config: ServerConfig) -> ArtifactRepository:
    from ledgerflow.artifacts.local import LocalArtifactRepository

    return LocalArtifactRepository(uri)


def _s3(uri: str, config: ServerConfig) -> ArtifactRepository:
    from ledgerflow.artifacts.s3 import S3ArtifactRepository

    return S3ArtifactRepository(uri, endpoint_url=config.s3_endpoint_url)


class RepositoryRegistry:
    def __init__(self) -> None:
        self._factories: dict[str, RepositoryFactory] = {}

    def register(self, scheme: str, factory: RepositoryFactory) -> None:
        self._factories[scheme.lower()] = factory

    def schemes(self) -> list[str]:
        return sorted(self._factories)

    def open(self, uri: str, config: ServerConfig) -> ArtifactRepository:
        scheme = uri_scheme(uri)
        factory = self._factories.get(scheme)
        if factory is None:
            raise InvalidParameter(
                f"Unsupported artifact store URI '{uri}': scheme '{scheme}' is not one of "
                f"{', '.join(repr(s) for s in self.schemes())}."
            )
        return factory(uri, config)


def default_registry() -> RepositoryRegistry:
    registry = RepositoryRegistry()
    registry.register("", _local)
    registry.register("file", _local)
    registry.register("s3", _s3)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        registry.register(entry.name, entry.load())
    return registry
