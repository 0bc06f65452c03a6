"""logged-models/search as one SELECT of model ids.

A model may carry several values of one metric (one per run, dataset, step); the value a
filter or an order key sees is the latest by (timestamp, step) among the rows in scope,
where the scope is the request's ``datasets`` for filters and the order item's own dataset
for ordering. NaN is stored as NULL and, like a missing metric, matches no comparison and
sorts last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ledgerflow.errors import InvalidParameter
from ledgerflow.store import paging
from ledgerflow.store.schema import (
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
)
from ledgerflow.tracking.search import LOGGED_MODELS, Comparison, OrderKey, parse_field_name, parse_filter
from ledgerflow.tracking.search.options import check_max_results
from ledgerflow.tracking.search.sql import SqlText, compare_number, nulls_last

ACTIVE = "active"
Scope = list[tuple[str, str | None]]  # (dataset_name, dataset_digest or None for any digest)

_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": logged_models.c.name,
    "model_id": logged_models.c.model_id,
    "status": logged_models.c.status,
    "source_run_id": logged_models.c.source_run_id,
    "model_type": logged_models.c.model_type,
    "creation_time": logged_models.c.creation_timestamp_ms,
    "last_updated_time": logged_models.c.last_updated_timestamp_ms,
}


def search_logged_model_ids(
    conn: Connection,
    *,
    experiment_ids: list[int],
    filter_string: str,
    datasets: list[dict[str, Any]],
    max_results: int,
    order_by: list[dict[str, Any]],
    page_token: str | None,
) -> tuple[list[str], str | None]:
    """Model ids of one page of a logged-models/search and the next page's token.

    ``order_by`` items are ``{field_name, ascending, dataset_name, dataset_digest}``; the
    default order is creation time, newest first, and model_id always breaks ties.
    """
    comparisons = parse_filter(filter_string, LOGGED_MODELS)
    scope = _scope(datasets, "datasets")
    order_keys = [_order_item(item, index) for index, item in enumerate(order_by or [])]
    check_max_results(max_results, None)
    offset = paging.decode(page_token)
    # Ids beyond the INTEGER column's range name no experiment and must not reach the database.
    experiment_ids = [i for i in experiment_ids if -(2**31) <= i < 2**31]
    if not experiment_ids:
        return [], None
    text = SqlText(conn.dialect.name)
    query = sa.select(logged_models.c.model_id).where(
        logged_models.c.experiment_id.in_(experiment_ids), logged_models.c.lifecycle_stage == ACTIVE
    )
    for comparison in comparisons:
        query = query.where(_condition(comparison, scope, text))
    ordering: list[ColumnElement[Any]] = []
    for key, item_scope in order_keys:
        if key.entity == "metric":
            ordering.extend(
                nulls_last(_latest_metric(key.key, item_scope, text), key.ascending, text.dialect)
            )
        else:
            ordering.extend(nulls_last(_COLUMNS[key.key], key.ascending, text.dialect))
    ordering.extend(nulls_last(logged_models.c.creation_timestamp_ms, False, text.dialect))
    ordering.append(logged_models.c.model_id.asc())
    query = query.order_by(*ordering).limit(max_results + 1).offset(offset)
    ids = [row[0] for row in conn.execute(query)]
    return paging.page(ids, offset, max_results)


def _scope(items: Sequence[Any], field: str) -> Scope:
    scope: Scope = []
    for index, item in enumerate(items or []):
        name = item.get("dataset_name") if isinstance(item, dict) else None
        digest = item.get("dataset_digest") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidParameter(f"Missing value for required parameter '{field}[{index}].dataset_name'.")
        if digest is not None and not isinstance(digest, str):
            raise InvalidParameter(
                f"Invalid value {digest!r} for parameter '{field}[{index}].dataset_digest'."
            )
        scope.append((name, digest or None))
    return scope


def _order_item(item: Any, index: int) -> tuple[OrderKey, Scope]:
    if not isinstance(item, dict) or not isinstance(item.get("field_name"), str):
        raise InvalidParameter(f"Missing value for required parameter 'order_by[{index}].field_name'.")
    ascending = item.get("ascending", True)
    if isinstance(ascending, str) and ascending.lower() in ("true", "false"):
        ascending = ascending.lower() == "true"
    if not isinstance(ascending, bool):
        raise InvalidParameter(f"Invalid value {ascending!r} for parameter 'order_by[{index}].ascending'.")
    key = parse_field_name(item["field_name"], LOGGED_MODELS, ascending=ascending)
    scope = _scope([item], "order_by") if item.get("dataset_name") else []
    return key, scope


def _scope_terms(scope: Scope) -> list[ColumnElement[bool]]:
    if not scope:
        return []
    options = [
        sa.and_(
            logged_model_metrics.c.dataset_name == name,
            *([logged_model_metrics.c.dataset_digest == digest] if digest else []),
        )
        for name, digest in scope
    ]
    return [sa.or_(*options)]


def _latest_metric(key: str, scope: Scope, text: SqlText) -> ColumnElement[Any]:
    table = logged_model_metrics
    latest = (
        sa.select(table.c.metric_value)
        .where(table.c.model_id == logged_models.c.model_id, text.equals(table.c.metric_name, key))
        .where(*_scope_terms(scope))
        .order_by(table.c.metric_timestamp_ms.desc(), table.c.metric_step.desc())
        .limit(1)
        .correlate(logged_models)
        .scalar_subquery()
    )
    return latest


def _condition(comparison: Comparison, scope: Scope, text: SqlText) -> ColumnElement[bool]:
    if comparison.entity == "metric":
        assert isinstance(comparison.value, float)
        return compare_number(_latest_metric(comparison.key, scope, text), comparison.op, comparison.value)
    if comparison.entity in ("param", "tag"):
        table = logged_model_params if comparison.entity == "param" else logged_model_tags
        return sa.exists().where(
            table.c.model_id == logged_models.c.model_id,
            text.equals(table.c.key, comparison.key),
            text.compare(table.c.value, comparison.op, comparison.value),
        )
    column = _COLUMNS[comparison.key]
    if isinstance(comparison.value, float):
        return compare_number(column, comparison.op, comparison.value)
    return text.compare(column, comparison.op, comparison.value)
