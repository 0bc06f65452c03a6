"""Tokens to AST: a recursive-descent parser for filters and order_by clauses.

Grammar (keywords are case-insensitive)::

    filter      := [comparison (AND comparison)*]
    comparison  := identifier comparator operand
    identifier  := WORD                      -- "metrics.acc", "tags.mlflow.parentRunId", "run_name"
                 | WORD"." (NAME | STRING)   -- tags.`my key`, params."cat-dog" (no space after the dot)
                 | NAME | "STRING"           -- an unprefixed quoted attribute: `Run Name`
    comparator  := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
    operand     := STRING | NUMBER | "(" STRING ("," STRING)* ")"
    order_by    := identifier [ASC | DESC]

An unquoted dotted identifier is split on its first dot, so the key may itself contain dots.
Every check against the grammar (entity, key, comparator, value type) happens here, so the
SQL compilers only ever see valid comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledgerflow.errors import InvalidParameter
from ledgerflow.tracking.search.grammar import EntitySpec, FieldSpec, Grammar
from ledgerflow.tracking.search.lexer import Kind, Token, tokenize
from ledgerflow.tracking.search.nodes import (
    ILIKE,
    IN,
    IS_NOT_NULL,
    IS_NULL,
    LIKE,
    LIST_OPS,
    NOT_IN,
    NULL_OPS,
    Comparison,
    OrderKey,
    Value,
)

MAX_FILTER_LENGTH = 100_000
# Each comparison becomes its own predicate (often a correlated subquery); far past any real
# filter, and well below the expression depth databases refuse (SQLite: 1000), which would
# otherwise surface as a server error.
MAX_COMPARISONS = 100


class _Parser:
    def __init__(self, text: str, grammar: Grammar, what: str) -> None:
        if len(text) > MAX_FILTER_LENGTH:
            raise InvalidParameter(f"The {what} is longer than {MAX_FILTER_LENGTH} characters.")
        self.text = text
        self.grammar = grammar
        self.what = what
        self.tokens = tokenize(text, what=what)
        self.index = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not Kind.END:
            self.index += 1
        return token

    def at_end(self) -> bool:
        return self.peek().kind is Kind.END

    # -- filters -------------------------------------------------------------------------

    def filter(self) -> tuple[Comparison, ...]:
        comparisons: list[Comparison] = []
        if self.at_end():
            return ()
        while True:
            if len(comparisons) == MAX_COMPARISONS:
                raise InvalidParameter(
                    f"The {self.what} has more than {MAX_COMPARISONS} comparisons joined by AND."
                )
            comparisons.append(self.comparison())
            token = self.peek()
            if token.kind is Kind.END:
                return tuple(comparisons)
            if not token.is_keyword("AND"):
                raise self.invalid_clause(token)
            self.advance()

    def invalid_clause(self, token: Token) -> InvalidParameter:
        shown = token.text or "end of input"
        return InvalidParameter(
            f"Invalid clause(s) in filter string: '{shown}' at position {token.start} of "
            f"'{self.text}'. A filter is comparisons joined by AND; OR and parentheses are not "
            "supported."
        )

    def comparison(self) -> Comparison:
        entity, spec, key = self.identifier()
        op = self.comparator()
        operand = self.operand(op)
        if op not in spec.ops:
            raise self.bad_comparator(entity, spec, key, op)
        value = self.check_value(entity, spec, key, op, operand)
        name = key if entity.any_key is not None else spec.name
        return Comparison(entity.name, name, op, value)

    def identifier(self) -> tuple[EntitySpec, FieldSpec, str]:
        token = self.advance()
        prefix: str | None
        if token.kind is Kind.WORD and not token.is_keyword("AND", "OR", "NOT"):
            if token.value.endswith("."):
                following = self.peek()
                if following.kind not in (Kind.NAME, Kind.STRING) or following.start != token.end:
                    raise InvalidParameter(
                        f"Invalid identifier '{token.text}' in {self.what} '{self.text}': a key "
                        "must follow the dot."
                    )
                self.advance()
                prefix, key = token.value[:-1], following.value
            elif "." in token.value:
                prefix, key = token.value.split(".", 1)
            else:
                prefix, key = None, token.value
        elif token.kind is Kind.NAME or (token.kind is Kind.STRING and token.quote == '"'):
            prefix, key = None, token.value
        elif self.what == "filter string":
            raise self.invalid_clause(token)
        else:
            raise self.unparsable()
        if not key:
            raise InvalidParameter(f"Invalid identifier in {self.what} '{self.text}': the key is empty.")
        entity = self.grammar.entity(prefix) if prefix is not None else self.grammar.default()
        return entity, entity.resolve(key), key

    def comparator(self) -> str:
        token = self.advance()
        if token.kind is Kind.OP:
            return token.value
        if token.is_keyword(LIKE, ILIKE, IN):
            return token.value.upper()
        if token.is_keyword("NOT") and self.peek().is_keyword(IN):
            self.advance()
            return NOT_IN
        if token.is_keyword("IS"):
            negated = self.peek().is_keyword("NOT")
            if negated:
                self.advance()
            if self.advance().is_keyword("NULL"):
                return IS_NOT_NULL if negated else IS_NULL
        shown = token.text or "end of input"
        raise InvalidParameter(
            f"Invalid comparator '{shown}' at position {token.start} of filter string "
            f"'{self.text}'. Keys containing spaces or other special characters must be quoted "
            "with backticks or double quotes."
        )

    def operand(self, op: str) -> Token | list[Token] | None:
        if op in NULL_OPS:
            return None
        if op in LIST_OPS:
            if self.advance().kind is not Kind.LPAREN:
                raise self.bad_list()
            items: list[Token] = []
            while True:
                item = self.advance()
                if item.kind is not Kind.STRING:
                    raise self.bad_list()
                items.append(item)
                separator = self.advance()
                if separator.kind is Kind.RPAREN:
                    return items
                if separator.kind is not Kind.COMMA:
                    raise self.bad_list()
        token = self.advance()
        if token.kind in (Kind.STRING, Kind.NUMBER, Kind.WORD):
            return token
        raise InvalidParameter(
            f"Invalid filter string '{self.text}': expected a value at position {token.start}."
        )

    def bad_list(self) -> InvalidParameter:
        return InvalidParameter(
            f"Invalid filter string '{self.text}': IN and NOT IN take a parenthesised, "
            "comma-separated list of quoted string values, e.g. ('a', 'b')."
        )

    def bad_comparator(self, entity: EntitySpec, spec: FieldSpec, key: str, op: str) -> InvalidParameter:
        if op in LIST_OPS and entity.any_key is None:
            return InvalidParameter(
                f"Only {entity.list_fields()} {entity.name}s support comparison with a list of "
                f"quoted string values (got {op} on '{key}')."
            )
        if not spec.ops:
            return InvalidParameter(f"'{entity.name}.{key}' can be used in order_by only, not in a filter.")
        return InvalidParameter(
            f"Invalid comparator '{op}' for {entity.name} '{key}' in filter string '{self.text}'. "
            f"Valid comparators are {sorted(spec.ops)}."
        )

    def check_value(
        self, entity: EntitySpec, spec: FieldSpec, key: str, op: str, operand: Token | list[Token] | None
    ) -> Value:
        if operand is None:
            return None
        if isinstance(operand, list):
            return tuple(item.value for item in operand)
        if spec.kind == "number":
            if operand.kind is not Kind.NUMBER:
                raise InvalidParameter(
                    f"Expected numeric value type for {entity.name} '{key}'. Found {operand.text}"
                )
            return float(operand.value)
        if operand.kind is Kind.STRING or (spec.kind == "id" and operand.kind is Kind.NUMBER):
            return operand.value
        raise InvalidParameter(
            f"Value {operand.text} for {entity.name} '{key}' is either not quoted or uses an "
            "unidentified quote type. Use single or double quotes for string values."
        )

    # -- order_by ------------------------------------------------------------------------

    def unparsable(self) -> InvalidParameter:
        return InvalidParameter(f"Invalid order_by clause '{self.text}'. Could not be parsed.")

    def order_key(self, *, allow_direction: bool = True) -> OrderKey:
        if self.at_end():
            raise self.unparsable()
        entity, spec, key = self.identifier()
        ascending = True
        token = self.peek()
        if token.kind is not Kind.END:
            if not allow_direction:
                raise self.unparsable()
            if token.kind is not Kind.WORD or not token.is_keyword("ASC", "DESC"):
                raise InvalidParameter(
                    f"Invalid ordering key in order_by clause '{self.text}': expected ASC or DESC "
                    f"after the key, got '{token.text}'. Quote keys containing spaces with backticks."
                )
            ascending = token.value.upper() == "ASC"
            self.advance()
            if not self.at_end():
                raise self.unparsable()
        if not (entity.orderable and spec.orderable):
            raise InvalidParameter(
                f"Invalid order_by key '{entity.name}.{key}' in '{self.text}': {self.grammar.resource} "
                f"cannot be ordered by it."
            )
        return OrderKey(entity.name, key if entity.any_key is not None else spec.name, ascending)


def parse_filter(text: str | None, grammar: Grammar) -> tuple[Comparison, ...]:
    """Parse a filter string into AND-joined comparisons; raises InvalidParameter."""
    if text is None or not text.strip():
        return ()
    return _Parser(text, grammar, "filter string").filter()


def parse_order_by(clauses: Sequence[str] | None, grammar: Grammar) -> list[OrderKey]:
    """Parse order_by clauses ``"<entity>.<key> [ASC|DESC]"``; ASC is the default per clause."""
    keys: list[OrderKey] = []
    for clause in clauses or ():
        if not isinstance(clause, str):
            raise InvalidParameter(f"Invalid order_by clause {clause!r}. Could not be parsed.")
        keys.append(_Parser(clause, grammar, "order_by clause").order_key())
    return keys


def parse_field_name(text: str, grammar: Grammar, *, ascending: bool = True) -> OrderKey:
    """Parse a bare ``<entity>.<key>`` (logged models send the direction as its own field)."""
    key = _Parser(text, grammar, "order_by clause").order_key(allow_direction=False)
    return OrderKey(key.entity, key.key, ascending)
