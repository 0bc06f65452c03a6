"""Anchors: a signed (seq, record_hash) of the log's last record, kept outside the database.

Nothing inside a database can prove it was not wiped and rebuilt, so an operator saves an
anchor (``ledgerflow audit anchor -o anchor.json``) somewhere the database's writers cannot
reach, and ``audit verify --anchor`` later demands that record, unchanged, in the chain.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter
from ledgerflow.store.schema import audit_log

from .signing import Signer, anchor_message
from .verify import Anchor, stored_keys, verify

FIELDS = ("seq", "record_hash", "time_ms", "key_id", "signature")


def create_anchor(conn: Connection, signer: Signer) -> dict[str, Any]:
    """Verify the log (an anchor vouches for it) and sign its last record."""
    keys = {**stored_keys(conn), signer.key_id: signer.public_text}
    report = verify(conn, keys)
    if not report.ok:
        raise InvalidParameter(f"Refusing to anchor an audit log that does not verify: {report.problems[0]}.")
    last = conn.execute(
        sa.select(audit_log.c.seq, audit_log.c.record_hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    if last is None:
        raise InvalidParameter("The audit log is empty: there is nothing to anchor.")
    now = int(time.time() * 1000)
    seq, hash_ = int(last.seq), str(last.record_hash)
    return {
        "seq": seq,
        "record_hash": hash_,
        "time_ms": now,
        "time": datetime.fromtimestamp(now / 1000, UTC).isoformat(timespec="milliseconds"),
        "key_id": signer.key_id,
        "signature": signer.sign(anchor_message(seq, hash_, now, signer.key_id)),
    }


def load_anchor(path: str) -> Anchor:
    """An anchor file, or an ``audit export`` JSONL file (its last record is the anchor)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        raise InvalidParameter(f"Could not read the audit anchor '{path}'.") from None
    try:
        value = json.loads(text)
    except ValueError:
        return _export_anchor(path, text)
    if isinstance(value, dict) and "signature" not in value and "prev_hash" in value:
        return _export_anchor(path, text)  # an export of one record
    if not isinstance(value, dict) or any(name not in value for name in FIELDS):
        raise InvalidParameter(f"The audit anchor '{path}' lacks one of {', '.join(FIELDS)}.")
    seq, time_ms = value["seq"], value["time_ms"]
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in (seq, time_ms)):
        raise InvalidParameter(f"The audit anchor '{path}' has a non-integer seq or time_ms.")
    if not all(isinstance(value[name], str) for name in ("record_hash", "key_id", "signature")):
        raise InvalidParameter(f"The audit anchor '{path}' has a malformed record_hash, key_id or signature.")
    return Anchor(seq, value["record_hash"], time_ms, value["key_id"], value["signature"])


def _export_anchor(path: str, text: str) -> Anchor:
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        last = json.loads(lines[-1]) if lines else None
    except ValueError:
        last = None
    if (
        not isinstance(last, dict)
        or not isinstance(last.get("seq"), int)
        or not isinstance(last.get("record_hash"), str)
    ):
        raise InvalidParameter(
            f"Could not read the audit anchor '{path}' (expected an anchor's JSON or an 'audit export' file)."
        )
    return Anchor(last["seq"], last["record_hash"], int(last.get("time_ms") or 0), None, None)
