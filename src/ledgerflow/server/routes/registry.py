"""Model registry endpoints (ModelRegistryService): filled in by the registry work."""

from __future__ import annotations

from ledgerflow.server.endpoints import EndpointTable

TABLE = EndpointTable()
