"""Dialect-specific multi-row writes: insert-or-skip and insert-or-update.

Each helper takes many rows and sends them as one executemany, so a batch of a thousand
points is one round trip rather than a thousand, and conflicts are settled by the database
inside the statement instead of by a racy read-then-write.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from ledgerflow.store.database import driver_execute, driver_execute_many, note_changes


def insert_ignore(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, silently skipping any whose primary key already exists."""
    if rows:
        execute_many(conn, _insert_ignore(table, conn.dialect.name), rows)


def insert_ignore_rows(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """:func:`insert_ignore` for rows given as tuples in ``columns`` order (no dict per row)."""
    if rows:
        execute_rows(conn, _insert_ignore(table, conn.dialect.name), columns, rows)


def execute_many(conn: Connection, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Run a statement for many rows through the driver's executemany.

    SQLAlchemy's per-row parameter processing costs more than the database work on a
    thousand-point batch, so the statement is compiled once per dialect and column set and the
    rows go to the driver as plain tuples (or dicts, for named paramstyles). The rows must all
    have the same keys and hold values the driver takes as they are.
    """
    columns = tuple(rows[0])
    execute_rows(conn, stmt, columns, [tuple(row[name] for name in columns) for row in rows])


@dataclass(frozen=True)
class Prepared:
    """A statement compiled once for a dialect, and how to hand the driver one row of values.

    Rows come as tuples in ``columns`` order. Positional drivers (SQLite's ``?``, PyMySQL's
    ``%s``) get a tuple with ``picks[i]`` the index of the value for placeholder ``i`` in the
    row extended by ``constants`` (values the statement fixed when it was built), or the row
    itself when ``picks`` is None (its order already is the placeholders'). Named drivers
    (psycopg) get a dict.
    """

    sql: str
    columns: tuple[str, ...]
    named: bool
    picks: tuple[int, ...] | None
    constants: tuple[Any, ...]
    named_constants: dict[str, Any]
    _pick: Callable[[tuple[Any, ...]], Any] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The picks as one C call per row (a generator over them cost ~8 us a row, more than
        # SQLite's work for a one-row upsert). itemgetter of one index returns the bare value.
        getter: Callable[[tuple[Any, ...]], Any] | None = None
        if self.picks == ():
            getter = lambda _row: ()  # noqa: E731
        elif self.picks is not None:
            pick = operator.itemgetter(*self.picks)
            getter = pick if len(self.picks) > 1 else lambda row: (pick(row),)
        object.__setattr__(self, "_pick", getter)

    def params(self, values: Sequence[Any]) -> Any:
        if self.named:
            return {**self.named_constants, **dict(zip(self.columns, values, strict=True))}
        pick = self._pick
        if pick is None:
            return values
        return pick((*values, *self.constants))

    def many(self, rows: Sequence[Sequence[Any]]) -> Any:
        if self.named or self.picks is not None:
            return [self.params(row) for row in rows]
        return rows


@functools.cache
def prepared(stmt: Any, dialect: Any, columns: tuple[str, ...]) -> Prepared:
    """Compile ``stmt`` for ``dialect`` with its bind parameters fed from ``columns`` (for an
    INSERT or UPDATE the columns it sets; elsewhere the ``bindparam`` names). Binds the
    statement gave a value when it was built keep that value."""
    compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
    fixed = {
        name: compiled.binds[name].effective_value
        for name in compiled.binds
        if name not in columns and compiled.binds[name].callable is None
    }
    if not compiled.positional:
        return Prepared(str(compiled), columns, True, None, (), fixed)
    constant_names = tuple(fixed)
    slots = {name: index for index, name in enumerate((*columns, *constant_names))}
    picks = tuple(slots[name] for name in compiled.positiontup)
    identity = picks == tuple(range(len(columns)))
    return Prepared(str(compiled), columns, False, None if identity else picks, tuple(fixed.values()), {})


def execute_rows(
    conn: Connection, stmt: Any, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Run ``stmt`` for each row (a tuple in ``columns`` order) in one driver executemany."""
    statement = prepared(stmt, conn.dialect, columns)
    driver_execute_many(conn, statement.sql, statement.many(rows))
    note_changes(conn)


def execute_row(conn: Connection, stmt: Any, columns: tuple[str, ...], values: Sequence[Any]) -> int:
    """Run a data-changing ``stmt`` once with ``values`` (in ``columns`` order) on the driver;
    returns the rows it matched."""
    statement = prepared(stmt, conn.dialect, columns)
    cursor = driver_execute(conn, statement.sql, statement.params(values))
    try:
        count: int = cursor.rowcount
    finally:
        cursor.close()
    note_changes(conn)
    return count


def query_row(conn: Connection, stmt: Any, columns: tuple[str, ...], values: Sequence[Any]) -> Any:
    """Run a SELECT once on the driver; returns its first row as a plain tuple, or None."""
    statement = prepared(stmt, conn.dialect, columns)
    cursor = driver_execute(conn, statement.sql, statement.params(values))
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


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


def upsert_if_greater_rows(
    conn: Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    *,
    keys: Sequence[str],
    order: Sequence[str],
) -> None:
    """:func:`upsert_if_greater` for tuple rows in ``columns`` order; every column that is
    neither key nor order is replaced along with the order columns."""
    if rows:
        other = tuple(name for name in columns if name not in keys and name not in order)
        stmt = _upsert_if_greater(table, conn.dialect.name, tuple(keys), tuple(order), other)
        execute_rows(conn, stmt, columns, rows)


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
