"""Engine construction and transaction helpers shared by every store module.

``Database.write()`` opens a transaction that takes the write lock up front on SQLite
(``BEGIN IMMEDIATE``): a deferred transaction that later upgrades its read lock fails at once
with "database is locked" instead of waiting on the busy timeout, which is the failure mode
MLflow users report under concurrent writers. WAL mode lets readers run beside the writer.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from ledgerflow.errors import InvalidParameter, MissingExtra
from ledgerflow.store.checkpoints import BACKSTOP_PAGES, WalCheckpointer

SQLITE_BUSY_TIMEOUT_MS = 60_000
# conn.info key: how many data-changing statements the current transaction ran. SQLAlchemy's
# cursor events count the statements it executes; the driver-level helpers below count theirs.
CHANGES = "ledgerflow_changes"
# Set while a write runs on the event loop thread (see Database.no_wait): it must not wait.
_NO_WAIT: ContextVar[bool] = ContextVar("ledgerflow_no_wait", default=False)


class WouldBlock(Exception):
    """A no-wait write found the database busy (another writer holds SQLite's write lock, or
    the pool has no idle connection). Nothing was written; run it again where waiting is fine."""


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
        # Each SQLite connection keeps its own page cache and drops all of it when it sees
        # another connection's commit. Handing out the most recently used connection keeps a
        # warm cache for the next request (first in, first out rotated through all eight: a
        # 1,000-point log-batch then re-read ~80 pages).
        pool_use_lifo=True,
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
        # Straight to the driver: SQLAlchemy's statement path costs more than BEGIN itself.
        options = connection.get_execution_options()
        if options.get("ledgerflow_no_wait"):
            # Fail at once instead of sleeping in SQLite's busy handler; Database.write puts
            # the timeout back before the connection goes back to the pool.
            driver_execute(connection, "PRAGMA busy_timeout=0", ())
        driver_execute(connection, "BEGIN IMMEDIATE" if options.get("ledgerflow_write") else "BEGIN", ())

    return engine


def note_changes(conn: Connection, count: int = 1) -> None:
    """Count data-changing statements run outside SQLAlchemy's execution path."""
    conn.info[CHANGES] = conn.info.get(CHANGES, 0) + count


def driver_execute(conn: Connection, sql: str, params: Any) -> Any:
    """Run one SQL string on the driver's cursor and return the cursor.

    For hot statements only: SQLAlchemy's per-execution work (events, compiled-cache lookup,
    result set-up) costs ~20 µs a statement, several times SQLite's own cost for a one-row
    write. ``sql`` must be in the dialect's paramstyle (see ``upserts.prepared``). Driver errors
    come out as SQLAlchemy's exceptions, as from ``conn.execute``, so retries keep working.
    """
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(conn, error, sql, params, cursor) from error
    return cursor


def driver_execute_many(conn: Connection, sql: str, rows: Any) -> None:
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(conn, error, sql, None, cursor) from error
    finally:
        cursor.close()


def driver_execute_each(conn: Connection, statements: Iterable[tuple[str, Any]]) -> None:
    """Run each ``(sql, params)`` in turn on one driver cursor (see :func:`driver_execute`)."""
    cursor = conn.connection.cursor()
    try:
        for sql, params in statements:
            try:
                cursor.execute(sql, params)
            except conn.dialect.loaded_dbapi.Error as error:
                raise _wrapped(conn, error, sql, params, cursor) from error
    finally:
        cursor.close()


