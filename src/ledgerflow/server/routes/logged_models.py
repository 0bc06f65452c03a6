"""Placeholder: filled in by the logged_models work."""

from __future__ import annotations

from ledgerflow.server.endpoints import EndpointTable

TABLE = EndpointTable()
