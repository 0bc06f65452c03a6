"""Dialect-specific multi-row writes: insert-or-skip and insert-or-update.

Each helper takes many rows and sends them as one executemany, so a batch of a thousand
points is one round trip rather than a thousand, and conflicts are settled by the database
inside the statement instead of by a racy read-then-write.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_ignore(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, silently skipping any whose primary key already exists."""
    if rows:
        execute_many(conn, _insert_ignore(table, conn.dialect.name), rows)


def execute_many(conn: Connection, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Run a statement for many rows through the driver's executemany.

    SQLAlchemy's per-row parameter processing costs more than the database work on a
    thousand-point batch, so the statement is compiled once per dialect and column set and the
    rows go to the driver as plain tuples (or dicts, for named paramstyles). The rows must all
    have the same keys and hold values the driver takes as they are.
    """
    columns = tuple(rows[0])
    sql, order = _compiled(stmt, conn.dialect, columns)
    if order is None:
        conn.exec_driver_sql(sql, [dict(row) for row in rows])
    else:
        conn.exec_driver_sql(sql, [tuple(row[name] for name in order) for row in rows])


@functools.cache
def _compiled(stmt: Any, dialect: Any, columns: tuple[str, ...]) -> tuple[str, tuple[str, ...] | None]:
    compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
    if compiled.positional:
        return str(compiled), tuple(compiled.positiontup)
    return str(compiled), None


# The builders below are pure and their statements immutable, so they are memoised: building
# an ON CONFLICT statement costs more than executing it on a hot single-point write.
@functools.cache
def _insert_ignore(table: sa.Table, dialect: str) -> Any:
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    elif dialect == "mysql":
        stmt = sa.insert(table).prefix_with("IGNORE")
    else:
        raise NotImplementedError(dialect)
    return stmt


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows; where the key exists, overwrite the ``update`` columns (last write wins).

    Rows must be unique by key: PostgreSQL refuses to update one row twice in a statement.
    """
    if rows:
        conn.execute(_upsert(table, conn.dialect.name, tuple(keys), tuple(update)), list(rows))


@functools.cache
def _upsert(table: sa.Table, dialect: str, keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    stmt: Any
    if dialect in ("postgresql", "sqlite"):
        base = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        stmt = base.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={name: base.excluded[name] for name in update},
        )
    elif dialect == "mysql":
        my_base = mysql.insert(table)
        stmt = my_base.on_duplicate_key_update({name: my_base.inserted[name] for name in update})
    else:
        raise NotImplementedError(dialect)
    return stmt


def upsert_if_greater(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    order: Sequence[str],
    other: Sequence[str],
) -> None:
    """Insert rows; where the key exists, replace the row only if the new row's ``order``
    tuple compares greater than the stored one.

    This keeps "max by (step, timestamp, value)" correct under concurrent writers without
    reading the current row first. Rows must be unique by key.
    """
    if rows:
        stmt = _upsert_if_greater(table, conn.dialect.name, tuple(keys), tuple(order), tuple(other))
        conn.execute(stmt, list(rows))


@functools.cache
def _upsert_if_greater(
    table: sa.Table, dialect: str, keys: tuple[str, ...], order: tuple[str, ...], other: tuple[str, ...]
) -> Any:
    stored = sa.tuple_(*(table.c[name] for name in order))
    stmt: Any
    if dialect in ("postgresql", "sqlite"):
        base = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        newer = sa.tuple_(*(base.excluded[name] for name in order)) > stored
        stmt = base.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={name: base.excluded[name] for name in (*other, *order)},
            where=newer,
        )
    elif dialect == "mysql":
        my_base = mysql.insert(table)
        my_newer = sa.tuple_(*(my_base.inserted[name] for name in order)) > stored
        # MySQL applies assignments left to right and later ones see earlier results, so the
        # non-ordering columns go first and the ordering columns from least to most significant:
        # each assignment then still sees the comparison it needs unchanged or already settled.
        assignments = [
            (name, sa.case((my_newer, my_base.inserted[name]), else_=table.c[name]))
            for name in (*other, *reversed(order))
        ]
        stmt = my_base.on_duplicate_key_update(assignments)
    else:
        raise NotImplementedError(dialect)
    return stmt
