"""Signed webhook deliveries and the background worker that sends and retries them.

A delivery is MLflow's envelope ``{"entity", "action", "timestamp", "data"}`` POSTed as JSON
with ``X-MLflow-Delivery-Id``, ``X-MLflow-Timestamp`` (Unix seconds) and, when the webhook
has a secret, ``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``.
The delivery id stays the same across retries so receivers can drop duplicates; the
timestamp and signature are made fresh for each attempt so replay windows stay short.

Pending deliveries live in the database. The worker claims a due one with a lease (so two
workers or processes never send it at once), sends it, and records the attempt; 5xx, 408,
429 and connection failures are retried with exponential backoff up to a bounded number of
attempts. A URL the SSRF guard refuses, at any redirect hop, fails the delivery for good.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledgerflow.security.ssrf import BlockedUrl, OutboundClient, OutboundError
from ledgerflow.store import webhooks as store
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import now_ms

_log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
MAX_BACKOFF_SECONDS = 3600.0
RETRYABLE_STATUSES = frozenset({408, 429})
_BATCH = 20


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    content = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def envelope(event: str, data: dict[str, Any], at_ms: int) -> str:
    entity, _, action = event.partition(".")
    when = datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat()
    return json.dumps({"entity": entity, "action": action, "timestamp": when, "data": data})


def headers_for(delivery_id: str, body: str, secret: str | None) -> dict[str, str]:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Ledgerflow-Webhooks/1",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: timestamp,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, delivery_id, timestamp, body)
    return headers


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    retryable: bool

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(client: OutboundClient, url: str, delivery_id: str, body: str, secret: str | None) -> Outcome:
    """One signed POST; never raises for what the far end or the guard does."""
    try:
        response = client.post(url, body.encode(), headers_for(delivery_id, body, secret))
    except BlockedUrl as error:
        return Outcome(None, f"Refused by the outbound URL guard: {error.message}", retryable=False)
    except OutboundError as error:
        return Outcome(None, f"Connection failed: {error}", retryable=True)
    status = response.status
    if 200 <= status < 300:
        return Outcome(status, None, retryable=False)
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    return Outcome(status, f"The receiver answered HTTP {status}.", retryable=retryable)


class DeliveryWorker:
    """Drains the delivery outbox on one daemon thread."""

    def __init__(
        self,
        db: Database,
        client: OutboundClient,
        *,
        max_attempts: int,
        backoff_seconds: float,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.client = client
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = max(0.0, backoff_seconds)
        self.poll_seconds = poll_seconds
        # Long enough for a send through every redirect hop to time out.
        self.lease_ms = int(max(60.0, client.timeout * (client.max_redirects + 2)) * 1000)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ledgerflow-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.process_due()
                delay = 0.0 if busy else self._idle_delay()
            except Exception:
                _log.exception("The webhook delivery worker hit an error; it carries on")
                delay = self.poll_seconds
            if delay > 0:
                self._wake.wait(delay)
                self._wake.clear()

    def _idle_delay(self) -> float:
        with self.db.read() as conn:
            due = store.next_due_time(conn)
        if due is None:
            return self.poll_seconds
        # Other processes may add deliveries too, so never sleep past one poll interval.
        return min(self.poll_seconds, max(0.0, (due - now_ms()) / 1000))

    def process_due(self) -> bool:
        """Send every delivery that is due now; True when at least one was handled."""
        now = now_ms()
        with self.db.read() as conn:
            candidates = store.due_ids(conn, now, _BATCH)
        handled = False
        for delivery_id in candidates:
            if self._stop.is_set():
                break
            row = self.db.run_write(store.claim, delivery_id, now_ms(), now_ms() + self.lease_ms)
            if row is not None:
                self._attempt(row)
                handled = True
        return handled

    def _attempt(self, delivery: Any) -> None:
        with self.db.read() as conn:
            hook = store.find_row(conn, delivery.webhook_id)
        started = now_ms()
        if hook is None:
            return  # deleted meanwhile; its deliveries went with it
        if hook.status != "ACTIVE":
            outcome = Outcome(None, "The webhook is disabled; the delivery was not sent.", retryable=False)
        else:
            outcome = send(
                self.client, hook.url, delivery.delivery_id, delivery.payload, store.secret_of(hook)
            )
        finished = now_ms()
        number = int(delivery.attempts) + 1
        if outcome.success:
            state, next_attempt = store.SUCCEEDED, None
        elif outcome.retryable and number < self.max_attempts:
            state, next_attempt = store.PENDING, finished + self._backoff_ms(number)
        else:
            state, next_attempt = store.FAILED, None
        self.db.run_write(
            lambda conn: store.record_attempt(
                conn,
                delivery,
                started=started,
                duration_ms=finished - started,
                status_code=outcome.status_code,
                error=outcome.error,
                outcome=state,
                next_attempt=next_attempt,
            )
        )

    def _backoff_ms(self, attempt: int) -> int:
        # Doubling from the base, with up to 25% added jitter so a receiver that came back
        # is not hit by every queued delivery in the same instant.
        delay = min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))
        return int(delay * (1 + 0.25 * random.random()) * 1000)
