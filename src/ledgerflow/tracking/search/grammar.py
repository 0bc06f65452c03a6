"""How a search grammar is described: which entities, keys, comparators and value types.

A :class:`Grammar` is plain data, so adding a searchable resource means declaring its
entities (see ``entities.py``), not writing a parser. The parser asks the grammar three
questions: which entity does a prefix name, which field does a key name within it, and is
this comparator (with this kind of value) allowed on that field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ledgerflow.errors import InvalidParameter

# "string" needs a quoted value, "number" an unquoted number, "id" takes either (ids are
# numbers on the wire for some resources and quoted strings for others).
ValueKind = Literal["string", "number", "id"]


@dataclass(frozen=True)
class FieldSpec:
    name: str  # canonical name the compiler maps to a column
    kind: ValueKind
    ops: frozenset[str]
    orderable: bool = True


@dataclass(frozen=True)
class EntitySpec:
    """One entity type: either free keys (metrics, params, tags) or a fixed set of fields."""

    name: str  # canonical, e.g. "metric"
    aliases: tuple[str, ...]  # every spelling accepted before the dot
    any_key: FieldSpec | None = None
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)  # spelling -> field
    orderable: bool = True

    def resolve(self, key: str) -> FieldSpec:
        if self.any_key is not None:
            return self.any_key
        found = self.fields.get(key)
        if found is None:
            valid = sorted({spec.name for spec in self.fields.values()})
            raise InvalidParameter(f"Invalid {self.name} key '{key}' specified. Valid keys are {valid}.")
        return found

    def list_fields(self) -> list[str]:
        """Names of the fields that accept IN / NOT IN, for the error message."""
        return sorted({s.name for s in self.fields.values() if "IN" in s.ops})


@dataclass(frozen=True)
class Grammar:
    resource: str  # "runs", "experiments", ... (used in messages)
    entities: tuple[EntitySpec, ...]
    default_entity: str  # the entity an unprefixed key belongs to

    def entity(self, spelling: str) -> EntitySpec:
        for spec in self.entities:
            if spelling in spec.aliases:
                return spec
        valid = [alias for spec in self.entities for alias in spec.aliases]
        raise InvalidParameter(f"Invalid entity type '{spelling}'. Valid values are {valid}")

    def default(self) -> EntitySpec:
        return next(spec for spec in self.entities if spec.name == self.default_entity)
