"""Batched, asynchronous logging that never drops a point.

Calls made with ``synchronous=False`` put their metrics, params and tags on a queue and return
at once. One background thread takes what has queued up, coalesces it per run into
``runs/log-batch`` requests within MLflow's limits, and sends them in order:

* a transient failure (a 429/5xx answer, a refused connection) is retried with exponential
  backoff for as long as it takes; nothing is removed from the queue until it is delivered;
* a permanent failure (a 400 for a bad value) of a coalesced batch is retried one entity at a
  time, so the good points still arrive and only the bad one is reported;
* ``flush()`` blocks until everything queued before it has been settled and raises the
  permanent errors collected for it. The fluent API flushes at ``end_run``, when a ``with``
  block raises, and at interpreter exit.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ledgerflow.client.entities import Metric, Param, RunTag
from ledgerflow.client.transport import is_transient
from ledgerflow.errors import LedgerflowError

MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTITIES = 1000

Entity = Metric | Param | RunTag
SendBatch = Callable[[str, Sequence[Metric], Sequence[Param], Sequence[RunTag]], None]


@dataclass
class _Group:
    run_id: str
    metrics: list[Metric] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)

    def fits(self, entity: Entity) -> bool:
        total = len(self.metrics) + len(self.params) + len(self.tags)
        if total >= MAX_ENTITIES:
            return False
        if isinstance(entity, Metric):
            return len(self.metrics) < MAX_METRICS
        if isinstance(entity, Param):
            return len(self.params) < MAX_PARAMS
        return len(self.tags) < MAX_TAGS

    def add(self, entity: Entity) -> None:
        if isinstance(entity, Metric):
            self.metrics.append(entity)
        elif isinstance(entity, Param):
            self.params.append(entity)
        else:
            self.tags.append(entity)

    def deduplicated(self) -> tuple[list[Metric], list[Param], list[RunTag]]:
        # The server refuses repeated keys in one batch; identical params are one param and
        # for tags the last write wins anyway.
        params = list(dict.fromkeys(self.params))
        last_tags: dict[str, RunTag] = {}
        for tag in self.tags:
            last_tags.pop(tag.key, None)
            last_tags[tag.key] = tag
        return self.metrics, params, list(last_tags.values())


class AsyncFlushError(LedgerflowError):
    """Some queued entities could not be logged; ``errors`` holds each server answer."""

    def __init__(self, errors: list[tuple[str, Entity, BaseException]]) -> None:
        self.errors = errors
        first_run, first_entity, first_error = errors[0]
        code = getattr(first_error, "error_code", "INTERNAL_ERROR")
        super().__init__(
            f"{len(errors)} asynchronously logged value(s) were refused; first: {first_entity!r} "
            f"on run {first_run}: {first_error}",
            error_code=code,
        )


class AsyncLogger:
    def __init__(
        self,
        send_batch: SendBatch,
        *,
        linger: float = 0.05,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._send = send_batch
        self._linger = linger
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._queue: deque[tuple[str, Entity]] = deque()
        self._cond = threading.Condition()
        self._submitted = 0
        self._completed = 0
        self._errors: list[tuple[str, Entity, BaseException]] = []
        self._closed = False
        self._thread: threading.Thread | None = None
        atexit.register(self._at_exit)

    # -- producer side ---------------------------------------------------------------------

    def enqueue(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        with self._cond:
            if self._closed:
                raise LedgerflowError("The asynchronous logger is closed.")
            entities: list[Entity] = [*params, *tags, *metrics]
            for entity in entities:
                self._queue.append((run_id, entity))
                self._submitted += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="ledgerflow-async-log", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return self._submitted - self._completed

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued so far is delivered or refused; raise what was refused.

        On timeout nothing is dropped: the points stay queued and the worker keeps trying.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            while self._completed < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise LedgerflowError(
                        f"Timed out after {timeout} s flushing asynchronous logging: "
                        f"{target - self._completed} value(s) are still queued and will keep being retried.",
                        error_code="DEADLINE_EXCEEDED",
                    )
                self._cond.wait(remaining if remaining is not None else 1.0)
            errors, self._errors = self._errors, []
        if errors:
            raise AsyncFlushError(errors)

    def close(self, timeout: float | None = None) -> None:
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        if self.pending() == 0 and not self._errors:
            return
        try:
            self.flush(timeout=300)
        except LedgerflowError as error:
            print(f"ledgerflow: asynchronous logging at exit: {error}", file=sys.stderr)

    # -- worker side -----------------------------------------------------------------------

    def _take(self) -> tuple[int, list[_Group]]:
        """The longest prefix of the queue that fits one request per run (queue lock held)."""
        groups: dict[str, _Group] = {}
        taken = 0
        for run_id, entity in self._queue:
            group = groups.setdefault(run_id, _Group(run_id))
            if not group.fits(entity):
                break
            group.add(entity)
            taken += 1
        return taken, list(groups.values())

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
            # Let a burst of calls pile up so they share one request.
            self._sleep(self._linger)
            with self._cond:
                taken, groups = self._take()
            errors: list[tuple[str, Entity, BaseException]] = []
            for group in groups:
                self._deliver(group, errors)
            with self._cond:
                for _ in range(taken):
                    self._queue.popleft()
                self._completed += taken
                self._errors.extend(errors)
                self._cond.notify_all()

    def _send_with_retry(
        self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]
    ) -> None:
        delay = self._backoff_initial
        while True:
            try:
                self._send(run_id, metrics, params, tags)
                return
            except Exception as error:
                if not is_transient(error):
                    raise
            self._sleep(delay)
            delay = min(self._backoff_max, delay * 2)

    def _deliver(self, group: _Group, errors: list[tuple[str, Entity, BaseException]]) -> None:
        metrics, params, tags = group.deduplicated()
        try:
            self._send_with_retry(group.run_id, metrics, params, tags)
            return
        except Exception as error:
            entities: list[Entity] = [*params, *tags, *metrics]
            if len(entities) == 1:
                errors.append((group.run_id, entities[0], error))
                return
        for entity in entities:
            single = _Group(group.run_id)
            single.add(entity)
            try:
                self._send_with_retry(group.run_id, *single.deduplicated())
            except Exception as error:
                errors.append((group.run_id, entity, error))
