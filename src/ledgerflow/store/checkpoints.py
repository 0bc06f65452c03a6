"""WAL checkpoints of an SQLite store, taken off the request path.

In WAL mode a commit appends its pages to the ``-wal`` file; a checkpoint copies them back into
the database file and syncs both (``synchronous=NORMAL`` syncs nowhere else). By default the
commit that takes the log past 1,000 pages runs that checkpoint itself, so every ~15th
1,000-point log-batch waited for two ``fdatasync`` calls before it could answer (1-1.5 ms on
average per batch on this kind of machine, most of a request's wall time beyond its CPU).

A server instead checkpoints from one background thread soon after writes, with
``PRAGMA wal_checkpoint(PASSIVE)``, which never blocks readers or writers: they keep appending
to the log while it copies. The commit-time checkpoint stays as a backstop at a higher mark
(:data:`BACKSTOP_PAGES`), reached only if this thread falls behind or is not running (the CLI,
in-process clients). Durability is unchanged: what a commit has written is as durable as it
was, and a checkpoint moves pages, it never drops them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

# The commit-time checkpoint's mark while a background checkpointer runs: 16 MiB of 4 KiB
# pages, far above what the thread lets build up between two of its passes.
BACKSTOP_PAGES = 4000
# How long after a write the thread waits before a pass, so one pass covers a burst of commits
# (a pass costs two syncs however few pages it copies).
GATHER_SECONDS = 0.05

log = logging.getLogger(__name__)


class WalCheckpointer:
    """One thread checkpointing the SQLite database at ``path`` after writes (see module doc)."""

    def __init__(self, path: str, gather_seconds: float = GATHER_SECONDS) -> None:
        self.path = path
        self.gather_seconds = gather_seconds
        self.passes = 0
        self._wrote = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ledgerflow-wal-checkpoints", daemon=True)
            self._thread.start()

    def note_write(self) -> None:
        # A flag read first: Event.set takes a lock, which most commits then need not.
        if not self._wrote.is_set():
            self._wrote.set()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wrote.set()
            thread.join(timeout=30)

    def _run(self) -> None:
        # Its own connection, outside the pool: a pass must never wait for a pooled one.
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.is_set():
                self._wrote.wait()
                if self._stopping.wait(self.gather_seconds):
                    break
                self._wrote.clear()
                self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.OperationalError as error:
            # Another process's checkpointer holds the checkpoint lock (several workers on
            # one file): it is doing this very work.
            log.debug("WAL checkpoint skipped: %s", error)
            return
        self.passes += 1
