"""Audit records as JSON objects: for the API, for ``ledgerflow audit export`` (JSONL) and SIEMs.

Each exported record carries its hashes, so a SIEM can re-check the chain on its own copy.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter
from ledgerflow.store.schema import audit_log

PAGE = 1000


@dataclass(frozen=True)
class Filters:
    since_ms: int | None = None
    until_ms: int | None = None
    actor: str | None = None
    action: str | None = None
    resource: str | None = None
    outcome: str | None = None


def parse_time(value: str | int | None, name: str) -> int | None:
    """Milliseconds since the epoch, from ms digits or an ISO-8601 date/time (UTC if no zone)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) or str(value).lstrip("-").isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(
            f"Invalid value '{value}' for parameter '{name}': expected milliseconds or an ISO-8601 date."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    record = {str(key): value for key, value in row.items() if value is not None}
    record["time"] = datetime.fromtimestamp(row["time_ms"] / 1000, UTC).isoformat(timespec="milliseconds")
    # An edited, unparsable value is exported as stored; verify reports it.
    with contextlib.suppress(TypeError, ValueError):
        record["details"] = json.loads(row["details"])
    return record


def _where(query: sa.Select[Any], filters: Filters) -> sa.Select[Any]:
    column = audit_log.c
    if filters.since_ms is not None:
        query = query.where(column.time_ms >= filters.since_ms)
    if filters.until_ms is not None:
        query = query.where(column.time_ms < filters.until_ms)
    for name in ("actor", "action", "outcome"):
        value = getattr(filters, name)
        if value:
            query = query.where(getattr(column, name) == value)
    if filters.resource:
        resource_type, _, resource_id = filters.resource.partition(":")
        if resource_id:
            query = query.where(column.resource_type == resource_type, column.resource_id == resource_id)
        else:
            query = query.where(column.resource_id == filters.resource)
    return query


def page(conn: Connection, filters: Filters, *, before_seq: int | None, limit: int) -> list[dict[str, Any]]:
    """Newest first, ``limit`` + 1 rows so the caller knows whether another page exists."""
    query = _where(sa.select(audit_log), filters).order_by(audit_log.c.seq.desc()).limit(limit + 1)
    if before_seq is not None:
        query = query.where(audit_log.c.seq < before_seq)
    return [dict(row._mapping) for row in conn.execute(query)]


def iterate(conn: Connection, filters: Filters) -> Iterator[dict[str, Any]]:
    """Oldest first, in pages, for exports of any size."""
    after = 0
    while True:
        query = _where(sa.select(audit_log), filters).where(audit_log.c.seq > after)
        rows = [dict(row._mapping) for row in conn.execute(query.order_by(audit_log.c.seq).limit(PAGE))]
        for row in rows:
            yield to_json(row)
        if len(rows) < PAGE:
            return
        after = rows[-1]["seq"]


def jsonl_lines(conn: Connection, filters: Filters) -> Iterator[str]:
    for record in iterate(conn, filters):
        yield json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"


def search(conn: Connection, filters: Filters, max_results: int, page_token: str | None) -> dict[str, Any]:
    """One page of the audit API's answer: ``records`` newest first and a ``next_page_token``."""
    before = _decode_token(page_token)
    rows = page(conn, filters, before_seq=before, limit=max_results)
    answer: dict[str, Any] = {}
    if rows[:max_results]:
        answer["records"] = [to_json(row) for row in rows[:max_results]]
    if len(rows) > max_results:
        answer["next_page_token"] = _encode_token(rows[max_results - 1]["seq"])
    return answer


def _encode_token(before_seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before_seq": before_seq}).encode()).decode()


def _decode_token(token: str | None) -> int | None:
    if not token:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))["before_seq"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidParameter("Invalid page token.") from None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidParameter("Invalid page token.")
    return value
