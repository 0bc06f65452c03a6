"""The hash chain's arithmetic: canonical JSON, digests, and one record's hash.

``record_hash = SHA-256(prev_hash || canonical JSON of the record's fields)``; the fields
include ``seq``, so a record moved to another position no longer matches its own hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

GENESIS_HASH = "0" * 64
# Every column a record's hash covers, in the order the canonical JSON sorts them anyway.
HASHED_FIELDS = (
    "seq",
    "time_ms",
    "actor",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "source_address",
    "request_id",
    "before_digest",
    "after_digest",
    "details",
)


# Sorted keys and no whitespace: one byte string per value. Values that are not JSON (rows,
# dates) are hashed by their text form. Built once: json.dumps with options builds a new
# encoder on every call, a third of its cost for a record's few fields. The encoder keeps no
# state between calls.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def digest(value: Any) -> str:
    """SHA-256 of a value's canonical JSON. Only stored, never recomputed by ``audit verify``
    (the payload itself is not kept), so the faster orjson encoding serves where installed."""
    try:
        import orjson
    except ImportError:
        return hashlib.sha256(canonical_json(value).encode()).hexdigest()
    encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.sha256(encoded).hexdigest()


def record_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    body = canonical_json({name: fields.get(name) for name in HASHED_FIELDS})
    return hashlib.sha256(prev_hash.encode() + body.encode()).hexdigest()
