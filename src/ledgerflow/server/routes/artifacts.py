"""Placeholder: filled in by the artifacts work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from ledgerflow.server.endpoints import EndpointTable

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()


def routes(services: Services) -> list[BaseRoute]:
    return []
