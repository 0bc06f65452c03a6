"""The parsed form of filters and order_by clauses, independent of SQL.

A filter is a tuple of :class:`Comparison` joined by AND (the only connective MLflow's
grammar has). Entity names and keys are canonical here: ``params``/``parameter`` become
``param``, attribute aliases such as ``created`` become the field they stand for.
"""

from __future__ import annotations

from dataclasses import dataclass

# Canonical comparator spellings.
EQ, NE, LT, LE, GT, GE = "=", "!=", "<", "<=", ">", ">="
LIKE, ILIKE = "LIKE", "ILIKE"
IN, NOT_IN = "IN", "NOT IN"
IS_NULL, IS_NOT_NULL = "IS NULL", "IS NOT NULL"

NUMERIC_OPS = frozenset({EQ, NE, LT, LE, GT, GE})
STRING_OPS = frozenset({EQ, NE, LIKE, ILIKE})
LIST_OPS = frozenset({IN, NOT_IN})
NULL_OPS = frozenset({IS_NULL, IS_NOT_NULL})

Value = str | float | tuple[str, ...] | None


@dataclass(frozen=True)
class Comparison:
    """``<entity>.<key> <op> <value>``.

    ``value`` is a float for numeric fields, a str for string fields, a tuple of str for
    IN / NOT IN and None for IS NULL / IS NOT NULL.
    """

    entity: str
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class OrderKey:
    """One order_by clause: ``<entity>.<key> [ASC|DESC]``."""

    entity: str
    key: str
    ascending: bool = True
