"""Property-based tests of the one path validator (artifacts/paths.py): whatever a client sends,
an accepted path stays below the root however it is later decoded or normalised (percent-decoding
to a fixpoint, Unicode NFKC, POSIX path normalisation), and anything else is InvalidParameter."""

from __future__ import annotations

import posixpath
import unicodedata
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerflow.artifacts import paths
from ledgerflow.errors import InvalidParameter

FAST = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
ROOT = "/srv/artifacts"

# Pieces attackers combine: dots and separators in every spelling, schemes, NUL, drive letters.
PIECES = [
    "..", ".", "/", "\\", "%2e", "%2E", "%2f", "%2F", "%5c", "%25", "%252e", "%00", "\x00",
    "\uff0e", "\u2024", "\u2025", "\uff0f", "\uff3c", "\u2215", "\u2044", "C:", "file:", "//",
    "s3:", "a", "b.txt", "?", "#", ";", " ", "~", "%c0%ae", "\u0130", "\u212a",
]  # fmt: skip


def _escapes(value: str) -> bool:
    """Whether *value*, read in any of the ways a later layer might, leaves the root."""
    forms = {value, paths.decode_fixpoint(value)}
    forms |= {unicodedata.normalize("NFKC", form) for form in list(forms)}
    for form in forms:
        if "\\" in form or "\x00" in form or form.startswith("/"):
            return True
        joined = posixpath.normpath(posixpath.join(ROOT, form))
        if joined != ROOT and not joined.startswith(ROOT + "/"):
            return True
        if ".." in form.split("/"):
            return True
    return False


def _check(value: str) -> None:
    try:
        cleaned = paths.clean_path(value)
    except InvalidParameter:
        return
    assert not _escapes(cleaned), (value, cleaned)
    # The normal form is stable: validating it again changes nothing.
    assert paths.clean_path(cleaned) == cleaned


@FAST
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_combinations_of_traversal_pieces_never_escape(value: str) -> None:
    _check(value)


@FAST
@given(st.text(max_size=80))
def test_random_text_never_escapes(value: str) -> None:
    _check(value)


@FAST
@given(st.lists(st.sampled_from(PIECES), max_size=8).map("".join), st.integers(1, 3))
def test_percent_encoded_pieces_never_escape(value: str, rounds: int) -> None:
    for _ in range(rounds):
        value = quote(value, safe="")
    _check(value)
