"""registered-models/search and model-versions/search, compiled from the shared grammar.

Unlike runs, a registry tag comparison ``tags.k != 'v'`` also matches an entity without the
tag: it means "not tagged k='v'", which MLflow's client relies on to hide prompts from
``search_registered_models()``.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Hashable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ledgerflow.errors import InvalidParameter
from ledgerflow.store import paging
from ledgerflow.store import registry as model_store
from ledgerflow.store import registry_versions as versions
from ledgerflow.store.schema import (
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)
from ledgerflow.store.search_statements import LIMIT, OFFSET, READABLE, SearchStatements
from ledgerflow.tracking.search import (
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    Comparison,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from ledgerflow.tracking.search.nodes import NE
from ledgerflow.tracking.search.options import check_max_results
from ledgerflow.tracking.search.sql import SqlText, compare_number

PROMPT_TAG = "mlflow.prompt.is_prompt"
MODELS_MAX_RESULTS_CAP = 1000
VERSIONS_DEFAULT_ORDER = ["last_updated_timestamp DESC"]
VERSIONS_MAX_RESULTS_CAP = 200_000
# Pages up to this size load tags and aliases by an IN list of their keys; larger ones by a
# join against the page's own query (an IN list of thousands of pairs compiles slowly).
KEYED_PAGE_LIMIT = 500

_MODEL_COLUMNS: dict[str, ColumnElement[Any]] = {
    "name": registered_models.c.name,
    "creation_timestamp": registered_models.c.creation_time,
    "last_updated_timestamp": registered_models.c.last_updated_time,
}
_VERSION_COLUMNS: dict[str, ColumnElement[Any]] = {
    "name": registered_models.c.name,
    "run_id": model_versions.c.run_id,
    "source_path": model_versions.c.source,
    "version_number": model_versions.c.version,
    "creation_timestamp": model_versions.c.creation_time,
    "last_updated_timestamp": model_versions.c.last_updated_time,
}


def _tag_condition(
    comparison: Comparison, text: SqlText, table: sa.Table, owner: Sequence[ColumnElement[bool]]
) -> ColumnElement[bool]:
    has_key = [*owner, text.equals(table.c.key, comparison.key)]
    if comparison.op == NE:
        return sa.not_(sa.exists().where(*has_key, text.equals(table.c.value, str(comparison.value))))
    return sa.exists().where(*has_key, text.compare(table.c.value, comparison.op, comparison.value))


def _attribute_condition(
    comparison: Comparison, text: SqlText, columns: dict[str, ColumnElement[Any]]
) -> ColumnElement[bool]:
    column = columns[comparison.key]
    if isinstance(comparison.value, float):
        return compare_number(column, comparison.op, comparison.value)
    return text.compare(column, comparison.op, comparison.value)


def _prompt_exclusion(
    comparisons: Sequence[Comparison], dialect: str, owner: str
) -> ColumnElement[bool] | None:
    """Prompts are registered models tagged ``mlflow.prompt.is_prompt='true'``; searches
    leave them out unless the filter names that tag itself, as MLflow 3's do."""
    if any(c.entity == "tag" and c.key == PROMPT_TAG for c in comparisons):
        return None
    return _not_a_prompt(dialect, owner)


@functools.cache
def _not_a_prompt(dialect: str, owner: str) -> ColumnElement[bool]:
    """The prompt exclusion for models (``owner="models"``) or versions, built once per
    dialect: SQLAlchemy statements are immutable, and building this subquery per search was
    a fifth of a small search's time."""
    text = SqlText(dialect)
    owner_id = (registered_models if owner == "models" else model_versions).c.registered_model_id
    tag = registered_model_tags.c
    return sa.not_(
        sa.exists().where(
            tag.registered_model_id == owner_id,
            text.equals(tag.key, PROMPT_TAG),
            text.equals(tag.value, "true"),
        )
    )


def _ordering(
    keys: Sequence[OrderKey], columns: dict[str, ColumnElement[Any]], tie_breaks: Sequence[tuple[str, bool]]
) -> list[ColumnElement[Any]]:
    ordering: list[ColumnElement[Any]] = []
    seen: set[str] = set()
    for key in keys:
        if key.key in seen:
            raise InvalidParameter(f"`order_by` contains duplicate fields: {[k.key for k in keys]}")
        seen.add(key.key)
        column = columns[key.key]
        ordering.append(column.asc() if key.ascending else column.desc())
    for name, ascending in tie_breaks:
        if name not in seen:
            ordering.append(columns[name].asc() if ascending else columns[name].desc())
    return ordering


def _conditions(
    comparisons: Sequence[Comparison],
    text: SqlText,
    tags: sa.Table,
    owner: Sequence[ColumnElement[bool]],
    columns: dict[str, ColumnElement[Any]],
) -> list[ColumnElement[bool]]:
    return [
        _tag_condition(c, text, tags, owner) if c.entity == "tag" else _attribute_condition(c, text, columns)
        for c in comparisons
    ]


def _shape(comparisons: Sequence[Comparison], order_keys: Sequence[OrderKey], *rest: Any) -> Hashable:
    """What decides a search's SQL besides the bound values (see search_statements)."""
    return (
        tuple((c.entity, c.key, c.op, type(c.value).__name__) for c in comparisons),
        tuple((k.key, k.ascending) for k in order_keys),
        *rest,
    )


