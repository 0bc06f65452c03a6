"""Tables of the governance subsystems, one module per subsystem.

Each ``*_schema`` module defines its tables on :data:`ledgerflow.store.schema.metadata`; the
matching Alembic revision builds exactly those tables (the migration guard test compares).
"""

from ledgerflow.store.governance import (  # noqa: F401
    alerts_schema,
    monitoring_schema,
    policy_schema,
    scanning_schema,
    signing_schema,
)
