"""Schema guards: migrations build exactly the declared schema; stale databases are refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ledgerflow.config import ServerConfig
from ledgerflow.errors import StoreSchemaOutOfDate
from ledgerflow.store.database import create_db_engine
from ledgerflow.store.migrations import current_revision, head_revision, upgrade
from ledgerflow.store.schema import metadata
from ledgerflow.tracking.services import build_services


def test_migrations_match_declared_schema(db_uri: str) -> None:
    engine = create_db_engine(db_uri)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_fresh_database_is_created_at_head(db_uri: str, tmp_path: object) -> None:
    services = build_services(ServerConfig(backend_store_uri=db_uri, artifacts_destination=str(tmp_path)))
    try:
        assert current_revision(services.db.engine) == head_revision()
    finally:
        services.close()


def test_out_of_date_schema_is_refused(db_uri: str, tmp_path: object) -> None:
    engine = create_db_engine(db_uri)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            # Pretend the database was made by an older Ledgerflow.
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
    finally:
        engine.dispose()
    with pytest.raises(StoreSchemaOutOfDate) as raised:
        build_services(ServerConfig(backend_store_uri=db_uri, artifacts_destination=str(tmp_path)))
    assert "ledgerflow db upgrade" in raised.value.message
