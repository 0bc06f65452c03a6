"""Route modules, one per resource. Each exposes ``TABLE`` (REST endpoints) and may expose
``routes(services)`` for non-REST routes (artifact streams, UI pages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from ledgerflow.server.routes import (
    alerts,
    artifacts,
    audit,
    auth,
    authz,
    experiments,
    governance_policy,
    logged_models,
    misc,
    mlflow_auth,
    monitoring,
    registry,
    runs,
    scanning,
    secrets,
    signing,
    webhooks,
)

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

ALL_TABLES = [
    alerts.TABLE,
    secrets.TABLE,
    experiments.TABLE,
    runs.TABLE,
    signing.TABLE,
    logged_models.TABLE,
    artifacts.TABLE,
    registry.TABLE,
    scanning.TABLE,
    webhooks.TABLE,
    audit.TABLE,
    auth.TABLE,
    authz.TABLE,
    mlflow_auth.TABLE,
    misc.TABLE,
    governance_policy.TABLE,
    monitoring.TABLE,
]


def extra_routes(services: Services) -> list[BaseRoute]:
    from ledgerflow.server import ui

    return [
        *misc.routes(services),
        *artifacts.routes(services),
        *registry.routes(services),
        *auth.routes(services),
        *ui.routes(services),
    ]
