"""Placeholder: runs, params, tags, metrics (filled in by the runs work)."""

from __future__ import annotations

from ledgerflow.store.database import Database
from ledgerflow.tracking.experiments import ExperimentService


class RunService:
    def __init__(self, db: Database, experiments: ExperimentService) -> None:
        self.db = db
        self.experiments = experiments
