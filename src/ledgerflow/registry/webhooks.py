"""Registry webhooks (MLflow's WebhookService): create, get, list, update, delete, test, the
delivery log, and the listener that turns committed registry events into deliveries."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from typing import Any

from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.registry.events import EventHook, RegistryEvent
from ledgerflow.registry.validation import validate_description
from ledgerflow.registry.webhook_delivery import DeliveryWorker, envelope, send
from ledgerflow.registry.webhook_events import example_payload, parse_event, parse_events
from ledgerflow.security.ssrf import OutboundClient, Resolver, UrlGuard
from ledgerflow.store import paging
from ledgerflow.store import webhooks as store
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import now_ms
from ledgerflow.tracking.validation import check_length

_log = logging.getLogger(__name__)

STATUSES = ("ACTIVE", "DISABLED")
MAX_NAME_LENGTH = 256
MAX_URL_LENGTH = 2000
MAX_SECRET_LENGTH = 1000
LIST_DEFAULT_MAX_RESULTS = 100
LIST_MAX_RESULTS = 1000


def _status(value: str | None, default: str | None) -> str | None:
    if value is None or value == "":
        return default
    status = value.strip().upper()
    if status not in STATUSES:
        raise InvalidParameter(f"Invalid webhook status '{value}'. Valid statuses are: {list(STATUSES)}")
    return status


def _name(value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidParameter("Missing value for required parameter 'name'. Webhook name cannot be empty.")
    check_length("Webhook name", value, MAX_NAME_LENGTH)
    return value


def _secret(value: str | None) -> str | None:
    if value is not None:
        check_length("Webhook secret", value, MAX_SECRET_LENGTH)
    return value or None


def _max_results(value: int | None, default: int) -> int:
    if value is None:
        return default
    if not 1 <= value <= LIST_MAX_RESULTS:
        raise InvalidParameter(f"max_results must be between 1 and {LIST_MAX_RESULTS}, got {value}.")
    return value


class WebhookService:
    def __init__(
        self, db: Database, config: ServerConfig, events: EventHook, resolver: Resolver | None = None
    ) -> None:
        self.db = db
        self.guard = UrlGuard(config.webhook_allowed_hosts, resolver)
        self.client = OutboundClient(self.guard, timeout=config.webhook_timeout_seconds)
        self.worker = DeliveryWorker(
            db,
            self.client,
            max_attempts=config.webhook_max_attempts,
            backoff_seconds=config.webhook_backoff_seconds,
        )
        events.subscribe(self.enqueue)

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def _url(self, url: str | None) -> str:
        if url is None or not url.strip():
            raise InvalidParameter("Missing value for required parameter 'url'.")
        check_length("Webhook URL", url, MAX_URL_LENGTH)
        self.guard.check(url)
        return url

    def _require(self, conn: Any, webhook_id: str) -> Any:
        row = store.find_row(conn, webhook_id) if webhook_id else None
        if row is None:
            raise ResourceDoesNotExist(f"Webhook with ID {webhook_id} not found.")
        return row

    # -- CRUD ------------------------------------------------------------------------------

    def create(
        self,
        name: str | None,
        url: str | None,
        events: Any,
        description: str | None,
        secret: str | None,
        status: str | None,
    ) -> dict[str, Any]:
        """The new webhook; its secret is in this answer and in no later one."""
        webhook_id = uuid.uuid4().hex
        values: dict[str, Any] = {
            "webhook_id": webhook_id,
            "name": _name(name),
            "url": self._url(url),
            "events": ",".join(parse_events(events, required=True) or []),
            "description": description,
            "secret": _secret(secret),
            "status": _status(status, "ACTIVE"),
        }
        validate_description(description)
        now = now_ms()
        values["creation_timestamp"] = values["last_updated_timestamp"] = now

        def create(conn: Any) -> dict[str, Any]:
            store.insert(conn, values)
            return store.render(self._require(conn, webhook_id))

        created: dict[str, Any] = self.db.run_write(create)
        if values["secret"]:
            created["secret"] = values["secret"]
        return created

    def get(self, webhook_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return store.render(self._require(conn, webhook_id))

    def list(self, max_results: int | None, page_token: str | None) -> dict[str, Any]:
        limit = _max_results(max_results, LIST_DEFAULT_MAX_RESULTS)
        offset = paging.decode(page_token)
        with self.db.read() as conn:
            rows = store.list_rows(conn, offset, limit + 1)
        found, token = paging.page(rows, offset, limit)
        result: dict[str, Any] = {}
        if found:
            result["webhooks"] = [store.render(row) for row in found]
        if token:
            result["next_page_token"] = token
        return result

    def update(
        self,
        webhook_id: str,
        *,
        name: str | None,
        url: str | None,
        events: Any,
        description: str | None,
        secret: str | None,
        status: str | None,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = _name(name)
        if url is not None:
            values["url"] = self._url(url)
        parsed = parse_events(events, required=False)
        if parsed is not None:
            values["events"] = ",".join(parsed)
        if description is not None:
            validate_description(description)
            values["description"] = description
        if secret is not None:
            # An empty secret turns signing off.
            values["secret"] = _secret(secret)
        if status is not None:
            values["status"] = _status(status, None)

        def update(conn: Any) -> dict[str, Any]:
            self._require(conn, webhook_id)
            store.update(conn, webhook_id, **values, last_updated_timestamp=now_ms())
            return store.render(self._require(conn, webhook_id))

        result: dict[str, Any] = self.db.run_write(update)
        return result

    def delete(self, webhook_id: str) -> None:
        def delete(conn: Any) -> None:
            self._require(conn, webhook_id)
            store.delete(conn, webhook_id)

        self.db.run_write(delete)

    # -- deliveries ------------------------------------------------------------------------

    def test(self, webhook_id: str, event: Any) -> dict[str, Any]:
        """Send an example payload now. The receiver's body is not passed back: echoing it
        would let anyone who can create a webhook read what an allow-listed internal service
        answers (MLflow's CVE-2026-64849 was exactly that)."""
        with self.db.read() as conn:
            row = self._require(conn, webhook_id)
        subscribed = [name for name in row.events.split(",") if name]
        name = parse_event(event, "event") if event else subscribed[0]
        body = envelope(name, example_payload(name), now_ms())
        started = time.monotonic()
        outcome = send(self.client, row.url, str(uuid.uuid4()), body, store.secret_of(row))
        result: dict[str, Any] = {
            "success": outcome.success,
            "response_time_ms": int((time.monotonic() - started) * 1000),
        }
        if outcome.status_code is not None:
            result["response_status"] = outcome.status_code
        if outcome.error and not outcome.success:
            result["error_message"] = outcome.error
        return result

    def deliveries(self, webhook_id: str, max_results: int | None, page_token: str | None) -> dict[str, Any]:
        limit = _max_results(max_results, LIST_DEFAULT_MAX_RESULTS)
        offset = paging.decode(page_token)
        with self.db.read() as conn:
            self._require(conn, webhook_id)
            rows = store.list_deliveries(conn, webhook_id, offset, limit + 1)
        found, token = paging.page(rows, offset, limit)
        result: dict[str, Any] = {}
        if found:
            result["deliveries"] = found
        if token:
            result["next_page_token"] = token
        return result

    def enqueue(self, event: RegistryEvent) -> None:
        """Queue one delivery per active subscriber (called after the registry committed)."""
        now = now_ms()
        body = envelope(event.name, event.data, now)
        digest = hashlib.sha256(body.encode()).hexdigest()

        def add(conn: Any) -> int:
            rows = [
                {
                    "delivery_id": str(uuid.uuid4()),
                    "webhook_id": webhook_id,
                    "event": event.name,
                    "payload": body,
                    "payload_sha256": digest,
                    "status": store.PENDING,
                    "attempts": 0,
                    "next_attempt_timestamp": now,
                    "creation_timestamp": now,
                    "last_updated_timestamp": now,
                }
                for webhook_id in store.active_subscribers(conn, event.name)
            ]
            store.add_deliveries(conn, rows)
            return len(rows)

        if self.db.run_write(add):
            self.worker.wake()
