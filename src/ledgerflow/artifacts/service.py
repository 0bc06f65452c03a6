"""Placeholder: artifact storage behind the proxy (filled in by the artifacts work)."""

from __future__ import annotations

from ledgerflow.config import ServerConfig
from ledgerflow.store.database import Database


class ArtifactService:
    def __init__(self, config: ServerConfig, db: Database) -> None:
        self.config = config
        self.db = db
