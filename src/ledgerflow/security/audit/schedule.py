"""The checkpoint schedule, declared in the chain and signed, so verification knows which
checkpoints must exist.

Every writer that signs checkpoints declares, in the record that registers its key (or, for a
key registered before, in an ``audit.declare_checkpoint_schedule`` record), its interval and
time bound, signed together with that record's seq. A writer signs a checkpoint at every seq that
is a multiple of its interval, so at every multiple of the least common multiple of all declared
intervals some writer must have signed one: verification demands exactly those. Deleting a
declaration only makes the demand stricter; adding one needs the private key.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import audit_log

from .signing import Signer, schedule_message, verify_signature

REGISTER_ACTION = "audit.register_signing_key"
DECLARE_ACTION = "audit.declare_checkpoint_schedule"
ACTIONS = (REGISTER_ACTION, DECLARE_ACTION)
SIGNATURE_FIELD = "schedule_signature"


@dataclass(frozen=True)
class Declaration:
    seq: int
    key_id: str
    interval: int
    seconds: float


def signed_details(signer: Signer, seq: int, interval: int, seconds: float) -> dict[str, Any]:
    """The details of the record at ``seq`` that declares ``signer``'s schedule."""
    return {
        "public_key": signer.public_text,
        "checkpoint_interval": interval,
        "checkpoint_seconds": float(seconds),
        SIGNATURE_FIELD: signer.sign(schedule_message(seq, signer.key_id, interval, seconds)),
    }


def already_covered(conn: Connection, key_id: str, interval: int) -> bool:
    """Whether this key's declarations already demand no checkpoint that a writer with
    ``interval`` would not sign (``interval`` divides their least common multiple), so a restart
    or a maintenance command need not declare again. Read at start-up only, via the action index."""
    query = sa.select(audit_log.c.details).where(
        audit_log.c.action.in_(ACTIONS), audit_log.c.resource_id == key_id
    )
    declared = set()
    for row in conn.execute(query):
        details = _parse(row.details)
        value = details.get("checkpoint_interval")
        if SIGNATURE_FIELD in details and isinstance(value, int) and value > 0:
            declared.add(value)
    return bool(declared) and math.lcm(*declared) % interval == 0


def check_declaration(row: Mapping[str, Any], keys: Mapping[str, str]) -> Declaration | str | None:
    """The declaration in a key-registration/declaration record: a Declaration when it is signed
    by a trusted key, a problem when the signature is bad, None when it declares nothing a
    trusted key vouches for (a record from an older version, or another key's)."""
    details = _parse(row["details"])
    key_id = str(row.get("resource_id") or "")
    if SIGNATURE_FIELD not in details or key_id not in keys:
        return None
    interval, seconds = details.get("checkpoint_interval"), details.get("checkpoint_seconds")
    valid_interval = isinstance(interval, int) and not isinstance(interval, bool) and interval > 0
    if not valid_interval or not isinstance(seconds, int | float):
        return f"record {row['seq']} declares a malformed checkpoint schedule"
    assert isinstance(interval, int)
    message = schedule_message(int(row["seq"]), key_id, interval, seconds)
    if not verify_signature(keys[key_id], str(details[SIGNATURE_FIELD]), message):
        return f"record {row['seq']} declares a checkpoint schedule with a bad signature"
    return Declaration(int(row["seq"]), key_id, interval, float(seconds))


def required_checkpoints(declarations: Iterable[Declaration], last_seq: int) -> range:
    intervals = {declaration.interval for declaration in declarations}
    if not intervals:
        return range(0)
    step = math.lcm(*intervals)
    return range(step, last_seq + 1, step)


def _parse(text: Any) -> dict[str, Any]:
    with contextlib.suppress(TypeError, ValueError):
        value = json.loads(text)
        if isinstance(value, dict):
            return value
    return {}
