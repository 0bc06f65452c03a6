"""The secret patterns Ledgerflow looks for: data, not code.

Each :class:`Pattern` names a kind of credential, the regular expression that finds it, the
literal markers a value must contain before the expression is even tried (the prefilter), and
the group that holds the secret itself (what redaction replaces). Provider patterns are
precise (a fixed prefix and a fixed alphabet and length), so they need no entropy check.
Patterns for bare, prefix-less secrets (an AWS secret access key, a password) only apply when
the *key name* says what the value is: see :data:`CONTEXT_RULES`.

The provider formats follow the public descriptions of each token format (GitHub's, GitLab's,
Slack's, Stripe's, Google's key formats; RFC 7519 for JWTs; RFC 7468 for PEM labels); the
idea of pairing a secret-ish key name with an entropy floor follows gitleaks'
``generic-api-key`` rule (MIT). Bump :data:`RULE_VERSION` whenever a pattern changes: findings
record the version that produced them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RULE_VERSION = "2026.12.1"


@dataclass(frozen=True)
class Pattern:
    kind: str
    regex: re.Pattern[str]
    markers: tuple[str, ...]  # at least one must occur in the text (case-sensitive)
    secret_group: int = 0
    # Shannon entropy (bits per character) the secret must reach; 0 = the shape is enough.
    min_entropy: float = 0.0
    # A second expression the whole text must also match (e.g. service-account JSON).
    requires: re.Pattern[str] | None = None
    # Literals that must all occur as well (a cheap second prefilter).
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContextRule:
    """A value is a secret of ``kind`` when its key name matches ``key`` and the value matches
    ``value`` with at least ``min_entropy`` bits per character."""

    kind: str
    key: re.Pattern[str]
    value: re.Pattern[str]
    min_entropy: float


def _re(source: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(source, flags)


PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "aws_access_key_id",
        _re(r"(?<![A-Z0-9])((?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z2-7]{16})(?![A-Z0-9])"),
        ("AKIA", "ASIA", "ABIA", "ACCA", "AROA", "AIDA"),
        secret_group=1,
    ),
    Pattern(
        "github_token",
        _re(r"(?<![A-Za-z0-9_])((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255})(?![A-Za-z0-9_])"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        secret_group=1,
    ),
    Pattern(
        "github_token",
        _re(r"(?<![A-Za-z0-9_])(github_pat_[A-Za-z0-9_]{50,255})"),
        ("github_pat_",),
        secret_group=1,
    ),
    Pattern(
        "gitlab_token",
        _re(r"(?<![A-Za-z0-9_-])((?:glpat|glptt|gldt|glrt|glcbt|glsoat|glffct)-[A-Za-z0-9_-]{20,64})"),
        ("glpat-", "glptt-", "gldt-", "glrt-", "glcbt-", "glsoat-", "glffct-"),
        secret_group=1,
    ),
    Pattern(
        "slack_token",
        _re(r"(?<![A-Za-z0-9])(xox[abposr]-[A-Za-z0-9-]{10,250})"),
        ("xox",),
        secret_group=1,
    ),
    Pattern(
        "slack_webhook",
        _re(r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,})"),
        ("hooks.slack.com",),
        secret_group=1,
    ),
    Pattern(
        "stripe_key",
        _re(r"(?<![A-Za-z0-9])((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247})"),
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
        secret_group=1,
    ),
    Pattern(
        "google_api_key",
        _re(r"(?<![A-Za-z0-9_-])(AIza[A-Za-z0-9_-]{35})(?![A-Za-z0-9_-])"),
        ("AIza",),
        secret_group=1,
    ),
    Pattern(
        # OpenAI-style keys (also Anthropic's sk-ant-, DeepSeek's, ...): "sk-" and a long,
        # random tail; the entropy floor keeps "sk-learn-version-1-2-3" style words out.
        "openai_key",
        _re(r"(?<![A-Za-z0-9_-])(sk-(?:proj-|svcacct-|admin-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,200})"),
        ("sk-",),
        secret_group=1,
        min_entropy=3.5,
    ),
    Pattern(
        "jwt",
        _re(r"(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"),
        ("eyJ",),
        secret_group=1,
    ),
    Pattern(
        "private_key",
        # The header and, when present, the body up to the END line (redaction removes both).
        _re(
            r"(-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[A-Za-z0-9+/=\s:,.-]{0,16384}?-----END [A-Z0-9 ]{0,40}-----|[A-Za-z0-9+/=\s]{0,16384}))"
        ),
        ("PRIVATE KEY",),
        secret_group=1,
    ),
    Pattern(
        # scheme://user:password@host - the password group is what gets redacted.
        "url_credentials",
        _re(r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@?#\"']{1,256}:([^\s/@?#\"']{1,256})@[^\s/@]"),
        ("://",),
        secret_group=1,
        needs=("@",),
    ),
    Pattern(
        "gcp_service_account",
        _re(r"(\"private_key(?:_id)?\"\s*:\s*\"[^\"]{8,})"),
        ('"private_key',),
        secret_group=1,
        requires=_re(r"\"type\"\s*:\s*\"service_account\""),
    ),
)

# The scanner's first test: a text containing none of these literals cannot match any
# pattern above (each pattern's markers contain one of them), so no expression is tried.
# Coarser than the markers on purpose: fewer, shorter tests.
PREFILTER = ("AKIA", "ASIA", "ABIA", "ACCA", "AROA", "AIDA", "AIza", "gh", "github_pat_", "gl", "xox", "hooks.slack",
             "_live_", "_test_", "sk-", "eyJ", "PRIVATE KEY", "://", "private_key")  # fmt: skip

# Secret-ish key names (param, tag or ``name = value`` names in text).
_SECRETISH = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key|"
    r"auth(?:[_.-]?(?:key|token))?|credentials?|creds|private[_.-]?key|client[_.-]?secret)"
)

CONTEXT_RULES: tuple[ContextRule, ...] = (
    ContextRule(
        # AWS secret access keys have no prefix: 40 base64-ish characters, recognisable only
        # by the name they are filed under.
        "aws_secret_access_key",
        _re(r"aws.{0,20}secret|secret.?access.?key", re.I),
        _re(r"^[A-Za-z0-9/+=]{40}$"),
        3.0,
    ),
    ContextRule(
        "password", _re(r"pass(?:word|wd|phrase)?$|pwd$|^pass(?:word|wd)", re.I), _re(r"^\S{8,256}$"), 2.8
    ),
    ContextRule("generic_secret", _re(_SECRETISH, re.I), _re(r"^[^\s]{16,1024}$"), 3.5),
)

# A ``name = value`` or ``name: value`` assignment inside free text (descriptions, files), so
# the context rules apply there too. Only spaces and tabs around the separator: a name ending
# a line ("creds:") must not take the next line's first word as its value.
ASSIGNMENT = _re(r"([A-Za-z_][A-Za-z0-9_.-]{0,80})[\"']?[ \t]*[:=][ \t]*[\"']?([^\s\"',;]{8,1024})")

# Values that are never secrets even under a secret-ish name: digests (MD5, SHA-1, SHA-256,
# SHA-512), run ids (32 hex), UUIDs, logged-model ids, and placeholders/references.
BENIGN = (
    _re(
        r"^(?:sha(?:1|256|384|512)[:=-])?(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128})$",
        re.I,
    ),
    _re(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I),
    _re(r"^m-[0-9a-f]{32}$"),
    _re(r"^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\{\{.*\}\}|<[^>]*>|%\(?\w*\)?s|\*+|x+|X+|\.+|-+|_+)$"),
)
