"""The alerts subsystem as the service container holds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .rules import AlertRuleService
from .watcher import ThresholdWatcher

if TYPE_CHECKING:
    from ledgerflow.config import ServerConfig
    from ledgerflow.registry.events import EventHook
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.store.database import Database


@dataclass
class AlertsSubsystem:
    rules: AlertRuleService
    watcher: ThresholdWatcher

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()


def build_alerts(db: Database, config: ServerConfig, audit: AuditLog, events: EventHook) -> AlertsSubsystem:
    """Rules and their watcher; run failures need nothing here (the run service announces
    them on ``events``, where the webhook service listens)."""
    return AlertsSubsystem(
        AlertRuleService(db), ThresholdWatcher(db, audit, events, config.alert_check_seconds)
    )