def search_registered_model_ids(
    conn: Connection,
    *,
    filter_string: str,
    max_results: int,
    order_by: list[str],
    page_token: str | None,
    readable: Collection[int] | None = None,
    statements: SearchStatements | None = None,
) -> tuple[list[int], str | None]:
    """Model ids of one page (default order name ASC; name always breaks ties)."""
    comparisons = parse_filter(filter_string, REGISTERED_MODELS)
    order_keys = parse_order_by(order_by, REGISTERED_MODELS)
    check_max_results(max_results, MODELS_MAX_RESULTS_CAP)
    offset = paging.decode(page_token)
    dialect = conn.dialect.name
    owner = [registered_model_tags.c.registered_model_id == registered_models.c.registered_model_id]
    conditions = _conditions(comparisons, SqlText(dialect), registered_model_tags, owner, _MODEL_COLUMNS)
    exclusion = _prompt_exclusion(comparisons, dialect, "models")
    ordering = _ordering(order_keys, _MODEL_COLUMNS, [("name", True)])

    def build(readable_ids: Any = READABLE) -> sa.Select[Any]:
        query = sa.select(registered_models.c.registered_model_id).where(*conditions)
        if readable is not None:
            query = query.where(registered_models.c.registered_model_id.in_(readable_ids))
        if exclusion is not None:
            query = query.where(exclusion)
        return query.order_by(*ordering)

    if statements is None:
        query = build(sorted(readable or ())).limit(max_results + 1).offset(offset)
        found = conn.execute(query).scalars()
    else:
        shape = ("models", _shape(comparisons, order_keys, readable is None, exclusion is None))
        found = statements.execute(
            conn,
            shape,
            conditions,
            lambda: build().limit(LIMIT).offset(OFFSET),
            limit=max_results + 1,
            offset=offset,
            readable=readable,
        ).scalars()
    return paging.page([int(i) for i in found], offset, max_results)


def search_registered_models(
    conn: Connection,
    *,
    filter_string: str,
    max_results: int,
    order_by: list[str],
    page_token: str | None,
    readable: Collection[int] | None = None,
    statements: SearchStatements | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of registered models in wire shape (see :func:`search_registered_model_ids`)."""
    ids, token = search_registered_model_ids(
        conn,
        filter_string=filter_string,
        max_results=max_results,
        order_by=order_by,
        page_token=page_token,
        readable=readable,
        statements=statements,
    )
    return model_store.load(conn, ids), token


def search_model_versions(
    conn: Connection,
    *,
    filter_string: str,
    max_results: int,
    order_by: list[str],
    page_token: str | None,
    readable: Collection[int] | None = None,
    statements: SearchStatements | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of versions in wire shape. The default order is MLflow's
    (last_updated_timestamp DESC, name ASC, version DESC); name and version break ties under
    any order_by, so pages never overlap."""
    comparisons = parse_filter(filter_string, MODEL_VERSIONS)
    order_keys = parse_order_by(order_by or VERSIONS_DEFAULT_ORDER, MODEL_VERSIONS)
    check_max_results(max_results, VERSIONS_MAX_RESULTS_CAP)
    offset = paging.decode(page_token)
    dialect = conn.dialect.name
    owner = [
        model_version_tags.c.registered_model_id == model_versions.c.registered_model_id,
        model_version_tags.c.version == model_versions.c.version,
    ]
    conditions = _conditions(comparisons, SqlText(dialect), model_version_tags, owner, _VERSION_COLUMNS)
    # A prompt version is one whose model is a prompt.
    exclusion = _prompt_exclusion(comparisons, dialect, "versions")
    ordering = _ordering(order_keys, _VERSION_COLUMNS, [("name", True), ("version_number", False)])

    def build(readable_ids: Any = READABLE) -> sa.Select[Any]:
        query = versions.select_versions().where(*conditions)
        if readable is not None:
            query = query.where(model_versions.c.registered_model_id.in_(readable_ids))
        if exclusion is not None:
            query = query.where(exclusion)
        return query.order_by(*ordering)

    if statements is not None and max_results <= KEYED_PAGE_LIMIT:
        shape = ("versions", _shape(comparisons, order_keys, readable is None, exclusion is None))
        rows = list(
            statements.execute(
                conn,
                shape,
                conditions,
                lambda: build().limit(LIMIT).offset(OFFSET),
                limit=max_results + 1,
                offset=offset,
                readable=readable,
            )
        )
        page, token = paging.page(rows, offset, max_results)
        # A small page loads its tags and aliases by key (a primary-key walk); building and
        # running the search again as a subquery cost more than the search itself.
        return versions.render(conn, page), token
    query = build(sorted(readable or ()))
    rows = list(conn.execute(query.limit(max_results + 1).offset(offset)))
    page, token = paging.page(rows, offset, max_results)
    if not page:
        return [], token
    if len(page) <= KEYED_PAGE_LIMIT:
        return versions.render(conn, page), token
    # The page's keys, as the query that found them: tags and aliases are joined to it.
    keys = (
        query.with_only_columns(model_versions.c.registered_model_id, model_versions.c.version)
        .limit(max_results)
        .offset(offset)
        .subquery()
    )
    return versions.render(conn, page, page=keys), token
