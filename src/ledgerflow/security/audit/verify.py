"""Walk the audit chain and say precisely where it was tampered with.

Checks, in seq order: seq continuity (a gap is a deleted record), each record's link to its
predecessor (a broken link with an intact record hash means records were moved), each
record's own hash (a mismatch means the record was edited), the chain head (deleted tail
records), every checkpoint (its record hash and its Ed25519 signature), that every checkpoint
the signed schedule demands exists (see ``schedule``), and, given an operator's anchor kept
outside the database, that the anchored record is still there unchanged.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import audit_checkpoints, audit_head, audit_keys, audit_log

from . import schedule
from .chain import GENESIS_HASH, record_hash
from .signing import anchor_message, checkpoint_message, verify_signature

PAGE = 2000
# How far ahead to look for the record that belongs at a broken link (records moved apart).
REORDER_WINDOW = 64


@dataclass(frozen=True)
class Anchor:
    """A (seq, record_hash) an operator keeps outside the database: signed by ``audit anchor``,
    or unsigned when taken from the last record of an ``audit export`` (trusted for where it is
    kept, e.g. a SIEM)."""

    seq: int
    record_hash: str
    time_ms: int
    key_id: str | None
    signature: str | None


@dataclass
class Report:
    records: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    # How far the log can be trusted when a problem was found, in words, for the CLI.
    trusted: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(conn: Connection) -> Iterator[Mapping[str, Any]]:
    last = None
    while True:
        query = sa.select(audit_log).order_by(audit_log.c.seq).limit(PAGE)
        if last is not None:
            query = query.where(audit_log.c.seq > last)
        page = [dict(row._mapping) for row in conn.execute(query)]
        yield from page
        if len(page) < PAGE:
            return
        last = page[-1]["seq"]


def verify(
    conn: Connection, public_keys: Mapping[str, str] | None = None, anchor: Anchor | None = None
) -> Report:
    """Verify the chain in ``conn``'s database. ``public_keys`` (key id → key) overrides the
    keys stored in the database, for verification that trusts nothing stored beside the log;
    ``anchor`` is a signed record position kept outside it (it catches a wiped log)."""
    report = Report()
    keys = dict(public_keys) if public_keys is not None else stored_keys(conn)
    checkpoint_seqs = {row.seq for row in conn.execute(sa.select(audit_checkpoints.c.seq))}
    hashes: dict[int, str] = {}
    declaring: list[Mapping[str, Any]] = []
    anchored_hash: str | None = None
    # A bounded look-ahead buffer, so a log of any length streams through in pages.
    source = _rows(conn)
    window: deque[Mapping[str, Any]] = deque(itertools.islice(source, REORDER_WINDOW + 1))
    expected_seq, prev_hash = 1, GENESIS_HASH
    while window:
        row = window[0]
        problem = _check_position(window, expected_seq, prev_hash)
        if problem:
            report.problems.append(problem)
            report.trusted = f"{report.records} records verified before the first problem"
            return report
        if row["seq"] in checkpoint_seqs:
            hashes[row["seq"]] = row["record_hash"]
        if row["action"] in schedule.ACTIONS:
            declaring.append(row)
        if anchor is not None and row["seq"] == anchor.seq:
            anchored_hash = row["record_hash"]
        report.records += 1
        expected_seq, prev_hash = row["seq"] + 1, row["record_hash"]
        window.popleft()
        window.extend(itertools.islice(source, 1))
    # From here on the records link up; what fails is their agreement with signed statements.
    report.trusted = (
        f"the {report.records} records link up, but records after the last valid signed "
        "checkpoint or anchor may have been rewritten"
    )
    problem = _check_head(conn, expected_seq, prev_hash)
    if problem is None:
        problem = _check_anchor(anchor, anchored_hash, expected_seq - 1, keys)
    if problem:
        report.problems.append(problem)
        return report
    for checkpoint in conn.execute(sa.select(audit_checkpoints).order_by(audit_checkpoints.c.seq)):
        problem = _check_checkpoint(dict(checkpoint._mapping), hashes, keys)
        if problem:
            report.problems.append(problem)
            return report
        report.checkpoints += 1
    # Last: the checkpoints that should exist but do not (deleted to hide a rewrite).
    problem = _check_schedule(declaring, checkpoint_seqs, expected_seq - 1, keys, public_keys is not None)
    if problem:
        report.problems.append(problem)
    return report


def _check_head(conn: Connection, expected_seq: int, prev_hash: str) -> str | None:
    head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.record_hash)).first()
    if head is not None and head.seq >= expected_seq:
        if head.seq == expected_seq:
            return f"record {expected_seq} is missing (deleted from the end of the log)"
        return f"records {expected_seq} to {head.seq} are missing (deleted from the end)"
    if head is not None and head.seq == expected_seq - 1 and head.seq > 0 and head.record_hash != prev_hash:
        return f"record {head.seq} does not match the chain head (the chain was rewritten)"
    return None


def _check_anchor(
    anchor: Anchor | None, anchored_hash: str | None, last_seq: int, keys: Mapping[str, str]
) -> str | None:
    if anchor is None:
        return None
    if anchor.signature is not None and anchor.key_id is not None:
        public = keys.get(anchor.key_id)
        if public is None:
            return f"the anchor is signed by an unknown key {anchor.key_id}"
        message = anchor_message(anchor.seq, anchor.record_hash, anchor.time_ms, anchor.key_id)
        if not verify_signature(public, anchor.signature, message):
            return "the anchor has a bad signature"
    if anchor.seq > last_seq:
        return (
            f"record {anchor.seq} named by the anchor is missing: the log was truncated or rewritten "
            f"before seq {anchor.seq} (it ends at {last_seq})"
        )
    if anchored_hash != anchor.record_hash:
        return (
            f"record {anchor.seq} differs from the anchor: the log was truncated or rewritten "
            f"before seq {anchor.seq}"
        )
    return None


def _check_schedule(
    declaring: list[Mapping[str, Any]],
    checkpoint_seqs: set[int],
    last_seq: int,
    keys: Mapping[str, str],
    pinned: bool,
) -> str | None:
    declarations: list[schedule.Declaration] = []
    for row in declaring:
        found = schedule.check_declaration(row, keys)
        if isinstance(found, str):
            return found
        if found is not None:
            declarations.append(found)
    if last_seq > 0 and not declarations:
        whose = "the given public keys" if pinned else "a key stored in the database"
        return (
            f"no checkpoint schedule signed by {whose} is in the log: the signing key's "
            "registration record was deleted or the log replaced (a log written only by a version "
            "that did not declare schedules gets one when a server next starts on it)"
        )
    for seq in schedule.required_checkpoints(declarations, last_seq):
        if seq not in checkpoint_seqs:
            return f"checkpoint at {seq} is missing (deleted, or the records after it were rewritten)"
    return None


def _check_position(window: deque[Mapping[str, Any]], expected_seq: int, prev_hash: str) -> str | None:
    row = window[0]
    seq = row["seq"]
    if seq > expected_seq:
        if seq == expected_seq + 1:
            return f"record {expected_seq} is missing (deleted)"
        return f"records {expected_seq} to {seq - 1} are missing (deleted)"
    intact = record_hash(row["prev_hash"], row) == row["record_hash"]
    if row["prev_hash"] == prev_hash:
        return None if intact else f"record {seq} was edited"
    # The link is broken. If a later record links here, records were moved.
    for later in itertools.islice(window, 1, None):
        if later["prev_hash"] == prev_hash:
            return f"records {seq} and {later['seq']} are out of order"
    if not intact:
        return f"record {seq} was edited"
    if expected_seq == 1:
        return f"record {seq} does not start the chain (earlier records were deleted or replaced)"
    return (
        f"record {seq} does not follow record {seq - 1}: record {seq - 1} was replaced (edited with "
        f"its hash recomputed) or records before {seq} were deleted and renumbered"
    )


def _check_checkpoint(
    checkpoint: Mapping[str, Any], hashes: Mapping[int, str], keys: Mapping[str, str]
) -> str | None:
    seq = checkpoint["seq"]
    if seq not in hashes:
        return f"checkpoint at {seq} refers to a missing record"
    if hashes[seq] != checkpoint["record_hash"]:
        return f"checkpoint at {seq} does not match record {seq} (the chain was rewritten)"
    public = keys.get(checkpoint["key_id"])
    if public is None:
        return f"checkpoint at {seq} is signed by an unknown key {checkpoint['key_id']}"
    message = checkpoint_message(seq, checkpoint["record_hash"], checkpoint["time_ms"], checkpoint["key_id"])
    if not verify_signature(public, checkpoint["signature"], message):
        return f"checkpoint at {seq} has a bad signature"
    return None


def stored_keys(conn: Connection) -> dict[str, str]:
    return {
        row.key_id: row.public_key
        for row in conn.execute(sa.select(audit_keys.c.key_id, audit_keys.c.public_key))
    }
