"""Tables of the scanning subsystem (defined on the shared metadata)."""

from __future__ import annotations

import sqlalchemy as sa

from ledgerflow.store.schema import metadata

__all__ = ["metadata", "sa"]
