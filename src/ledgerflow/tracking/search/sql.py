"""AST comparisons to SQLAlchemy Core expressions, the same meaning on every backend.

The rules MLflow's users rely on (BC-08): ``=``, ``!=``, ``IN`` and ``LIKE`` are
case-sensitive, ``ILIKE`` is not, and keys are case-sensitive. Each backend needs its own
spelling for that:

* SQLite compares with BINARY collation (case-sensitive) but its LIKE ignores ASCII case,
  so LIKE becomes GLOB.
* PostgreSQL is case-sensitive already and has ILIKE.
* MySQL/MariaDB compare with the column's collation, which is case-insensitive (and pads
  trailing spaces) by default. A production database need not use our binary collation,
  so equality compares ``CAST(... AS BINARY)`` (the plain comparison is kept beside it so
  an index still narrows the rows) and LIKE forces ``COLLATE utf8mb4_bin`` on the pattern
  (the engine always talks utf8mb4).

LIKE patterns use ``%`` and ``_`` with ``\\`` as escape on every backend; they are parsed
here and re-rendered, so a stray trailing backslash cannot make PostgreSQL fail.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ledgerflow.tracking.search.nodes import EQ, GE, GT, ILIKE, IN, LE, LIKE, LT, NE, NOT_IN

_LARGEST = 1.7976931348623157e308
_SQL_ESCAPE = "!"

# A parsed LIKE pattern: ("%", ""), ("_", "") or ("lit", character).
Piece = tuple[str, str]


def parse_like(pattern: str) -> list[Piece]:
    pieces: list[Piece] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            pieces.append(("lit", pattern[index + 1]))
            index += 2
            continue
        if char in ("%", "_"):
            pieces.append((char, ""))
        else:
            pieces.append(("lit", char))
        index += 1
    return pieces


def render_like(pieces: list[Piece]) -> str:
    out = []
    for kind, char in pieces:
        if kind != "lit":
            out.append(kind)
        elif char in ("%", "_", _SQL_ESCAPE):
            out.append(_SQL_ESCAPE + char)
        else:
            out.append(char)
    return "".join(out)


def render_glob(pieces: list[Piece]) -> str:
    glob_special = {"*": "[*]", "?": "[?]", "[": "[[]"}
    out = []
    for kind, char in pieces:
        if kind == "%":
            out.append("*")
        elif kind == "_":
            out.append("?")
        else:
            out.append(glob_special.get(char, char))
    return "".join(out)


class SqlText:
    """Case-exact string comparisons for one SQL dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def _binary(self, value: Any) -> ColumnElement[Any]:
        return sa.cast(value, sa.LargeBinary)

    def equals(self, column: ColumnElement[Any], value: str) -> ColumnElement[bool]:
        if self.dialect == "mysql":
            return sa.and_(column == value, self._binary(column) == self._binary(sa.literal(value)))
        return column == value

    def not_equals(self, column: ColumnElement[Any], value: str) -> ColumnElement[bool]:
        if self.dialect == "mysql":
            return self._binary(column) != self._binary(sa.literal(value))
        return column != value

    def one_of(self, column: ColumnElement[Any], values: tuple[str, ...]) -> ColumnElement[bool]:
        if not values:
            return sa.false()
        if self.dialect == "mysql":
            exact = [self._binary(sa.literal(v)) for v in values]
            return sa.and_(column.in_(values), self._binary(column).in_(exact))
        return column.in_(values)

    def like(self, column: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
        pieces = parse_like(pattern)
        if self.dialect == "sqlite":
            return column.op("GLOB")(render_glob(pieces))
        rendered = render_like(pieces)
        if self.dialect == "mysql":
            return column.like(sa.collate(sa.literal(rendered), "utf8mb4_bin"), escape=_SQL_ESCAPE)
        return column.like(rendered, escape=_SQL_ESCAPE)

    def ilike(self, column: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
        # SQLAlchemy spells ILIKE as lower(x) LIKE lower(y) where the backend lacks it.
        return column.ilike(render_like(parse_like(pattern)), escape=_SQL_ESCAPE)

    def compare(self, column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
        """A string comparison from the AST (``value`` is a str, or a tuple for lists)."""
        if op == EQ:
            return self.equals(column, value)
        if op == NE:
            return self.not_equals(column, value)
        if op == LIKE:
            return self.like(column, value)
        if op == ILIKE:
            return self.ilike(column, value)
        if op == IN:
            return self.one_of(column, value)
        if op == NOT_IN:
            return sa.not_(self.one_of(column, value))
        raise AssertionError(f"not a string comparator: {op}")


def number_literal(value: float) -> float | int:
    """Clamp infinities as stored metrics are clamped; keep integers exact for int columns."""
    if math.isinf(value):
        return math.copysign(_LARGEST, value)
    if value.is_integer() and abs(value) < 2**62:
        return int(value)
    return value


def compare_number(column: ColumnElement[Any], op: str, value: float) -> ColumnElement[bool]:
    literal = number_literal(value)
    if op == EQ:
        return column == literal
    if op == NE:
        return column != literal
    if op == LT:
        return column < literal
    if op == LE:
        return column <= literal
    if op == GT:
        return column > literal
    if op == GE:
        return column >= literal
    raise AssertionError(f"not a numeric comparator: {op}")


def nulls_last(column: ColumnElement[Any], ascending: bool, dialect: str) -> list[ColumnElement[Any]]:
    """ORDER BY terms that put NULLs after every value in either direction, on every backend.

    SQLite and MySQL already sort NULLs last when descending; leaving that term plain lets
    them read an index in order and stop at the LIMIT.
    """
    if not ascending and dialect != "postgresql":
        return [column.desc()]
    if dialect == "mysql":
        return [sa.case((column.is_(None), 1), else_=0), column.asc()]
    return [column.asc().nulls_last() if ascending else column.desc().nulls_last()]
