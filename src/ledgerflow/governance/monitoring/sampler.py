"""Sampling a scoring server's requests into drift-monitoring windows.

With ``ledgerflow models serve --monitor-sample-rate R`` each row of each successfully scored
request is kept with probability ``R`` (a seeded generator, so a replay samples alike). Kept
rows collect in memory; a window is sent (``source="scoring-server"``) once ``batch_rows`` are
collected or ``flush_seconds`` passed since the first, and on shutdown. Sending happens on a
background thread: a slow or unreachable tracking server never delays or fails a prediction;
its errors are logged and that window is dropped (counted in :attr:`RequestSampler.dropped`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ledgerflow.errors import InvalidParameter, LedgerflowError

log = logging.getLogger(__name__)
Sender = Callable[[pd.DataFrame], Any]
_STOP = object()


@dataclass(frozen=True)
class SamplerSettings:
    rate: float
    batch_rows: int = 1000
    flush_seconds: float = 60.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1:
            raise InvalidParameter(f"The monitoring sample rate must be in (0, 1], got {self.rate}.")
        if self.batch_rows < 1:
            raise InvalidParameter("The monitoring batch size must be at least 1 row.")


def client_sender(name: str, version: str, tracking_uri: str | None) -> Sender:
    from ledgerflow.governance.monitoring.client import log_batch

    def send(frame: pd.DataFrame) -> Any:
        return log_batch(name, version, frame, source="scoring-server", tracking_uri=tracking_uri)

    return send


class RequestSampler:
    def __init__(self, settings: SamplerSettings, send: Sender) -> None:
        self.settings = settings
        self._send = send
        self._rng = np.random.default_rng(settings.seed)
        self._lock = threading.Lock()
        self._rows: list[pd.DataFrame] = []
        self._count = 0
        self._started: float | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self.sent = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="ledgerflow-monitor-sampler", daemon=True)
        self._thread.start()

    def offer(self, data: Any) -> None:
        """Called with each successfully scored request's input."""
        if not isinstance(data, pd.DataFrame) or data.empty:
            return
        with self._lock:
            keep = self._rng.random(len(data)) < self.settings.rate
            if keep.any():
                self._rows.append(data.loc[keep].reset_index(drop=True))
                self._count += int(keep.sum())
                if self._started is None:
                    self._started = time.monotonic()
            due = self._count >= self.settings.batch_rows or (
                self._started is not None and time.monotonic() - self._started >= self.settings.flush_seconds
            )
            if due:
                self._queue_window()

    def _queue_window(self) -> None:
        if self._rows:
            self._queue.put(pd.concat(self._rows, ignore_index=True))
        self._rows, self._count, self._started = [], 0, None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self._send(item)
                self.sent += 1
            except LedgerflowError as error:
                self.dropped += 1
                log.warning("A monitoring window was not logged: %s", error.message)
            except Exception:  # the tracking server's failure must not stop the sampler
                self.dropped += 1
                log.exception("A monitoring window was not logged")

    def close(self, timeout: float | None = 30.0) -> None:
        """Send what was collected and stop the sender thread."""
        with self._lock:
            self._queue_window()
        self._queue.put(_STOP)
        self._thread.join(timeout)
