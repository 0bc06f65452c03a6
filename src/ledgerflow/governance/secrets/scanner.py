"""Find credentials in short strings (params, tags, descriptions) and small text files.

The scanner is pure: strings in, :class:`Finding` spans out; it never sees where the text
came from and never raises on any input. It is on the write path of every param and tag, so
it does the cheap thing first: a value that is short, contains none of the patterns' literal
markers, and sits under a key with no secret-ish name is dismissed with a few substring tests
and one cached dictionary lookup, before any of the catalogue's expressions run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote

from .catalogue import ASSIGNMENT, BENIGN, CONTEXT_RULES, PATTERNS, PREFILTER, ContextRule

MIN_SECRET_LENGTH = 8
# Base64 of a credential (a kubeconfig, a .env pasted as one value) is decoded once and
# rescanned; only strings this long and of the base64 alphabet are tried.
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]{24,}={0,2}$")
_KEY_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class Finding:
    """A secret of ``kind`` at ``text[start:end]`` of the key or the value."""

    kind: str
    start: int
    end: int
    fingerprint: str
    part: str = "value"  # "value" or "key"


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``'s character distribution."""
    if not text:
        return 0.0
    length = len(text)
    return -sum(count / length * math.log2(count / length) for count in Counter(text).values())


def fingerprint(secret: str) -> str:
    """A short tag that tells two findings of the same secret apart from others. Eight hex
    digits (32 bits) are enough to correlate findings and far too few to confirm a guess of
    a high-entropy credential offline."""
    return hashlib.sha256(b"ledgerflow-secret:" + secret.encode("utf-8", "replace")).hexdigest()[:8]


def is_benign(value: str) -> bool:
    return any(shape.match(value) for shape in BENIGN)


# Lower-case stems of every secret-ish key name: a text without any of them has no
# ``name = secret`` assignment worth parsing.
_SECRETISH_STEMS = ("pass", "pwd", "secret", "token", "key", "auth", "cred")


class SecretScanner:
    def __init__(self) -> None:
        # One alternation of a few literals: a single C-level pass (about 1 us on a short value).
        self._prefilter = re.compile("|".join(re.escape(literal) for literal in PREFILTER))
        # Key name -> (context rules it triggers, secrets in the key); see _key_info.
        self._keys: dict[str, tuple[tuple[ContextRule, ...], tuple[Finding, ...]]] = {}

    # -- entry points ------------------------------------------------------------------------

    def scan_pair(self, key: str, value: str) -> list[Finding]:
        """Secrets in a param or tag: in the value (by pattern, or by the key naming it a
        secret), and in the key itself."""
        found = self.scan_text(value) if value else []
        rules, in_key = self._key_info(key)
        if rules and value and not found:
            whole = self._by_context(rules, value)
            if whole is not None:
                found.append(Finding(whole, 0, len(value), fingerprint(value)))
        return found + list(in_key) if in_key else found

    def scan_text(self, text: str) -> list[Finding]:
        """Secrets anywhere in ``text``: provider patterns, then ``name = value`` assignments
        whose name says secret, then the URL- or base64-decoded text once."""
        if len(text) < MIN_SECRET_LENGTH:
            return []
        found = self._patterns(text) if self._has_marker(text) else []
        if _secretish(text):
            found.extend(self._assignments(text, found))
        if not found:
            decoded = self._decoded(text)
            if decoded is not None:
                inner = self._patterns(decoded) if self._has_marker(decoded) else []
                if not inner and _secretish(decoded):
                    inner = self._assignments(decoded, [])
                if inner:
                    found.append(Finding(inner[0].kind, 0, len(text), fingerprint(text)))
        return found

    @staticmethod
    def redact(text: str, findings: list[Finding]) -> str:
        """``text`` with each finding's span replaced by ``[REDACTED:<kind>]``."""
        spans = sorted(findings, key=lambda f: f.start)
        pieces: list[str] = []
        position = 0
        for finding in spans:
            if finding.start < position:
                continue  # overlaps one already replaced
            pieces.append(text[position : finding.start])
            pieces.append(f"[REDACTED:{finding.kind}]")
            position = finding.end
        pieces.append(text[position:])
        return "".join(pieces)

    # -- detectors ---------------------------------------------------------------------------

    def _has_marker(self, text: str) -> bool:
        return self._prefilter.search(text) is not None

    def _patterns(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        for pattern in PATTERNS:
            if not any(marker in text for marker in pattern.markers):
                continue
            if any(needed not in text for needed in pattern.needs):
                continue
            if pattern.requires is not None and not pattern.requires.search(text):
                continue
            for match in pattern.regex.finditer(text):
                secret = match.group(pattern.secret_group)
                start, end = match.span(pattern.secret_group)
                if is_benign(secret) or _overlaps(found, start, end):
                    continue
                if pattern.min_entropy and shannon_entropy(secret) < pattern.min_entropy:
                    continue
                found.append(Finding(pattern.kind, start, end, fingerprint(secret)))
        return found

    def _assignments(self, text: str, already: list[Finding]) -> list[Finding]:
        found: list[Finding] = []
        for match in ASSIGNMENT.finditer(text):
            rules = self._rules_for(match.group(1))
            if not rules:
                continue
            start, end = match.span(2)
            if _overlaps(already, start, end) or _overlaps(found, start, end):
                continue
            value = match.group(2)
            kind = self._by_context(rules, value)
            if kind is not None:
                found.append(Finding(kind, start, end, fingerprint(value)))
        return found

    def _rules_for(self, key: str) -> tuple[ContextRule, ...]:
        return self._key_info(key)[0]

    def _key_info(self, key: str) -> tuple[tuple[ContextRule, ...], tuple[Finding, ...]]:
        """The context rules a key name triggers and the secrets in the key itself; cached,
        as scripts log the same few keys over and over."""
        info = self._keys.get(key)
        if info is None:
            rules = tuple(rule for rule in CONTEXT_RULES if rule.key.search(key)) if key else ()
            in_key: tuple[Finding, ...] = ()
            if len(key) >= MIN_SECRET_LENGTH and self._has_marker(key):
                in_key = tuple(
                    Finding(f.kind, f.start, f.end, f.fingerprint, "key") for f in self._patterns(key)
                )
            info = (rules, in_key)
            if len(self._keys) < _KEY_CACHE_LIMIT:
                self._keys[key] = info
        return info

    @staticmethod
    def _by_context(rules: tuple[ContextRule, ...], value: str) -> str | None:
        candidate = value.strip().strip("\"'")
        if is_benign(candidate):
            return None
        for rule in rules:
            if rule.value.match(candidate) and shannon_entropy(candidate) >= rule.min_entropy:
                return rule.kind
        return None

    @staticmethod
    def _decoded(text: str) -> str | None:
        if "%" in text:
            unquoted = unquote(text)
            if unquoted != text:
                return unquoted
        if len(text) <= 8192 and _BASE64.match(text):
            padded = text + "=" * (-len(text) % 4)
            try:
                raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
                decoded = raw.decode("utf-8")
            except (binascii.Error, ValueError):
                return None
            if decoded and sum(ch.isprintable() or ch.isspace() for ch in decoded) == len(decoded):
                return decoded
        return None


def _secretish(text: str) -> bool:
    lowered = text.lower()
    return any(stem in lowered for stem in _SECRETISH_STEMS)


def _overlaps(found: list[Finding], start: int, end: int) -> bool:
    return any(f.start < end and start < f.end for f in found)
