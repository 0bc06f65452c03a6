"""Placeholder: the server-rendered web UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services


def routes(services: Services) -> list[BaseRoute]:
    return []
