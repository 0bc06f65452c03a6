"""Turns a filter or order_by string into tokens.

The lexer knows nothing about entities or operators' meaning; it only finds words, quoted
strings, backtick-quoted names, numbers and punctuation, and remembers where each one starts
and ends so the parser can tell ``tags.`k` `` (a quoted key glued to its entity) from two
separate tokens.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ledgerflow.errors import InvalidParameter


class Kind(enum.Enum):
    WORD = "word"  # identifiers and keywords: metrics.acc, AND, like
    NUMBER = "number"
    STRING = "string"  # '...' or "..."
    NAME = "name"  # `...`
    OP = "op"  # = != < <= > >=
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # the source text of the token
    value: str  # the text with quotes removed and escapes resolved
    start: int
    end: int
    quote: str = ""  # the quote character of STRING and NAME tokens

    def is_keyword(self, *words: str) -> bool:
        return self.kind is Kind.WORD and self.value.upper() in words


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_PUNCTUATION = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}


def tokenize(text: str, *, what: str = "filter string") -> list[Token]:
    """Split ``text`` into tokens, ending with one END token.

    Raises InvalidParameter on a character no token can start with (an unquoted hyphen in
    a key, for instance) and on an unterminated quote.
    """
    tokens: list[Token] = []
    position = 0
    length = len(text)
    while position < length:
        char = text[position]
        if char.isspace():
            position += 1
            continue
        if char in ("'", '"'):
            token = _quoted(text, position, Kind.STRING, what)
        elif char == "`":
            token = _quoted(text, position, Kind.NAME, what)
        elif char in _PUNCTUATION:
            token = Token(_PUNCTUATION[char], char, char, position, position + 1)
        elif (match := _NUMBER.match(text, position)) and (char.isdigit() or match.end() - position > 1):
            end = match.end()
            if end < length and (text[end].isalnum() or text[end] in "_."):
                raise _unexpected(text, end, what)
            token = Token(Kind.NUMBER, match.group(), match.group(), position, end)
        elif match := _WORD.match(text, position):
            token = Token(Kind.WORD, match.group(), match.group(), position, match.end())
        else:
            operator = next((op for op in _OPERATORS if text.startswith(op, position)), None)
            if operator is None:
                raise _unexpected(text, position, what)
            token = Token(Kind.OP, operator, operator, position, position + len(operator))
        tokens.append(token)
        position = token.end
    tokens.append(Token(Kind.END, "", "", length, length))
    return tokens


def _quoted(text: str, start: int, kind: Kind, what: str) -> Token:
    quote = text[start]
    chars: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == quote:
            # A doubled quote stands for one quote character, as in SQL.
            if position + 1 < len(text) and text[position + 1] == quote:
                chars.append(quote)
                position += 2
                continue
            end = position + 1
            return Token(kind, text[start:end], "".join(chars), start, end, quote)
        if char == "\\" and kind is Kind.STRING and position + 1 < len(text):
            following = text[position + 1]
            if following in (quote, "\\"):
                # Keep the backslash before a backslash: LIKE patterns use it as escape.
                chars.append(following if following == quote else "\\\\")
                position += 2
                continue
        chars.append(char)
        position += 1
    raise InvalidParameter(f"Invalid {what} '{text}': the quote {quote} at position {start} is never closed.")


def _unexpected(text: str, position: int, what: str) -> InvalidParameter:
    return InvalidParameter(
        f"Invalid {what} '{text}': unexpected character {text[position]!r} at position {position}. "
        "Keys containing characters other than letters, digits, '_' and '.' must be quoted with "
        "backticks or double quotes, e.g. params.`my-key`."
    )
