"""The registry's services in one place, as the server's Services container holds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledgerflow.registry.aliases import AliasService
from ledgerflow.registry.events import EventHook
from ledgerflow.registry.model_versions import ModelVersionService
from ledgerflow.registry.registered_models import RegisteredModelService
from ledgerflow.store.database import Database

if TYPE_CHECKING:
    from ledgerflow.artifacts.locations import ArtifactLocations
    from ledgerflow.artifacts.service import ArtifactService
    from ledgerflow.governance.secrets import SecretGuard


@dataclass
class RegistryService:
    models: RegisteredModelService
    versions: ModelVersionService
    aliases: AliasService
    events: EventHook


def build_registry(
    db: Database,
    locations: ArtifactLocations,
    artifacts: ArtifactService,
    secrets: SecretGuard | None = None,
    events: EventHook | None = None,
) -> RegistryService:
    events = events or EventHook()
    return RegistryService(
        models=RegisteredModelService(db, events, secrets),
        versions=ModelVersionService(db, locations, artifacts, events, secrets),
        aliases=AliasService(db, events),
        events=events,
    )
