"""Backends are chosen by URI scheme; unknown schemes are refused with the known ones listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerflow.artifacts.local import LocalArtifactRepository
from ledgerflow.artifacts.registry import default_registry, uri_scheme
from ledgerflow.artifacts.repository import ArtifactRepository
from ledgerflow.artifacts.service import ArtifactService
from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter
from ledgerflow.store.database import Database
from ledgerflow.store.migrations import ensure_schema


def test_schemes() -> None:
    assert uri_scheme("/abs/path") == ""
    assert uri_scheme("relative/dir") == ""
    assert uri_scheme("file:///x") == "file"
    assert uri_scheme("S3://bucket/x") == "s3"
    assert uri_scheme("a/b://c") == ""


def test_local_paths_and_file_uris_open_the_local_backend(tmp_path: Path) -> None:
    registry = default_registry()
    config = ServerConfig()
    for uri in (str(tmp_path), tmp_path.as_uri()):
        repo = registry.open(uri, config)
        assert isinstance(repo, LocalArtifactRepository)
        assert repo.root == str(tmp_path)


def test_unknown_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="'file', 's3'"):
        default_registry().open("ftp://host/dir", ServerConfig())


def test_a_registered_scheme_backs_the_service(tmp_path: Path) -> None:
    opened: list[str] = []

    def factory(uri: str, config: ServerConfig) -> ArtifactRepository:
        opened.append(uri)
        return LocalArtifactRepository(str(tmp_path / "plugin-store"))

    registry = default_registry()
    registry.register("plugin", factory)
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts_destination="plugin://anything"
    )
    db = Database(config.backend_store_uri)
    ensure_schema(db.engine, auto_create=True)
    try:
        service = ArtifactService(config, db, registry)
        digest = service.store(service.proxy_target("1/r/artifacts/a.txt"), [b"plug", b"in"])
        assert digest.size == 6
        assert opened == ["plugin://anything"]
        assert (tmp_path / "plugin-store" / "1" / "r" / "artifacts" / "a.txt").read_bytes() == b"plugin"
        assert service.verify("1/r/artifacts/a.txt")
    finally:
        db.dispose()
