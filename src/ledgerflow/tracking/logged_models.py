"""Placeholder: MLflow 3 logged models (filled in by the logged-models work)."""

from __future__ import annotations

from ledgerflow.store.database import Database
from ledgerflow.tracking.experiments import ExperimentService


class LoggedModelService:
    def __init__(self, db: Database, experiments: ExperimentService) -> None:
        self.db = db
        self.experiments = experiments
