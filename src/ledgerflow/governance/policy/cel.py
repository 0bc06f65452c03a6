"""The CEL escape hatch: a custom condition over the gate's inputs, evaluated safely.

cel-python never calls Python ``eval`` and CEL has no loops, but a user-supplied expression is
still checked before it is accepted: it may name only the variables the gate provides (plus the
ones a comprehension macro binds), call only a small allow-list of CEL's standard functions
(``matches`` is left out: a regular expression from a policy could cost a lot on a long string),
and it must stay under a size limit (characters) and a cost limit (parse-tree nodes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MAX_EXPRESSION_CHARS = 1000
MAX_EXPRESSION_NODES = 400
VARIABLES = (
    "metrics",
    "fairness",
    "robustness",
    "scan",
    "signature",
    "sbom",
    "secrets",
    "champion",
    "subject",
)
ALLOWED_FUNCTIONS = frozenset(
    {"size", "has", "contains", "startsWith", "endsWith", "exists", "all", "exists_one", "map", "filter"}
    | {"int", "uint", "double", "string", "bool"}
)
_MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})


class ExpressionRefused(ValueError):
    """The expression is not acceptable in a policy (the message says why)."""


@dataclass(frozen=True)
class CompiledExpression:
    text: str
    program: Any


def _children(tree: Any) -> list[Any]:
    return [child for child in getattr(tree, "children", []) if hasattr(child, "data")]


def _tokens(tree: Any) -> list[str]:
    return [str(child) for child in getattr(tree, "children", []) if not hasattr(child, "data")]


def _walk(tree: Any) -> Iterator[Any]:
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(_children(node))


def _bound_names(tree: Any) -> set[str]:
    """Variables bound by comprehension macros (``x`` in ``list.exists(x, x > 1)``)."""
    bound: set[str] = set()
    for node in _walk(tree):
        if node.data == "member_dot_arg" and any(t in _MACROS for t in _tokens(node)):
            for exprlist in (c for c in _children(node) if c.data == "exprlist"):
                first = _children(exprlist)[0] if _children(exprlist) else None
                idents = [n for n in _walk(first) if n.data == "ident"] if first is not None else []
                if len(idents) == 1:
                    bound.update(_tokens(idents[0]))
    return bound


def compile_expression(text: str) -> CompiledExpression:
    """Check and compile ``text``; :class:`ExpressionRefused` says what is wrong."""
    import celpy
    from celpy.celparser import CELParseError

    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionRefused(
            f"the expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_CHARS}"
        )
    environment = celpy.Environment()
    try:
        tree = environment.compile(text)
    except CELParseError as error:
        raise ExpressionRefused(f"not a valid CEL expression: {' '.join(str(error).split())[:300]}") from None
    except RecursionError:
        raise ExpressionRefused("the expression is nested too deeply") from None
    nodes = sum(1 for _ in _walk(tree))
    if nodes > MAX_EXPRESSION_NODES:
        raise ExpressionRefused(f"the expression costs {nodes} nodes; the limit is {MAX_EXPRESSION_NODES}")
    allowed_names = set(VARIABLES) | _bound_names(tree)
    for node in _walk(tree):
        if node.data == "ident":
            for name in _tokens(node):
                if name not in allowed_names:
                    raise ExpressionRefused(
                        f"unknown variable '{name}'; an expression may use only {', '.join(VARIABLES)}"
                    )
        elif node.data in ("ident_arg", "member_dot_arg"):
            names = _tokens(node)
            function = names[0] if node.data == "ident_arg" else (names[0] if names else "")
            if function not in ALLOWED_FUNCTIONS:
                raise ExpressionRefused(
                    f"function '{function}' is not allowed; allowed: {', '.join(sorted(ALLOWED_FUNCTIONS))}"
                )
        elif node.data in ("dot_ident", "dot_ident_arg"):
            raise ExpressionRefused("leading-dot (package) names are not allowed")
    return CompiledExpression(text, environment.program(tree))


def evaluate_expression(compiled: CompiledExpression, variables: Mapping[str, Any]) -> Any:
    """The expression's value; raises ``ValueError`` when it cannot be evaluated (a missing
    key, a type mismatch): the rule is then an ``error``."""
    from celpy.adapter import json_to_cel
    from celpy.evaluation import CELEvalError

    activation = {name: json_to_cel(_plain(variables.get(name))) for name in VARIABLES}
    try:
        value = compiled.program.evaluate(activation)
    except CELEvalError as error:
        raise ValueError(_eval_message(error)) from None
    if isinstance(value, CELEvalError):
        raise ValueError(_eval_message(value))
    from celpy.celtypes import BoolType

    # CEL's booleans are their own type (not Python's bool): hand back a plain bool.
    return bool(value) if isinstance(value, BoolType) else value


def _eval_message(error: Any) -> str:
    args: tuple[Any, ...] = tuple(getattr(error, "args", ()))
    first = str(args[0]) if args else str(error)
    detail = ""
    if len(args) > 2 and args[2]:
        detail = ": " + ", ".join(str(item) for item in args[2])[:200]
    return (first + detail)[:300]


def _plain(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
