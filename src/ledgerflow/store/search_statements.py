"""Registry search statements, built once per filter shape.

Building a search statement and computing SQLAlchemy's cache key for it took over half of a
small search (a ``name='m42'`` page of model versions: ~150 of ~410 us) although every request
with the same kind of filter runs the same SQL text. What decides that text is the filter's
shape: each comparison's entity, key, operator and value type and how many values it binds,
the order and whether the readable models are restricted. Each shape's statement is built once;
a later request builds only its comparison clauses, through the same dialect rules, and passes
their bound values, in traversal order, as the parameters of the statement already built.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, ColumnElement

Clause = ColumnElement[bool]
# Bound in every cached statement (they change from page to page, not with the shape).
LIMIT: BindParameter[int] = sa.bindparam("page_limit", type_=sa.Integer)
OFFSET: BindParameter[int] = sa.bindparam("page_offset", type_=sa.Integer)
READABLE: BindParameter[Any] = sa.bindparam("readable_ids", expanding=True)


def bound_values(clause: Clause) -> list[BindParameter[Any]]:
    return [element for element in visitors.iterate(clause) if isinstance(element, BindParameter)]


@dataclass(frozen=True)
class _Built:
    statement: sa.Select[Any]
    # Per comparison clause, the keys of its bound values in the built statement.
    keys: tuple[tuple[str, ...], ...]


class SearchStatements:
    """One service's cache of search statements. A registry sees a handful of filter shapes
    (the UI's and the clients' searches); a workload with hundreds of them only rebuilds."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._built: dict[Hashable, _Built] = {}

    def execute(
        self,
        conn: Connection,
        shape: Hashable,
        clauses: Sequence[Clause],
        build: Callable[[], sa.Select[Any]],
        *,
        limit: int,
        offset: int,
        readable: Collection[int] | None,
    ) -> CursorResult[Any]:
        """Run the statement of ``shape``; ``build`` makes it from ``clauses`` (as the query's
        conditions, with LIMIT, OFFSET and, when ``readable`` is given, READABLE bound)."""
        groups = [bound_values(clause) for clause in clauses]
        key = (shape, tuple(len(group) for group in groups))
        built = self._built.get(key)
        if built is None:
            if len(self._built) >= self.capacity:
                self._built.clear()
            built = _Built(build(), tuple(tuple(bind.key for bind in group) for group in groups))
            # A race builds the same statement twice; either copy serves.
            self._built[key] = built
        params: dict[str, Any] = {"page_limit": limit, "page_offset": offset}
        if readable is not None:
            params["readable_ids"] = sorted(readable)
        for keys, group in zip(built.keys, groups, strict=True):
            for name, bind in zip(keys, group, strict=True):
                params[name] = bind.effective_value
        return conn.execute(built.statement, params)
