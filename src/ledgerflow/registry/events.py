"""Registry events: what the registry services announce after a change has committed.

Listeners (the webhook service) subscribe to an :class:`EventHook`. An event is emitted only
after its transaction committed, and a listener that fails is logged and skipped: a broken
webhook set-up must never make a registry call fail or roll back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistryEvent:
    entity: str  # "model_version", "registered_model", ... (MLflow's WebhookEntity, lower case)
    action: str  # "created", "set", "deleted", ...
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.entity}.{self.action}"


Listener = Callable[[RegistryEvent], None]


class EventHook:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, entity: str, action: str, data: dict[str, Any]) -> None:
        event = RegistryEvent(entity, action, data)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _log.exception("A listener failed on registry event %s", event.name)


def tag_dict(tags: Any) -> dict[str, str]:
    """A wire-shaped ``tags`` list ([{key, value}]) as the {key: value} MLflow's payloads use."""
    return {str(tag["key"]): str(tag.get("value", "")) for tag in tags or []}
