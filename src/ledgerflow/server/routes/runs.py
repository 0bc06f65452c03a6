"""Placeholder: filled in by the runs work."""

from __future__ import annotations

from ledgerflow.server.endpoints import EndpointTable

TABLE = EndpointTable()
