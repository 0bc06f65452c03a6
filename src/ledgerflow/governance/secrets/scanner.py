"""Find credentials in short strings (params, tags, descriptions) and small text files.

The scanner is pure: strings in, :class:`Finding` spans out; it never sees where the text
came from and never raises on any input. It is on the write path of every param and tag, so
it does the cheap thing first: a value that is short, contains none of the patterns' literal
markers, and sits under a key with no secret-ish name is dismissed with one regex search and
one cached dictionary lookup, before any of the catalogue's expressions run.
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

from . import catalogue
from .catalogue import ASSIGNMENT, BENIGN, CONTEXT_RULES, PATTERNS, ContextRule

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


def _marker_regex() -> re.Pattern[str]:
    markers = sorted({marker for pattern in PATTERNS for marker in pattern.markers}, key=len, reverse=True)
    return re.compile("|".join(re.escape(marker) for marker in markers))


class SecretScanner:
    def __init__(self) -> None:
        self._markers = _marker_regex()
        self._secretish = re.compile(catalogue._SECRETISH, re.I)
        # Key name -> the context rules it triggers; a batch repeats the same few keys.
        self._key_rules: dict[str, tuple[ContextRule, ...]] = {}

    # -- entry points ------------------------------------------------------------------------

    def scan_pair(self, key: str, value: str) -> list[Finding]:
        """Secrets in a param or tag: in the value (by pattern, or by the key naming it a
        secret), and in the key itself."""
        found = self.scan_text(value) if value else []
        rules = self._rules_for(key)
        if rules and value and not found:
            whole = self._by_context(rules, value)
            if whole is not None:
                found.append(Finding(whole, 0, len(value), fingerprint(value)))
        if len(key) >= MIN_SECRET_LENGTH and self._markers.search(key):
            found.extend(Finding(f.kind, f.start, f.end, f.fingerprint, "key") for f in self._patterns(key))
        return found

    def scan_text(self, text: str) -> list[Finding]:
        """Secrets anywhere in ``text``: provider patterns, then ``name = value`` assignments
        whose name says secret, then the URL- or base64-decoded text once."""
        if len(text) < MIN_SECRET_LENGTH:
            return []
        found = self._patterns(text) if self._markers.search(text) else []
        if self._secretish.search(text):
            found.extend(self._assignments(text, found))
        if not found:
            decoded = self._decoded(text)
            if decoded is not None:
                inner = self._patterns(decoded) if self._markers.search(decoded) else []
                if not inner and self._secretish.search(decoded):
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

    def _patterns(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        for pattern in PATTERNS:
            if not any(marker in text for marker in pattern.markers):
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
        rules = self._key_rules.get(key)
        if rules is None:
            rules = tuple(rule for rule in CONTEXT_RULES if rule.key.search(key)) if key else ()
            if len(self._key_rules) < _KEY_CACHE_LIMIT:
                self._key_rules[key] = rules
        return rules

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


def _overlaps(found: list[Finding], start: int, end: int) -> bool:
    return any(f.start < end and start < f.end for f in found)
