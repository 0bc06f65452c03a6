"""runs/search as one SELECT of run ids: filters become EXISTS subqueries on the indexed
child tables, order keys become LEFT JOINs on (run_uuid, key), and the page is a
LIMIT/OFFSET. Run contents are loaded by the caller for the ids of one page only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ledgerflow.store import paging
from ledgerflow.store.schema import datasets, input_tags, latest_metrics, params, run_inputs, runs, tags
from ledgerflow.tracking.search import RUNS, Comparison, OrderKey, parse_filter, parse_order_by
from ledgerflow.tracking.search.nodes import IS_NOT_NULL, IS_NULL, NE
from ledgerflow.tracking.search.options import check_max_results, lifecycle_stages
from ledgerflow.tracking.search.sql import SqlText, compare_number, nulls_last

MAX_RESULTS_CAP = 50_000
CONTEXT_TAG = "mlflow.data.context"

_ATTRIBUTE_COLUMNS: dict[str, sa.Column[Any]] = {
    "run_id": runs.c.run_uuid,
    "run_name": runs.c.name,
    "status": runs.c.status,
    "user_id": runs.c.user_id,
    "artifact_uri": runs.c.artifact_uri,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}


def search_run_ids(
    conn: Connection,
    *,
    experiment_ids: list[int],
    filter_string: str,
    run_view_type: str,
    max_results: int,
    order_by: list[str],
    page_token: str | None,
) -> tuple[list[str], str | None]:
    """Run ids of one page of a runs/search, and the next page's token (None at the end).

    Raises InvalidParameter for a bad filter, order_by, view type, page size or token.
    """
    comparisons = parse_filter(filter_string, RUNS)
    order_keys = parse_order_by(order_by, RUNS)
    stages = lifecycle_stages(run_view_type, parameter="run_view_type")
    check_max_results(max_results, MAX_RESULTS_CAP)
    offset = paging.decode(page_token)
    if not experiment_ids:
        return [], None
    text = SqlText(conn.dialect.name)
    query = sa.select(runs.c.run_uuid).where(
        runs.c.experiment_id.in_(experiment_ids), runs.c.lifecycle_stage.in_(stages)
    )
    for condition in run_conditions(comparisons, text):
        query = query.where(condition)
    query, ordering = _apply_order(query, order_keys, text)
    query = query.order_by(*ordering).limit(max_results + 1).offset(offset)
    ids = [row[0] for row in conn.execute(query)]
    return paging.page(ids, offset, max_results)


def run_conditions(comparisons: Sequence[Comparison], text: SqlText) -> list[ColumnElement[bool]]:
    """WHERE terms on ``runs`` for parsed comparisons (dataset ones must share one input)."""
    conditions: list[ColumnElement[bool]] = []
    dataset_clauses = [c for c in comparisons if c.entity == "dataset"]
    for comparison in comparisons:
        if comparison.entity == "metric":
            conditions.append(_metric_condition(comparison, text))
        elif comparison.entity in ("param", "tag"):
            conditions.append(_keyed_string_condition(comparison, text))
        elif comparison.entity == "attribute":
            conditions.append(_attribute_condition(comparison, text))
    if dataset_clauses:
        conditions.append(_dataset_condition(dataset_clauses, text))
    return conditions


def _metric_condition(comparison: Comparison, text: SqlText) -> ColumnElement[bool]:
    assert isinstance(comparison.value, float)
    value_test = compare_number(latest_metrics.c.value, comparison.op, comparison.value)
    # NaN is unequal to everything and compares false otherwise (IEEE).
    if comparison.op == NE:
        value_test = sa.or_(latest_metrics.c.is_nan, value_test)
    else:
        value_test = sa.and_(sa.not_(latest_metrics.c.is_nan), value_test)
    return sa.exists().where(
        latest_metrics.c.run_uuid == runs.c.run_uuid,
        text.equals(latest_metrics.c.key, comparison.key),
        value_test,
    )


def _keyed_string_condition(comparison: Comparison, text: SqlText) -> ColumnElement[bool]:
    table = params if comparison.entity == "param" else tags
    has_key = [table.c.run_uuid == runs.c.run_uuid, text.equals(table.c.key, comparison.key)]
    if comparison.op == IS_NULL:
        return sa.not_(sa.exists().where(*has_key))
    if comparison.op == IS_NOT_NULL:
        return sa.exists().where(*has_key)
    return sa.exists().where(*has_key, text.compare(table.c.value, comparison.op, comparison.value))


def _attribute_condition(comparison: Comparison, text: SqlText) -> ColumnElement[bool]:
    column = _ATTRIBUTE_COLUMNS[comparison.key]
    if isinstance(comparison.value, float):
        return compare_number(column, comparison.op, comparison.value)
    return text.compare(column, comparison.op, comparison.value)


def _dataset_condition(comparisons: Sequence[Comparison], text: SqlText) -> ColumnElement[bool]:
    source = run_inputs.join(datasets, datasets.c.dataset_uuid == run_inputs.c.dataset_uuid)
    if any(c.key == "context" for c in comparisons):
        source = source.join(
            input_tags,
            sa.and_(input_tags.c.input_uuid == run_inputs.c.input_uuid, input_tags.c.name == CONTEXT_TAG),
        )
    columns = {"name": datasets.c.name, "digest": datasets.c.digest, "context": input_tags.c.value}
    terms = [text.compare(columns[c.key], c.op, c.value) for c in comparisons]
    return sa.exists(
        sa.select(sa.literal(1)).select_from(source).where(run_inputs.c.run_uuid == runs.c.run_uuid, *terms)
    )


def _apply_order(
    query: sa.Select[Any], order_keys: Sequence[OrderKey], text: SqlText
) -> tuple[sa.Select[Any], list[ColumnElement[Any]]]:
    ordering: list[ColumnElement[Any]] = []
    orders_by_start_time = False
    for index, key in enumerate(order_keys):
        if key.entity == "attribute":
            column = _ATTRIBUTE_COLUMNS[key.key]
            orders_by_start_time = orders_by_start_time or key.key == "start_time"
            ordering.extend(nulls_last(column, key.ascending))
            continue
        if key.entity == "metric":
            joined = latest_metrics.alias(f"order_{index}")
            rank = sa.case((joined.c.run_uuid.is_(None), 2), (joined.c.is_nan, 1), else_=0)
            value = joined.c.value
            ordering.extend([rank, value.asc() if key.ascending else value.desc()])
        else:
            joined = (params if key.entity == "param" else tags).alias(f"order_{index}")
            ordering.extend(nulls_last(joined.c.value, key.ascending))
        query = query.outerjoin(
            joined, sa.and_(joined.c.run_uuid == runs.c.run_uuid, text.equals(joined.c.key, key.key))
        )
    # MLflow's tie-breakers: newest first, then the id, so that pages never overlap.
    if not orders_by_start_time:
        ordering.extend(nulls_last(runs.c.start_time, ascending=False))
    ordering.append(runs.c.run_uuid.asc())
    return query, ordering
