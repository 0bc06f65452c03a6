"""One page of a registry search in MLflow's response shape, shared by registered-models/search
and model-versions/search: the default page size, the read transaction, the readable-model
restriction and the ``next_page_token`` only while rows remain."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy.engine import Connection

from ledgerflow.store.database import Database
from ledgerflow.store.search_statements import SearchStatements

# (conn, filter_string=, max_results=, order_by=, page_token=, readable=, statements=)
# -> (items, token)
PageSearch = Callable[..., tuple[list[dict[str, Any]], str | None]]


def search_page(
    db: Database,
    search: PageSearch,
    *,
    items_key: str,
    default_max_results: int,
    filter_string: str | None,
    max_results: int | None,
    order_by: list[str],
    page_token: str | None,
    readable: Collection[int] | None,
    statements: SearchStatements | None = None,
) -> dict[str, Any]:
    """``{items_key: [...], "next_page_token": ...}``, each left out when empty (as MLflow does)."""
    conn: Connection
    with db.read() as conn:
        found, token = search(
            conn,
            filter_string=filter_string or "",
            max_results=default_max_results if max_results is None else max_results,
            order_by=order_by,
            page_token=page_token,
            readable=readable,
            statements=statements,
        )
    result: dict[str, Any] = {}
    if found:
        result[items_key] = found
    if token:
        result["next_page_token"] = token
    return result
