"""Engine construction and transaction helpers shared by every store module.

``Database.write()`` opens a transaction that takes the write lock up front on SQLite
(``BEGIN IMMEDIATE``): a deferred transaction that later upgrades its read lock fails at once
with "database is locked" instead of waiting on the busy timeout, which is the failure mode
MLflow users report under concurrent writers. WAL mode lets readers run beside the writer.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from ledgerflow.errors import InvalidParameter, MissingExtra

SQLITE_BUSY_TIMEOUT_MS = 60_000
_DRIVER_EXTRAS = {"postgresql": ("psycopg", "postgres"), "mysql": ("pymysql", "mysql")}


def normalize_db_uri(uri: str) -> str:
    """Map user-facing URIs to SQLAlchemy URLs with the drivers Ledgerflow ships extras for."""
    if "://" not in uri:
        # A plain path names an SQLite file.
        return "sqlite:///" + os.path.abspath(uri)
    scheme, rest = uri.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + rest
    if scheme == "mysql":
        return "mysql+pymysql://" + rest
    return uri


def create_db_engine(uri: str) -> Engine:
    url = sa.engine.make_url(normalize_db_uri(uri))
    backend = url.get_backend_name()
    if backend in _DRIVER_EXTRAS:
        module, extra = _DRIVER_EXTRAS[backend]
        import importlib.util

        if importlib.util.find_spec(module) is None:
            raise MissingExtra(extra, f"A {backend} backend store")
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend not in ("postgresql", "mysql"):
        raise InvalidParameter(f"Unsupported backend store URI scheme '{url.drivername}'.")
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
    if backend == "mysql":
        kwargs["isolation_level"] = "READ COMMITTED"
        url = url.update_query_dict({"charset": "utf8mb4"})
    return sa.create_engine(url, **kwargs)


def _sqlite_engine(url: sa.engine.URL) -> Engine:
    if url.database in (None, "", ":memory:"):
        raise InvalidParameter(
            "An in-memory SQLite store is not supported: every pooled connection would see its "
            "own empty database. Use a file path."
        )
    directory = os.path.dirname(os.path.abspath(url.database))
    os.makedirs(directory, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=8,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("ledgerflow_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def _is_transient(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return any(
        marker in text
        for marker in ("database is locked", "deadlock", "lock wait timeout", "could not serialize")
    )


class Database:
    """Owns an engine and hands out read and write transactions."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.engine = create_db_engine(uri)
        self.dialect = self.engine.dialect.name
        # Set by the audit log: called with (conn, operation, args, result) after each write, inside
        # its transaction, so the change and its audit record commit or roll back together.
        self.audit_hook: Callable[[Connection, Any, tuple[Any, ...], Any], None] | None = None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(ledgerflow_write=True) as conn, conn.begin():
            yield conn

    def run_write(self, operation: Any, *args: Any, attempts: int = 8, audit: bool = True) -> Any:
        """Run ``operation(conn, *args)`` in a write transaction, retrying lock conflicts.

        The whole transaction is retried, so an operation must not have side effects outside
        the database. With ``audit`` on, the audit hook appends the change's record in the same
        transaction (``audit=False`` is for writes that are themselves audit records).
        """
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    result = operation(conn, *args)
                    if audit and self.audit_hook is not None:
                        self.audit_hook(conn, operation, args, result)
                    return result
            except OperationalError as error:
                if attempt == attempts - 1 or not _is_transient(error):
                    raise
                time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()
