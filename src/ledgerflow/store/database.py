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
import threading
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
# Driver-connection info key: whether the connection's busy timeout is 0 (set for no-wait writes).
_BUSY_NO_WAIT = "ledgerflow_busy_no_wait"
_NO_WAIT_OPTIONS = {"ledgerflow_write": True, "ledgerflow_no_wait": True}


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
        # A no-wait write fails at once instead of sleeping in SQLite's busy handler; every
        # other transaction waits. The timeout is a property of the driver connection, so it
        # is set here, before each transaction, only when it differs from what the connection
        # last ran with: a PRAGMA costs more than BEGIN, and the pool hands the event loop's
        # writes the same few connections again and again.
        no_wait = bool(options.get("ledgerflow_no_wait"))
        record = connection.connection.info
        if record.get(_BUSY_NO_WAIT, False) != no_wait:
            driver_execute(connection, f"PRAGMA busy_timeout={0 if no_wait else SQLITE_BUSY_TIMEOUT_MS}", ())
            record[_BUSY_NO_WAIT] = no_wait
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


def _driver_in_transaction(conn: Connection) -> bool:
    try:
        return bool(getattr(conn.connection.dbapi_connection, "in_transaction", True))
    except sa.exc.SQLAlchemyError:
        return True


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
        # (owning thread id, connection): see _held_connection.
        self._held: tuple[int, Connection] | None = None
        self._held_lock = threading.Lock()

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
        self._release_held()
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
        conn = self._held_connection()
        if conn is None:
            # Another thread's no-wait write, or one nested in a write of this thread: a
            # connection of its own from the pool, if one is idle.
            with self._idle_pooled_connection() as pooled, pooled.begin():
                yield pooled
            return
        try:
            transaction = conn.begin()
        except BaseException:
            # A BEGIN that failed (the database is busy): SQLAlchemy leaves its connection
            # object flagged as inside BEGIN when a begin listener raises, so start afresh.
            self._release_held()
            raise
        try:
            with transaction:
                yield conn
        except BaseException:
            # A failed operation rolled back and leaves the connection as it was; anything
            # that left the driver inside a transaction (a failed commit) or killed the
            # connection gets it closed and a fresh one next time.
            if conn.invalidated or _driver_in_transaction(conn):
                self._release_held()
            raise

    def _held_connection(self) -> Connection | None:
        """The connection kept checked out for the no-wait writes of one thread (the server's
        event loop, which runs them one at a time): checking a connection out of the pool and
        back in for every write cost more than the write's own statements. None for any other
        thread, or while the held connection is in a transaction."""
        held = self._held
        if held is None:
            with self._held_lock:
                if self._held is None:
                    self._held = (threading.get_ident(), self._idle_pooled_connection())
                held = self._held
        owner, conn = held
        if owner != threading.get_ident() or conn.in_transaction():
            return None
        return conn

    def _idle_pooled_connection(self) -> Connection:
        # Checking out of a full pool would wait for a connection to come back.
        checked_out: Callable[[], int] | None = getattr(self.engine.pool, "checkedout", None)
        if checked_out is not None and checked_out() >= self._pool_size:
            raise WouldBlock("no idle connection")
        return self.engine.connect().execution_options(**_NO_WAIT_OPTIONS)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                held[1].close()

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
        self._release_held()
        self.engine.dispose()
