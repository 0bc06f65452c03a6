"""Page tokens: opaque base64 JSON offsets, and clear 400s for anything else."""

from __future__ import annotations

import base64

import pytest

from ledgerflow.errors import InvalidParameter
from ledgerflow.store import paging


def test_round_trip_and_first_page() -> None:
    assert paging.decode(paging.encode(1234)) == 1234
    assert paging.decode(None) == 0
    assert paging.decode("") == 0
    assert base64.b64decode(paging.encode(7)) == b'{"offset": 7}'


def test_page_issues_a_token_only_while_rows_remain() -> None:
    assert paging.page([1, 2, 3], 0, 3) == ([1, 2, 3], None)
    rows, token = paging.page([1, 2, 3, 4], 10, 3)
    assert rows == [1, 2, 3]
    assert token is not None and paging.decode(token) == 13
    # max_results=0 gives only a token, pointing at the same offset.
    assert paging.page([1], 5, 0) == ([], paging.encode(5))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not base64!!", "could not base64-decode"),
        ("abc", "could not base64-decode"),
        (base64.b64encode(b"not json").decode(), "not JSON"),
        (base64.b64encode(b'{"offset": -1}').decode(), "no valid offset"),
        (base64.b64encode(b'{"offset": "3"}').decode(), "no valid offset"),
        (base64.b64encode(b'{"offset": true}').decode(), "no valid offset"),
        (base64.b64encode(b"[1]").decode(), "no valid offset"),
        ("ü", "could not base64-decode"),
    ],
)
def test_bad_tokens_are_invalid_parameter(token: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        paging.decode(token)
    assert "Invalid page token" in caught.value.message
    assert message in caught.value.message
