"""Properties of the scanner itself: it never raises, its spans are inside the text, and
redaction removes every span it reports."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerflow.governance.secrets.scanner import SecretScanner, shannon_entropy

from .samples import SECRETS

SCANNER = SecretScanner()
# Text built from pieces the patterns care about, so the expressions actually run.
PIECES = st.sampled_from(
    [
        "AKIA",
        "ghp_",
        "github_pat_",
        "glpat-",
        "xoxb-",
        "sk-",
        "sk_live_",
        "AIza",
        "eyJ",
        ".",
        "=",
        ":",
        "://",
        "@",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "-----END ",
        "password",
        "aws_secret_access_key",
        '"type": "service_account"',
        '"private_key": "',
        "%2F",
        "\n",
        " ",
        "\x00",
    ]
)
TEXT = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(PIECES, st.text(max_size=40)), max_size=30).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(key=TEXT, value=TEXT)
def test_scanning_never_raises_and_spans_fit(key: str, value: str) -> None:
    for finding in SCANNER.scan_pair(key, value):
        text = key if finding.part == "key" else value
        assert 0 <= finding.start <= finding.end <= len(text)
        assert finding.kind and len(finding.fingerprint) == 8
    for finding in SCANNER.scan_text(value):
        assert 0 <= finding.start <= finding.end <= len(value)


@settings(max_examples=200, deadline=None)
@given(before=st.text(max_size=30), after=st.text(max_size=30), index=st.integers(0, len(SECRETS) - 1))
def test_redaction_removes_the_secret_wherever_it_sits(before: str, after: str, index: int) -> None:
    _, value, kind, secret = SECRETS[index]
    text = f"{before} {value} {after}"
    findings = [f for f in SCANNER.scan_text(text) if f.part == "value"]
    redacted = SCANNER.redact(text, findings)
    assert secret not in redacted
    assert f"[REDACTED:{kind}]" in redacted or "[REDACTED:" in redacted


@given(st.text(max_size=200))
def test_entropy_is_bounded_by_the_alphabet(text: str) -> None:
    entropy = shannon_entropy(text)
    assert 0.0 <= entropy <= max(0.0, len(set(text)).bit_length())


def test_the_prefilter_admits_every_pattern() -> None:
    # A catalogue edit that adds a pattern the prefilter cannot see would silently disable it.
    from ledgerflow.governance.secrets.catalogue import PATTERNS, PREFILTER

    for pattern in PATTERNS:
        for marker in pattern.markers:
            assert any(literal in marker for literal in PREFILTER), (pattern.kind, marker)
    for _, value, kind, _secret in SECRETS:
        assert kind in {f.kind for f in SCANNER.scan_text(value)}