def _wrapped(conn: Connection, error: Exception, sql: str, params: Any, cursor: Any) -> Exception:
    dbapi_error = conn.dialect.loaded_dbapi.Error
    dbapi_connection = conn.connection.dbapi_connection
    disconnected = conn.dialect.is_disconnect(cast(Any, error), dbapi_connection, cursor)
    if disconnected:
        # As SQLAlchemy does: a dead connection must not go back to the pool.
        conn.invalidate(error)
    wrapped: Exception = sa.exc.DBAPIError.instance(
        sql, params, error, dbapi_error, connection_invalidated=disconnected, dialect=conn.dialect
    )
    return wrapped


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
        pool_size = getattr(self.engine.pool, "size", None)
        self._pool_size: int = pool_size() if callable(pool_size) else 1
        # Set by the audit log: called with (conn, operation, args, result) after each write, inside
        # its transaction, so the change and its audit record commit or roll back together.
        self.audit_hook: Callable[[Connection, Any, tuple[Any, ...], Any], None] | None = None
        self.checkpointer: WalCheckpointer | None = None

    def start_background_checkpoints(self) -> None:
        """On SQLite, take WAL checkpoints in a background thread instead of in the commit
        that fills the log (see :mod:`ledgerflow.store.checkpoints`); elsewhere nothing."""
        if self.dialect != "sqlite" or self.checkpointer is not None:
            return
        checkpointer = WalCheckpointer(os.path.abspath(str(self.engine.url.database)))
        self.checkpointer = checkpointer

        def use_backstop(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            cursor.close()

        def after_commit(conn: Connection) -> None:
            if conn.get_execution_options().get("ledgerflow_write"):
                checkpointer.note_write()

        event.listen(self.engine, "connect", use_backstop)
        event.listen(self.engine, "commit", after_commit)
        # Pooled connections opened before now keep SQLite's default mark: closed here (a
        # checked-out one closes when it comes back), every later one opens with the backstop.
        self.engine.dispose()
        checkpointer.start()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if _NO_WAIT.get():
            with self._write_without_waiting() as conn:
                yield conn
            return
        with self.engine.connect().execution_options(ledgerflow_write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def _write_without_waiting(self) -> Iterator[Connection]:
        checked_out: Callable[[], int] | None = getattr(self.engine.pool, "checkedout", None)
        if checked_out is not None and checked_out() >= self._pool_size:
            raise WouldBlock("no idle connection")
        with self.engine.connect().execution_options(ledgerflow_write=True, ledgerflow_no_wait=True) as conn:
            try:
                with conn.begin():
                    yield conn
            finally:
                if not conn.invalidated:
                    with contextlib.suppress(sa.exc.DBAPIError):
                        driver_execute(conn, f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}", ())

    @property
    def writes_without_waiting(self) -> bool:
        """Whether :meth:`no_wait` can run writes here: on SQLite, where a write lock held
        elsewhere is seen at once; a server's PostgreSQL or MySQL round trips and row locks
        belong in worker threads."""
        return self.dialect == "sqlite"

    @contextmanager
    def no_wait(self) -> Iterator[None]:
        """Run the writes in this block without ever waiting, for callers on an event loop:
        a busy database raises :class:`WouldBlock` (nothing written) instead of blocking the
        loop on a lock, a retry back-off or a pool checkout. Only where
        :attr:`writes_without_waiting`."""
        token = _NO_WAIT.set(True)
        try:
            yield
        finally:
            _NO_WAIT.reset(token)

    def run_write(self, operation: Any, *args: Any, attempts: int = 8, audit: bool = True) -> Any:
        """Run ``operation(conn, *args)`` in a write transaction, retrying lock conflicts.

        The whole transaction is retried, so an operation must not have side effects outside
        the database. With ``audit`` on, the audit hook appends the change's record in the same
        transaction (``audit=False`` is for writes that are themselves audit records). Inside
        :meth:`no_wait` there is one attempt, and a lock conflict raises :class:`WouldBlock`.
        """
        if _NO_WAIT.get():
            attempts = 1
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    result = operation(conn, *args)
                    if audit and self.audit_hook is not None:
                        self.audit_hook(conn, operation, args, result)
                    return result
            except OperationalError as error:
                if _NO_WAIT.get() and _is_transient(error):
                    raise WouldBlock(str(error.orig)) from error
                if attempt == attempts - 1 or not _is_transient(error):
                    raise
                time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
