"""Time-bound checkpoints: sign the chain head at most N seconds after a write.

Off the write path: the commit hook only sets an event (no statement), and this thread signs
the head in a transaction of its own, so a burst of writes costs one checkpoint, not one each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class TimedCheckpoints:
    def __init__(self, sign_head: Callable[[], object], seconds: float, written: threading.Event) -> None:
        self._sign_head = sign_head
        self._seconds = seconds
        self._written = written
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-timed-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and sign what was written since its last checkpoint."""
        self._stop.set()
        pending = self._written.is_set()
        # Wakes a thread that is waiting for writes; it sees the stop flag and leaves.
        self._written.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if not pending:
            self._written.clear()
        self._sign()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._written.wait()
            # Wait out the bound so later writes of the same burst share this checkpoint.
            if self._stop.wait(self._seconds):
                return
            self._sign()

    def _sign(self) -> None:
        if not self._written.is_set():
            return
        self._written.clear()
        try:
            self._sign_head()
        except Exception:  # a checkpoint is retried after the next write; the server goes on
            log.warning("Could not sign a timed audit checkpoint", exc_info=True)
