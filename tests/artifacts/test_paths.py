"""The path validator every artifact route shares."""

from __future__ import annotations

import pytest

from ledgerflow.artifacts.paths import clean_path, is_safe, join, relative_to
from ledgerflow.errors import InvalidParameter


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a/b/c.txt", "a/b/c.txt"),
        ("./b.txt", "b.txt"),
        ("a//b/./c", "a/b/c"),
        ("dir/", "dir"),
        ("", ""),
        (None, ""),
        (".", ""),
        ("models/logistic regression/model.pkl", "models/logistic regression/model.pkl"),
        ("2024-01-01T10:00:00.txt", "2024-01-01T10:00:00.txt"),
        ("a..b/...", "a..b/..."),
        ("100%.txt", "100%.txt"),
        ("a%20b.txt", "a%20b.txt"),  # kept as received: the name is what was validated
        ("données/数据.csv", "données/数据.csv"),
    ],
)
def test_accepted_paths_and_their_normal_form(raw: str | None, expected: str) -> None:
    assert clean_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "/etc/passwd",
        "//server/share",
        "%2E%2E%2Fx",
        "%2e%2e/x",
        "a/%2E%2E/x",
        "%252E%252E%252Fx",
        "%25252E%25252E%25252Fx",
        "%2Fetc%2Fpasswd",
        "..\\x",
        "a\\b",
        "%5C..%5Cx",
        "C:/Windows/win.ini",
        "c:x",
        "C%3A/x",
        "a\x00b",
        "a%00b",
        "a\nb",
        "a%0Ab",
        "\x7f",
        "a/" + "b" * 256,
        "x/" * 2100,
        "%" + "25" * 11 + "2E",  # eleven levels of encoding
    ],
)
def test_rejected_paths(raw: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid path"):
        clean_path(raw)


def test_root_can_be_refused() -> None:
    with pytest.raises(InvalidParameter, match="Invalid path"):
        clean_path("./", allow_root=False)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="Invalid path"):
        clean_path(5)  # type: ignore[arg-type]


def test_is_safe_requires_the_normal_form() -> None:
    assert is_safe("a/b")
    assert not is_safe("a//b")
    assert not is_safe("../a")
    assert not is_safe("")


def test_join_and_relative_to() -> None:
    assert join("", "a") == "a"
    assert join("a", "") == "a"
    assert join("a", "b/c") == "a/b/c"
    assert relative_to("a/b/c", "a") == "b/c"
    assert relative_to("ab/c", "a") is None
    assert relative_to("a", "a") is None
    assert relative_to("x", "") == "x"
