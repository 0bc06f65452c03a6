"""SQL for webhooks, their pending deliveries (an outbox with leases) and the attempt log.

Rows come back wire-shaped where the API shows them; the secret never leaves this module
except through :func:`secret_of`, which the delivery worker uses to sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.registry.webhook_events import to_wire
from ledgerflow.store.schema import webhook_deliveries as deliveries
from ledgerflow.store.schema import webhook_delivery_attempts as attempts
from ledgerflow.store.schema import webhooks

PENDING, SUCCEEDED, FAILED = "PENDING", "SUCCEEDED", "FAILED"
MAX_ERROR_LENGTH = 1000


def _events(text: str) -> list[str]:
    return [event for event in text.split(",") if event]


def render(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "webhook_id": row.webhook_id,
        "name": row.name,
        "url": row.url,
        "events": [to_wire(event) for event in _events(row.events)],
        "status": row.status,
        "creation_timestamp": row.creation_timestamp,
        "last_updated_timestamp": row.last_updated_timestamp,
    }
    if row.description:
        out["description"] = row.description
    return out


def insert(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(sa.insert(webhooks).values(**values))


def find_row(conn: Connection, webhook_id: str) -> Any:
    return conn.execute(sa.select(webhooks).where(webhooks.c.webhook_id == webhook_id)).first()


def update(conn: Connection, webhook_id: str, **values: Any) -> None:
    conn.execute(sa.update(webhooks).where(webhooks.c.webhook_id == webhook_id).values(**values))


def delete(conn: Connection, webhook_id: str) -> None:
    # Children first: not every backend enforces ON DELETE CASCADE the same way.
    ids = sa.select(deliveries.c.delivery_id).where(deliveries.c.webhook_id == webhook_id)
    conn.execute(sa.delete(attempts).where(attempts.c.delivery_id.in_(ids)))
    conn.execute(sa.delete(deliveries).where(deliveries.c.webhook_id == webhook_id))
    conn.execute(sa.delete(webhooks).where(webhooks.c.webhook_id == webhook_id))


def list_rows(conn: Connection, offset: int, limit: int) -> list[Any]:
    query = (
        sa.select(webhooks)
        .order_by(webhooks.c.creation_timestamp.desc(), webhooks.c.webhook_id)
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(query))


def active_subscribers(conn: Connection, event: str) -> list[Any]:
    rows = conn.execute(
        sa.select(webhooks.c.webhook_id, webhooks.c.events).where(webhooks.c.status == "ACTIVE")
    )
    return [row.webhook_id for row in rows if event in _events(row.events)]


def secret_of(row: Any) -> str | None:
    return row.secret or None


# -- deliveries --------------------------------------------------------------------------------


def add_deliveries(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(sa.insert(deliveries), list(rows))


def _due(now: int) -> Any:
    return sa.and_(
        deliveries.c.status == PENDING,
        deliveries.c.next_attempt_timestamp <= now,
        sa.or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now),
    )


def due_ids(conn: Connection, now: int, limit: int) -> list[str]:
    query = (
        sa.select(deliveries.c.delivery_id)
        .where(_due(now))
        .order_by(deliveries.c.next_attempt_timestamp)
        .limit(limit)
    )
    return [row.delivery_id for row in conn.execute(query)]


def claim(conn: Connection, delivery_id: str, now: int, until: int) -> Any:
    """Take the lease on one due delivery; None when another worker got there first."""
    result = conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.delivery_id == delivery_id, _due(now))
        .values(claimed_until=until)
    )
    if result.rowcount != 1:
        return None
    return conn.execute(sa.select(deliveries).where(deliveries.c.delivery_id == delivery_id)).first()


def next_due_time(conn: Connection) -> int | None:
    query = sa.select(sa.func.min(deliveries.c.next_attempt_timestamp)).where(deliveries.c.status == PENDING)
    value = conn.execute(query).scalar()
    return int(value) if value is not None else None


def record_attempt(
    conn: Connection,
    delivery: Any,
    *,
    started: int,
    duration_ms: int,
    status_code: int | None,
    error: str | None,
    outcome: str,
    next_attempt: int | None,
) -> None:
    number = int(delivery.attempts) + 1
    error = error[:MAX_ERROR_LENGTH] if error else None
    conn.execute(
        sa.insert(attempts).values(
            delivery_id=delivery.delivery_id,
            attempt=number,
            timestamp=started,
            duration_ms=duration_ms,
            status_code=status_code,
            error=error,
        )
    )
    conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.delivery_id == delivery.delivery_id)
        .values(
            attempts=number,
            status=outcome,
            next_attempt_timestamp=next_attempt,
            claimed_until=None,
            last_status_code=status_code,
            last_error=error,
            last_updated_timestamp=started + duration_ms,
        )
    )


def list_deliveries(conn: Connection, webhook_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
    query = (
        sa.select(deliveries)
        .where(deliveries.c.webhook_id == webhook_id)
        .order_by(deliveries.c.creation_timestamp.desc(), deliveries.c.delivery_id)
        .offset(offset)
        .limit(limit)
    )
    rows = list(conn.execute(query))
    by_id: dict[str, list[dict[str, Any]]] = {row.delivery_id: [] for row in rows}
    if by_id:
        found = conn.execute(
            sa.select(attempts)
            .where(attempts.c.delivery_id.in_(list(by_id)))
            .order_by(attempts.c.delivery_id, attempts.c.attempt)
        )
        for attempt in found:
            entry: dict[str, Any] = {
                "attempt": attempt.attempt,
                "timestamp": attempt.timestamp,
                "duration_ms": attempt.duration_ms,
            }
            if attempt.status_code is not None:
                entry["response_status"] = attempt.status_code
            if attempt.error:
                entry["error_message"] = attempt.error
            by_id[attempt.delivery_id].append(entry)
    return [_render_delivery(row, by_id[row.delivery_id]) for row in rows]


def _render_delivery(row: Any, log: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "delivery_id": row.delivery_id,
        "webhook_id": row.webhook_id,
        "event": to_wire(row.event),
        "payload_sha256": row.payload_sha256,
        "status": row.status,
        "attempts": row.attempts,
        "creation_timestamp": row.creation_timestamp,
        "last_updated_timestamp": row.last_updated_timestamp,
    }
    if row.next_attempt_timestamp is not None and row.status == PENDING:
        out["next_attempt_timestamp"] = row.next_attempt_timestamp
    if row.last_status_code is not None:
        out["last_response_status"] = row.last_status_code
    if row.last_error:
        out["last_error_message"] = row.last_error
    if log:
        out["attempt_log"] = log
    return out
