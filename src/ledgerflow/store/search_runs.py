"""runs/search as a SELECT of run ids: filters become EXISTS subqueries on the indexed
child tables, order keys become JOINs on (run_uuid, key), and the page is a LIMIT/OFFSET.
Run contents are loaded by the caller for the ids of one page only.

Ordering by a metric first is split into (at most three) slices, one SELECT each, so the
common "best runs by metric" page reads the metric index in order and stops early.
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
    # Ids beyond the INTEGER column's range name no experiment and must not reach the database.
    experiment_ids = [i for i in experiment_ids if -(2**31) <= i < 2**31]
    if not experiment_ids:
        return [], None
    text = SqlText(conn.dialect.name)
    base = sa.select(runs.c.run_uuid).where(
        runs.c.experiment_id.in_(experiment_ids), runs.c.lifecycle_stage.in_(stages)
    )
    if order_keys and order_keys[0].entity == "metric":
        first = order_keys[0]
        on_key = [c for c in comparisons if c.entity == "metric" and c.key == first.key]
        others = [c for c in comparisons if c not in on_key]
        segments = _metric_segments(base.where(*run_conditions(others, text)), first, on_key, text)
        rest = order_keys[1:]
    else:
        segments, rest = [(base.where(*run_conditions(comparisons, text)), [])], list(order_keys)
    slices = []
    for query, leading in segments:
        query, ordering = _order_terms(query, rest, text, first_alias=1)
        slices.append(query.order_by(*leading, *ordering))
    ids = _fetch(conn, slices, offset, max_results + 1)
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


def _number(comparison: Comparison) -> float:
    assert isinstance(comparison.value, float)  # the grammar gives metrics numeric values
    return comparison.value


def _metric_condition(comparison: Comparison, text: SqlText) -> ColumnElement[bool]:
    value_test = compare_number(latest_metrics.c.value, comparison.op, _number(comparison))
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


def _metric_segments(
    base: sa.Select[Any], key: OrderKey, filters_on_key: Sequence[Comparison], text: SqlText
) -> list[tuple[sa.Select[Any], list[ColumnElement[Any]]]]:
    """The runs in the order of their first metric key, as up to three consecutive slices.

    Real values come first, then NaN, then runs without the metric (BC-05), whatever the
    direction. Querying the slices one after the other instead of sorting on a rank lets the
    first slice walk the (key, value) index in order and stop at the LIMIT. Filters on the
    same metric apply to the joined row itself, which keeps that index usable for them too.
    """
    joined = latest_metrics.alias("order_0")
    on = sa.and_(joined.c.run_uuid == runs.c.run_uuid, text.equals(joined.c.key, key.key))
    value: ColumnElement[Any] = joined.c.value.asc() if key.ascending else joined.c.value.desc()
    on_value = [compare_number(joined.c.value, c.op, _number(c)) for c in filters_on_key]
    segments: list[tuple[sa.Select[Any], list[ColumnElement[Any]]]] = [
        (base.join(joined, on).where(sa.not_(joined.c.is_nan), *on_value), [value])
    ]
    # A filter on the same metric already excludes the runs without it, and NaN unless it is !=.
    if all(c.op == NE for c in filters_on_key):
        segments.append((base.join(joined, on).where(joined.c.is_nan), []))
    if not filters_on_key:
        missing = sa.exists().where(
            latest_metrics.c.run_uuid == runs.c.run_uuid, text.equals(latest_metrics.c.key, key.key)
        )
        segments.append((base.where(sa.not_(missing)), []))
    return segments


def _order_terms(
    query: sa.Select[Any], order_keys: Sequence[OrderKey], text: SqlText, first_alias: int
) -> tuple[sa.Select[Any], list[ColumnElement[Any]]]:
    dialect = text.dialect
    ordering: list[ColumnElement[Any]] = []
    for index, key in enumerate(order_keys, start=first_alias):
        if key.entity == "attribute":
            ordering.extend(nulls_last(_ATTRIBUTE_COLUMNS[key.key], key.ascending, dialect))
            continue
        if key.entity == "metric":
            joined = latest_metrics.alias(f"order_{index}")
            rank = sa.case((joined.c.run_uuid.is_(None), 2), (joined.c.is_nan, 1), else_=0)
            value = joined.c.value
            ordering.extend([rank, value.asc() if key.ascending else value.desc()])
        else:
            joined = (params if key.entity == "param" else tags).alias(f"order_{index}")
            ordering.extend(nulls_last(joined.c.value, key.ascending, dialect))
        query = query.outerjoin(
            joined, sa.and_(joined.c.run_uuid == runs.c.run_uuid, text.equals(joined.c.key, key.key))
        )
    # MLflow's tie-breakers: newest first, then the id, so that pages never overlap.
    if not any(k.entity == "attribute" and k.key == "start_time" for k in order_keys):
        ordering.extend(nulls_last(runs.c.start_time, False, dialect))
    ordering.append(runs.c.run_uuid.asc())
    return query, ordering


def _fetch(conn: Connection, slices: Sequence[sa.Select[Any]], offset: int, count: int) -> list[str]:
    """``count`` ids from ``offset`` of the concatenation of ordered slices."""
    found: list[str] = []
    skip = offset
    for query in slices:
        rows = [row[0] for row in conn.execute(query.limit(count - len(found)).offset(skip))]
        if rows:
            skip = 0
            found.extend(rows)
            if len(found) == count:
                break
        elif skip:
            # The whole slice lies before the page: count it to know how much is left to skip.
            size = conn.execute(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
            skip -= int(size.scalar_one())
    return found
