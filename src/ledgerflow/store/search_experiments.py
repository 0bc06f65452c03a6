"""experiments/search as one SELECT of experiment ids, compiled from the parsed filter."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ledgerflow.errors import InvalidParameter
from ledgerflow.store import paging
from ledgerflow.store.schema import experiment_tags, experiments
from ledgerflow.tracking.search import EXPERIMENTS, Comparison, OrderKey, parse_filter, parse_order_by
from ledgerflow.tracking.search.nodes import EQ, IN, IS_NOT_NULL, IS_NULL, NE, NOT_IN
from ledgerflow.tracking.search.options import check_max_results, lifecycle_stages
from ledgerflow.tracking.search.sql import SqlText, compare_number, nulls_last

MAX_RESULTS_CAP = 50_000
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
DEFAULT_ORDER = ["creation_time DESC"]

_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": experiments.c.name,
    "experiment_id": experiments.c.experiment_id,
    "creation_time": experiments.c.creation_time,
    "last_update_time": experiments.c.last_update_time,
}


def search_experiment_ids(
    conn: Connection,
    *,
    filter_string: str,
    view_type: str,
    max_results: int,
    order_by: list[str],
    page_token: str | None,
    readable: Collection[int] | None = None,
) -> tuple[list[int], str | None]:
    """Experiment ids of one page and the next page's token (None when nothing is left).

    ``readable`` (None: no restriction) limits the search to those ids in SQL, so counts and
    page tokens never reflect experiments the caller may not read.

    The default order is creation_time DESC; experiment_id ASC always breaks ties.
    """
    comparisons = parse_filter(filter_string, EXPERIMENTS)
    order_keys = parse_order_by(order_by or DEFAULT_ORDER, EXPERIMENTS)
    stages = lifecycle_stages(view_type)
    check_max_results(max_results, MAX_RESULTS_CAP)
    offset = paging.decode(page_token)
    text = SqlText(conn.dialect.name)
    query = sa.select(experiments.c.experiment_id).where(experiments.c.lifecycle_stage.in_(stages))
    if readable is not None:
        query = query.where(experiments.c.experiment_id.in_(sorted(readable)))
    for comparison in comparisons:
        query = query.where(_condition(comparison, text))
    query = query.order_by(*_ordering(order_keys, text.dialect)).limit(max_results + 1).offset(offset)
    ids = [int(row[0]) for row in conn.execute(query)]
    return paging.page(ids, offset, max_results)


def _condition(comparison: Comparison, text: SqlText) -> ColumnElement[bool]:
    if comparison.entity == "tag":
        has_key = [
            experiment_tags.c.experiment_id == experiments.c.experiment_id,
            text.equals(experiment_tags.c.key, comparison.key),
        ]
        if comparison.op == IS_NULL:
            return sa.not_(sa.exists().where(*has_key))
        if comparison.op == IS_NOT_NULL:
            return sa.exists().where(*has_key)
        return sa.exists().where(
            *has_key, text.compare(experiment_tags.c.value, comparison.op, comparison.value)
        )
    column = _COLUMNS[comparison.key]
    if comparison.key == "experiment_id":
        return _id_condition(comparison)
    if isinstance(comparison.value, float):
        return compare_number(column, comparison.op, comparison.value)
    return text.compare(column, comparison.op, comparison.value)


def _id_condition(comparison: Comparison) -> ColumnElement[bool]:
    raw = comparison.value if isinstance(comparison.value, tuple) else (comparison.value,)
    ids: list[int] = []
    for item in raw:
        try:
            ids.append(int(str(item)))
        except ValueError:
            raise InvalidParameter(
                f"Invalid experiment_id {item!r} in filter: an experiment ID must be a valid integer"
            ) from None
    # An id the INTEGER column cannot hold matches no row (and must not reach the database).
    storable = [i for i in ids if INT32_MIN <= i <= INT32_MAX]
    column = experiments.c.experiment_id
    if comparison.op in (EQ, IN):
        return column.in_(storable) if storable else sa.false()
    assert comparison.op in (NE, NOT_IN)
    return column.not_in(storable) if storable else sa.true()


def _ordering(order_keys: Sequence[OrderKey], dialect: str) -> list[ColumnElement[Any]]:
    ordering: list[ColumnElement[Any]] = []
    for key in order_keys:
        assert key.entity == "attribute"  # the grammar makes only attributes orderable
        ordering.extend(nulls_last(_COLUMNS[key.key], key.ascending, dialect))
    ordering.append(experiments.c.experiment_id.asc())
    return ordering
