"""Queries on the promotion request tables."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.governance.policy_schema import promotion_approvals, promotion_requests


def insert_request(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(promotion_requests.insert().values(**values))


def get_request(conn: Connection, request_id: str) -> Any:
    query = sa.select(promotion_requests).where(promotion_requests.c.request_id == request_id)
    return conn.execute(query).first()


def update_request(conn: Connection, request_id: str, **values: Any) -> None:
    conn.execute(
        promotion_requests.update().where(promotion_requests.c.request_id == request_id).values(**values)
    )


def list_requests(conn: Connection, name: str | None, status: str | None, limit: int) -> list[Any]:
    query = sa.select(promotion_requests)
    if name:
        query = query.where(promotion_requests.c.model_name == name)
    if status:
        query = query.where(promotion_requests.c.status == status)
    query = query.order_by(promotion_requests.c.creation_time.desc(), promotion_requests.c.request_id).limit(
        limit
    )
    return list(conn.execute(query))


def insert_approval(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(promotion_approvals.insert().values(**values))


def approvals_of(conn: Connection, request_id: str) -> list[Any]:
    query = (
        sa.select(promotion_approvals)
        .where(promotion_approvals.c.request_id == request_id)
        .order_by(promotion_approvals.c.creation_time, promotion_approvals.c.approver)
    )
    return list(conn.execute(query))
