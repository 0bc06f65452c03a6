"""The evaluation and drift-monitoring subsystem as the Services container holds it."""

from __future__ import annotations

from dataclasses import dataclass

from ledgerflow.governance.evaluation.service import EvaluationService
from ledgerflow.governance.facts import FactRegistry
from ledgerflow.governance.monitoring.service import MonitoringService
from ledgerflow.registry.events import EventHook
from ledgerflow.store.database import Database
from ledgerflow.tracking.experiments import ExperimentService


@dataclass
class MonitoringSubsystem:
    evaluations: EvaluationService
    drift: MonitoringService


def build_monitoring(
    db: Database, experiments: ExperimentService, events: EventHook, facts: FactRegistry
) -> MonitoringSubsystem:
    """Build the services and register the ``evaluation`` fact source for the policy engine."""
    evaluations = EvaluationService(db, experiments)
    facts.register(evaluations)
    return MonitoringSubsystem(evaluations=evaluations, drift=MonitoringService(db, experiments, events))
