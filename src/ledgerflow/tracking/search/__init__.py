"""MLflow's search grammar: filter strings and order_by clauses, parsed into an AST.

The pipeline is ``lexer`` (text to tokens), ``parser`` (tokens to :mod:`nodes`, checked
against a per-resource :class:`~ledgerflow.tracking.search.grammar.Grammar` from
:mod:`entities`) and ``sql`` (nodes to SQLAlchemy Core expressions). No SQL is ever built
from the filter's text. Every rejection is an InvalidParameter (HTTP 400).
"""

from __future__ import annotations

from ledgerflow.tracking.search.entities import (
    EXPERIMENTS,
    LOGGED_MODELS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    RUNS,
)
from ledgerflow.tracking.search.grammar import EntitySpec, FieldSpec, Grammar
from ledgerflow.tracking.search.nodes import Comparison, OrderKey
from ledgerflow.tracking.search.parser import parse_field_name, parse_filter, parse_order_by

__all__ = [
    "EXPERIMENTS",
    "LOGGED_MODELS",
    "MODEL_VERSIONS",
    "REGISTERED_MODELS",
    "RUNS",
    "Comparison",
    "EntitySpec",
    "FieldSpec",
    "Grammar",
    "OrderKey",
    "parse_field_name",
    "parse_filter",
    "parse_order_by",
]
