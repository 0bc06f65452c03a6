"""Page tokens: opaque to clients, base64 of a small JSON object, as MLflow's are.

A token holds the offset of the next page. ``fetch`` asks for one row more than a page so
that a token is issued only while rows remain.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import TypeVar

from ledgerflow.errors import InvalidParameter

T = TypeVar("T")
MAX_OFFSET = 2**53


def encode(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode(token: str | None) -> int:
    """The offset a token stands for; no token (or "") is the first page."""
    if not token:
        return 0
    try:
        raw = base64.b64decode(token.encode(), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidParameter(f"Invalid page token, could not base64-decode: {token!r}") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameter(f"Invalid page token, decoded value is not JSON: {token!r}") from None
    offset = data.get("offset") if isinstance(data, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidParameter(f"Invalid page token, it holds no valid offset: {token!r}")
    return offset


def page(rows: Sequence[T], offset: int, max_results: int) -> tuple[list[T], str | None]:
    """Cut the ``max_results + 1`` fetched rows into one page and the next page's token."""
    if len(rows) > max_results:
        return list(rows[:max_results]), encode(offset + max_results)
    return list(rows), None
