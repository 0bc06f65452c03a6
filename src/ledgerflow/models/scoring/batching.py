"""Where a matrix request's predict runs: inline, on a worker thread, or in a batch.

Requests that reach the model as a float matrix (see :mod:`.matrix`) go through one
:class:`Dispatcher` per server:

- **Inline** on the event loop when no other predict is queued or running and this one is
  expected to take at most ``inline_seconds`` (default 1 ms, and never more than a tenth of
  the request timeout). The expectation is the most CPU time any of the last predicts used,
  scaled up when this request has more rows; until a few predicts were measured, and while a
  slow one is among the recent, requests go to a thread. The hop to a thread and back costs
  0.1-1 ms of wake-ups on a busy machine, more than a small model's whole predict, and a
  predict that short cannot make a request miss its timeout.
- **On a worker thread** otherwise, so the loop keeps answering while the model computes and
  the request timeout holds (the caller waits with ``asyncio.wait_for``), as before.
- **Batched**, when ``max_batch_rows`` > 1: requests that arrive while a predict runs queue
  up, and the next call predicts all of them (up to ``max_batch_rows`` rows) at once on the
  model's own thread, like Triton's and BentoML's dynamic batching. A lone client never
  waits for a batch; ``batch_wait_seconds`` can hold one open to gather more. Results are
  split back by row counts; if the batched call raises, each request is predicted on its
  own, so a bad request fails alone with its own error. Only estimators that predict each
  row on its own get matrices (see the sklearn flavor's ``array_predictor``). For tree
  models a row's answer inside a batch is bit-identical to its answer alone, so the default
  (``max_batch_rows=None``) batches them, up to :data:`AUTO_BATCH_ROWS` rows; for BLAS-based
  models (linear, SVM, MLP, neighbours) floating-point outputs can differ in the last bits
  inside a larger matrix, so they batch only when asked. Measured with 8 concurrent
  single-row clients: a 100-tree forest answered 3.3-3.8x the requests (server CPU per
  request 4.2 -> 1.2 ms); a logistic regression used ~20% less CPU per request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

# How many recent predict timings the inline decision looks at, and how many it needs.
WINDOW = 32
WARM_UP = 4


AUTO_BATCH_ROWS = 1000


@dataclass(frozen=True)
class BatchSettings:
    # None: AUTO_BATCH_ROWS where batched answers are bit-identical, else 0; 0 or 1: every
    # request predicted on its own.
    max_batch_rows: int | None = None
    batch_wait_seconds: float = 0.0
    inline_seconds: float = 0.001  # 0: never inline

    def resolved(self, batches_exactly: bool) -> BatchSettings:
        if self.max_batch_rows is not None:
            return self
        return replace(self, max_batch_rows=AUTO_BATCH_ROWS if batches_exactly else 0)

    @property
    def batching(self) -> bool:
        return (self.max_batch_rows or 0) > 1

    @property
    def batch_rows(self) -> int:
        return self.max_batch_rows or 0


@dataclass
class _Pending:
    matrix: Any
    future: asyncio.Future[Any]


class Dispatcher:
    def __init__(self, predict: Callable[[Any], Any], settings: BatchSettings, timeout: float | None) -> None:
        self.predict = predict
        self.settings = settings
        budget = settings.inline_seconds
        self.inline_budget = min(budget, timeout / 10) if timeout is not None else budget
        self._lock = threading.Lock()  # timings come from the loop and from worker threads
        self._timings: deque[tuple[float, int]] = deque(maxlen=WINDOW)
        self._bounds = (0.0, 0.0)  # slowest recent predict, and slowest per row
        self._in_flight = 0  # predicts handed to threads and not yet back
        self._queue: deque[_Pending] = deque()
        self._draining = False
        # Counters: predict calls, and requests answered from a call shared with others.
        self.calls = 0
        self.batched_requests = 0
        # Batches run on one thread of their own: the batch is the concurrency.
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="ledgerflow-batch") if settings.batching else None
        )

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def can_inline(self, rows: int) -> bool:
        """Whether a predict of *rows* rows may run on the event loop now. The expected time
        is the max over recent predicts of ``seconds * max(1, rows / their rows)``, which is
        the larger of the slowest recent predict and *rows* times the slowest per row."""
        if self._in_flight or self._queue or len(self._timings) < WARM_UP:
            return False
        slowest, per_row = self._bounds
        return max(slowest, rows * per_row) <= self.inline_budget

    def run_inline(self, matrix: Any) -> Any:
        return self._timed(matrix)

    def _timed(self, matrix: Any) -> Any:
        with self._lock:
            self.calls += 1
        # CPU time of the process, not wall time: on a busy machine a predict preempted
        # half-way took 3-5 ms of wall time for 0.1 ms of work, and counting that sent half
        # the requests to the thread hop, the slower path under exactly that load. Process
        # time also counts threads the model itself starts (joblib with n_jobs > 1).
        started = time.process_time()
        result = self.predict(matrix)
        elapsed = time.process_time() - started
        with self._lock:
            self._timings.append((elapsed, max(len(matrix), 1)))
            self._bounds = (
                max(seconds for seconds, _ in self._timings),
                max(seconds / rows for seconds, rows in self._timings),
            )
        return result

    async def submit(self, matrix: Any) -> Any:
        """The prediction for one request's matrix from a worker thread (alone or, when
        batching, with others); raises what the model raised for this request."""
        loop = asyncio.get_running_loop()
        if not self.settings.batching:
            self._in_flight += 1
            try:
                return await loop.run_in_executor(None, self._timed, matrix)
            finally:
                self._in_flight -= 1
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Pending(matrix, future))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                wait = self.settings.batch_wait_seconds
                if wait > 0 and self._queued_rows() < self.settings.batch_rows:
                    await asyncio.sleep(wait)
                batch = self._take()
                if not batch:
                    continue
                self._in_flight += 1
                try:
                    outcomes = await loop.run_in_executor(
                        self._executor, self._run, [p.matrix for p in batch]
                    )
                except BaseException as error:  # the executor itself failed (shut down)
                    outcomes = [(False, error)] * len(batch)
                finally:
                    self._in_flight -= 1
                for pending, (ok, value) in zip(batch, outcomes, strict=True):
                    if pending.future.done():
                        continue  # its request timed out or went away
                    if ok:
                        pending.future.set_result(value)
                    else:
                        pending.future.set_exception(value)
        finally:
            self._draining = False

    def _queued_rows(self) -> int:
        return sum(len(p.matrix) for p in self._queue)

    def _take(self) -> list[_Pending]:
        """The next batch: waiting requests in arrival order, up to max_batch_rows rows
        (always at least one request), skipping those whose caller gave up."""
        batch: list[_Pending] = []
        rows = 0
        while self._queue:
            head = self._queue[0]
            if head.future.done():
                self._queue.popleft()
                continue
            if batch and rows + len(head.matrix) > self.settings.batch_rows:
                break
            batch.append(self._queue.popleft())
            rows += len(head.matrix)
        return batch

    def _run(self, matrices: list[Any]) -> list[tuple[bool, Any]]:
        """On the batch thread: one predict for the batch, split back per request."""
        if len(matrices) > 1:
            import numpy as np

            sizes = [len(m) for m in matrices]
            try:
                # Column-major like each request's own matrix (see matrix.py).
                result = self._timed(np.asfortranarray(np.concatenate(matrices)))
            except Exception:
                result = None  # one of the requests is bad: each alone, for its own error
            if isinstance(result, np.ndarray) and len(result) == sum(sizes):
                with self._lock:
                    self.batched_requests += len(matrices)
                return [(True, part) for part in np.split(result, np.cumsum(sizes)[:-1])]
        outcomes: list[tuple[bool, Any]] = []
        for matrix in matrices:
            try:
                outcomes.append((True, self._timed(matrix)))
            except Exception as error:
                outcomes.append((False, error))
        return outcomes
