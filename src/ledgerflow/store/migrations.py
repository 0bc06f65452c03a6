"""Schema migrations through Alembic, driven from code (no alembic.ini needed)."""

from __future__ import annotations

import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from ledgerflow.errors import StoreSchemaOutOfDate

SCRIPT_LOCATION = os.path.join(os.path.dirname(__file__), "alembic")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    script = ScriptDirectory(SCRIPT_LOCATION)
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    if engine.dialect.name == "mysql":
        # MySQL's default collations compare case-insensitively, which would merge the keys
        # 'Loss' and 'loss' and break the case-sensitive search semantics. Tables inherit the
        # database default, so set it before any table is created.
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    command.upgrade(alembic_config(engine), "head")


def is_empty(engine: Engine) -> bool:
    from sqlalchemy import inspect

    return not inspect(engine).get_table_names()


def ensure_schema(engine: Engine, *, auto_create: bool = True) -> None:
    """Create a fresh database, or refuse to run on one that is behind the code."""
    current = current_revision(engine)
    if current is None and is_empty(engine) and auto_create:
        upgrade(engine)
        return
    if current != head_revision():
        raise StoreSchemaOutOfDate(
            f"The database schema is at revision {current or 'none'} but this Ledgerflow needs "
            f"{head_revision()}. Back up the database, then run: "
            f"ledgerflow db upgrade --backend-store-uri <uri>"
        )
