"""The short way from a ``dataframe_split`` body to the float64 matrix a model computes on.

For a signature of named ``double`` columns, the usual request is ``{"dataframe_split":
{"columns": [...], "data": [[floats]]}}``. The general path builds a DataFrame, casts it to
the signature, enforces the schema (reorder, dtype checks) and lets the model turn it into
an array again: ~0.3 ms of pandas per request before any arithmetic. :meth:`Matrix.build`
takes only bodies on which every one of those steps is an identity or a reordering: exactly
the signature's columns (any order, no duplicates), every row a list of that many JSON
floats, no other keys (no ``index``, no ``params``). Anything else returns None and goes the
general way, so accepted input, results and every error message stay those of the general
path. JSON integers and booleans are not floats here: the general path casts or refuses
them column by column.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from ledgerflow.models.signature import ColSpec, Schema

# The nesting of an accepted body: object, dataframe_split object, data list, row list.
DEPTH = 4


class Matrix:
    """Builds the signature-ordered float64 matrix of a request, or None."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self.width = len(names)
        self._position = {name: index for index, name in enumerate(names)}

    @classmethod
    def for_schema(cls, schema: Schema | None) -> Matrix | None:
        """A builder when *schema* is named double columns, all required; else None."""
        if schema is None or schema.is_tensor or not schema.has_names or not schema.inputs:
            return None
        specs = schema.inputs
        if not all(
            isinstance(s, ColSpec) and s.type == "double" and s.raw is None and s.required and s.name
            for s in specs
        ):
            return None
        names = [str(s.name) for s in specs]
        return cls(names) if len(set(names)) == len(names) else None

    def build(self, decoded: Any) -> Any:
        """The matrix of a decoded JSON body in signature column order, or None."""
        import numpy as np

        if type(decoded) is not dict or len(decoded) != 1:
            return None
        split = decoded.get("dataframe_split")
        if type(split) is not dict or len(split) != 2:
            return None
        columns, rows = split.get("columns"), split.get("data")
        if type(columns) is not list or type(rows) is not list or not rows or len(columns) != self.width:
            return None
        inverse = None
        if columns != self.names:
            try:
                order = [self._position[name] for name in columns]
            except (KeyError, TypeError):  # an unknown or unhashable column name
                return None
            if len(set(order)) != self.width:
                return None
            inverse = [0] * self.width
            for given, wanted in enumerate(order):
                inverse[wanted] = given
        if set(map(type, rows)) != {list} or set(map(len, rows)) != {self.width}:
            return None
        if set(map(type, chain.from_iterable(rows))) != {float}:
            return None
        flat = np.fromiter(chain.from_iterable(rows), np.float64, count=len(rows) * self.width)
        matrix = flat.reshape(len(rows), self.width)
        # Column-major, as pandas lays out a one-block float frame and so as the model would
        # have received it: the same memory order keeps BLAS results bit for bit the same.
        if inverse is None:
            return np.asfortranarray(matrix)
        return matrix.T[inverse].T
