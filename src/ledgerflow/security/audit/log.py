"""Appending to the audit chain, inside the caller's transaction.

``Database.run_write`` calls :meth:`AuditLog.after_write` on the transaction's connection after
the operation succeeded and before commit, so a change and its record commit or roll back
together. Appends are serialized by the single ``audit_head`` row: on SQLite the write lock is
already held (BEGIN IMMEDIATE); on PostgreSQL and MySQL the row is locked by the UPDATE that
moves it (or ``FOR UPDATE`` when it is read).

The head is not read on every append: this process remembers the tip it last committed and
moves the head with a compare-and-set (``UPDATE ... WHERE seq = remembered AND record_hash =
remembered``). The UPDATE takes the row's lock and, on PostgreSQL and MySQL, checks its condition
against the latest committed head, so if any other writer (thread, replica, CLI) appended in
between it changes nothing and the append falls back to reading the locked head. The remembered
tip is only ever a guess; the database decides.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledgerflow.store.database import CHANGES
from ledgerflow.store.schema import audit_checkpoints, audit_head, audit_keys, audit_log
from ledgerflow.store.upserts import execute_row

from . import context as ctx
from . import schedule
from .chain import GENESIS_HASH, HASHED_FIELDS, canonical_json, digest, record_hash
from .signing import Signer, checkpoint_message
from .timed import TimedCheckpoints

if TYPE_CHECKING:
    from ledgerflow.config import ServerConfig
    from ledgerflow.store.database import Database

log = logging.getLogger(__name__)
SUCCESS = "success"
FAILURE = "failure"
DENIED = "denied"
_DML_COUNT = CHANGES
_PENDING_PART = "ledgerflow_audit_part"
_PENDING_TIP = "ledgerflow_audit_tip"
_HEAD_SET = ("new_seq", "new_hash")
_HEAD_MOVE = ("old_seq", "old_hash", "new_seq", "new_hash")
_RECORD_COLUMNS = ("prev_hash", "record_hash", *HASHED_FIELDS)
_DML_PREFIXES = ("insert", "update", "delete", "replace", "merge")
_LIMITS = {"actor": 256, "action": 128, "resource_type": 64, "resource_id": 512, "source_address": 64}


@dataclass(frozen=True)
class Event:
    """One record's content before it is placed in the chain."""

    actor: str
    action: str
    outcome: str
    resource_type: str | None = None
    resource_id: str | None = None
    source_address: str | None = None
    request_id: str | None = None
    before_digest: str | None = None
    after_digest: str | None = None
    details: Mapping[str, Any] | None = None
    # True when every name in ``details`` is known not to hold a secret (built from a scrubbed
    # request), so the record need not scrub it again.
    details_scrubbed: bool = False


class AuditLog:
    def __init__(
        self,
        db: Database,
        signer: Signer | None = None,
        checkpoint_interval: int = 100,
        checkpoint_seconds: float = 0.0,
    ) -> None:
        self.db = db
        self.signer = signer
        self.checkpoint_interval = checkpoint_interval
        self.checkpoint_seconds = checkpoint_seconds
        # Set on each commit that appended; the timed-checkpoint thread waits on it.
        self._written = threading.Event()
        self._timed: TimedCheckpoints | None = None
        self._lock_head = db.dialect in ("postgresql", "mysql")
        # Built once: constructing SQLAlchemy statements per write cost more than running them.
        head_query = sa.select(audit_head.c.seq, audit_head.c.record_hash).where(audit_head.c.id == 1)
        self._head_query = head_query.with_for_update() if self._lock_head else head_query
        self._insert_record = audit_log.insert()
        self._set_head = (
            audit_head.update()
            .where(audit_head.c.id == 1)
            .values(seq=sa.bindparam("new_seq"), record_hash=sa.bindparam("new_hash"))
        )
        self._move_head = self._set_head.where(
            audit_head.c.seq == sa.bindparam("old_seq"), audit_head.c.record_hash == sa.bindparam("old_hash")
        )
        # The (seq, hash) this process last committed at the end of the chain; a hint only.
        self._tip: tuple[int, str] | None = None
        self._watch_changes()

    def install(self) -> None:
        """Hook into the database's write path and publish this server's public key."""
        self.db.audit_hook = self.after_write
        if self.signer is not None:
            # Another replica may register the same key at the same moment.
            with contextlib.suppress(IntegrityError):
                self.db.run_write(self._register_key, audit=False)
            if self.checkpoint_seconds > 0 and self._timed is None:
                self._timed = TimedCheckpoints(self.checkpoint_now, self.checkpoint_seconds, self._written)
                self._timed.start()

    def close(self) -> None:
        """Stop timed checkpoints, signing the tail written since the last one."""
        if self._timed is not None:
            self._timed.stop()
            self._timed = None

    # -- the write path ---------------------------------------------------------------------

    def _watch_changes(self) -> None:
        # Counts data-changing statements per transaction, so a write transaction that
        # changed nothing (an empty outbox flush) leaves no record.
        @event.listens_for(self.db.engine, "begin")
        def _reset(conn: Connection) -> None:
            conn.info[_DML_COUNT] = 0

        @event.listens_for(self.db.engine, "commit")
        def _committed(conn: Connection) -> None:
            pending = conn.info.pop(_PENDING_PART, None)
            if pending is not None:
                pending[0].parts = pending[1]
            tip = conn.info.pop(_PENDING_TIP, None)
            if tip is not None:
                self._tip = tip
                # A flag read first: Event.set takes a lock, which most commits need not.
                if not self._written.is_set():
                    self._written.set()

        @event.listens_for(self.db.engine, "rollback")
        def _rolled_back(conn: Connection) -> None:
            conn.info.pop(_PENDING_PART, None)
            conn.info.pop(_PENDING_TIP, None)

        @event.listens_for(self.db.engine, "before_cursor_execute")
        def _count(conn: Connection, _cursor: Any, statement: str, *_rest: Any) -> None:
            if statement.lstrip()[:7].lower().startswith(_DML_PREFIXES):
                conn.info[_DML_COUNT] = conn.info.get(_DML_COUNT, 0) + 1

    def after_write(self, conn: Connection, operation: Any, args: tuple[Any, ...], result: Any) -> None:
        context = ctx.current()
        if context is None or context.action is None or not conn.info.get(_DML_COUNT):
            return
        # The part number only counts once the transaction commits: a retried or rolled-back
        # attempt must not make the next record look like a second part.
        part = context.parts + 1
        conn.info[_PENDING_PART] = (context, part)
        raw = context.payload or {}
        request = raw if type(raw) is dict else dict(raw)
        after_digest = _clean_digest(request, args, result)
        if after_digest is None:
            # Something in the change may name a secret: scrub it all before digesting.
            request = ctx.scrub(request)
            after_digest = digest(
                {"request": request, "args": ctx.scrub(list(args)), "result": ctx.scrub(result)}
            )
        details: dict[str, Any] = {"request": ctx.summarize(request, scrubbed=True)}
        if part > 1:
            details["part"] = part
        if context.payload is None:
            # Maintenance commands have no request body: name the store operation instead.
            details["operation"] = getattr(operation, "__name__", "write")
        resource_id = (
            context.resource_id
            or ctx.resource_from_result(context.action, result)
            or next((str(arg) for arg in args if isinstance(arg, str | int)), None)
        )
        self.append(
            conn,
            Event(
                actor=context.actor,
                action=context.action,
                outcome=SUCCESS,
                resource_type=context.resource_type,
                resource_id=resource_id,
                source_address=context.source_address,
                request_id=context.request_id,
                before_digest=context.before_digest,
                after_digest=after_digest,
                details=details,
                details_scrubbed=True,
            ),
        )

    def append(self, conn: Connection, item: Event) -> int:
        """Place ``item`` at the end of the chain in ``conn``'s transaction; returns its seq."""
        guess = conn.info.get(_PENDING_TIP) or self._tip
        fields = None
        if guess is not None:
            fields = self._chained(guess, item)
            moved = execute_row(
                conn, self._move_head, _HEAD_MOVE, (guess[0], guess[1], fields["seq"], fields["record_hash"])
            )
            if moved != 1:
                fields = None
        if fields is None:
            fields = self._chained(self._locked_head(conn), item)
            execute_row(conn, self._set_head, _HEAD_SET, (fields["seq"], fields["record_hash"]))
        execute_row(conn, self._insert_record, _RECORD_COLUMNS, [fields[name] for name in _RECORD_COLUMNS])
        conn.info[_PENDING_TIP] = (fields["seq"], fields["record_hash"])
        if self.signer is not None and fields["seq"] % self.checkpoint_interval == 0:
            self._checkpoint(conn, fields["seq"], fields["record_hash"])
        return int(fields["seq"])

    def _locked_head(self, conn: Connection) -> tuple[int, str]:
        head = conn.execute(self._head_query).first()
        if head is not None:
            return int(head.seq), str(head.record_hash)
        # A database whose head row was removed: restart the head from the last record.
        last = conn.execute(
            sa.select(audit_log.c.seq, audit_log.c.record_hash).order_by(audit_log.c.seq.desc()).limit(1)
        ).first()
        prev_seq, prev_hash = (int(last.seq), str(last.record_hash)) if last else (0, GENESIS_HASH)
        conn.execute(audit_head.insert().values(id=1, seq=prev_seq, record_hash=prev_hash))
        return prev_seq, prev_hash

    def _chained(self, prev: tuple[int, str], item: Event) -> dict[str, Any]:
        fields = self._fields(prev[0] + 1, item)
        fields["prev_hash"] = prev[1]
        fields["record_hash"] = record_hash(prev[1], fields)
        return fields

    @staticmethod
    def _fields(seq: int, item: Event) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "seq": seq,
            "time_ms": int(time.time() * 1000),
            "actor": item.actor,
            "action": item.action,
            "resource_type": item.resource_type,
            "resource_id": item.resource_id,
            "outcome": item.outcome,
            "source_address": item.source_address,
            "request_id": item.request_id,
            "before_digest": item.before_digest,
            "after_digest": item.after_digest,
            "details": canonical_json(
                (item.details or {}) if item.details_scrubbed else ctx.scrub(dict(item.details or {}))
            ),
        }
        # Cut to the column sizes here, before hashing, so the stored row is what was hashed.
        for name, limit in _LIMITS.items():
            if isinstance(fields[name], str):
                fields[name] = fields[name][:limit]
        return fields

    # -- events that are not a change -------------------------------------------------------

    def record_event(
        self,
        action: str,
        outcome: str,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a security event (login, failed login, denied request, token use, ...) in
        its own transaction; who and from where default to the current request's context."""
        context = ctx.current()
        item = Event(
            actor=actor or (context.actor if context else ctx.ANONYMOUS),
            action=action,
            outcome=outcome,
            resource_type=resource_type,
            resource_id=resource_id,
            source_address=context.source_address if context else None,
            request_id=context.request_id if context else None,
            details=details,
        )
        seq: int = self.db.run_write(self.append, item, audit=False)
        return seq

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint_now(self) -> int | None:
        """Sign the current head now; returns its seq (None for an empty log or no key)."""
        if self.signer is None:
            return None

        def sign_head(conn: Connection) -> int | None:
            query = sa.select(audit_head.c.seq, audit_head.c.record_hash).where(audit_head.c.id == 1)
            head = conn.execute(query.with_for_update() if self._lock_head else query).first()
            if head is None or head.seq == 0:
                return None
            done = conn.execute(sa.select(audit_checkpoints.c.seq).where(audit_checkpoints.c.seq == head.seq))
            if done.first() is None:
                self._checkpoint(conn, head.seq, head.record_hash)
            return int(head.seq)

        result: int | None = self.db.run_write(sign_head, audit=False)
        return result

    def _checkpoint(self, conn: Connection, seq: int, hash_: str) -> None:
        assert self.signer is not None
        now = int(time.time() * 1000)
        key_id = self.signer.key_id
        signature = self.signer.sign(checkpoint_message(seq, hash_, now, key_id))
        conn.execute(
            audit_checkpoints.insert().values(
                seq=seq, record_hash=hash_, time_ms=now, key_id=key_id, signature=signature
            )
        )

    def _register_key(self, conn: Connection) -> None:
        """Publish the key and declare this writer's checkpoint schedule, signed with the seq
        of the declaring record (read under the head lock, so the append gets that seq)."""
        assert self.signer is not None
        key_id = self.signer.key_id
        known = conn.execute(sa.select(audit_keys.c.key_id).where(audit_keys.c.key_id == key_id)).first()
        if known is not None and schedule.already_covered(conn, key_id, self.checkpoint_interval):
            return
        seq = self._locked_head(conn)[0] + 1
        details = schedule.signed_details(self.signer, seq, self.checkpoint_interval, self.checkpoint_seconds)
        action = schedule.DECLARE_ACTION
        if known is None:
            action = schedule.REGISTER_ACTION
            conn.execute(
                audit_keys.insert().values(
                    key_id=key_id,
                    public_key=self.signer.public_text,
                    creation_time_ms=int(time.time() * 1000),
                )
            )
        item = Event(
            actor="system",
            action=action,
            outcome=SUCCESS,
            resource_type="audit_key",
            resource_id=key_id,
            source_address=ctx.LOCAL_SOURCE,
            details=details,
        )
        if self.append(conn, item) != seq:
            raise RuntimeError("The audit head moved while the checkpoint schedule was signed.")


def _clean_digest(request: dict[str, Any], args: tuple[Any, ...], result: Any) -> str | None:
    """The change's digest when nothing in it names a secret (the common case: scrubbing
    would change nothing, so the copy it makes is skipped), else None."""
    try:
        import orjson
    except ImportError:
        return None
    change = {"request": request, "args": list(args), "result": result}
    fallback = _TextFallback()
    try:
        encoded = orjson.dumps(change, option=orjson.OPT_SORT_KEYS, default=fallback)
    except TypeError:  # orjson.JSONEncodeError: a key that is not a string, an int beyond 64 bits
        try:
            encoded = orjson.dumps(
                change, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=fallback
            )
        except TypeError:
            return None
    # With every value encoded natively, each mapping, list and tuple the scrub would visit
    # opened its own bracket in the text, so the walk may stop once it has seen that many.
    # (Searching the text itself for the secret words costs more than this walk: 280 against
    # 115 us for a thousand-point log-batch.)
    bound = None if fallback.used else len(encoded.translate(None, _NOT_BRACKETS))
    if not _names_no_secret(change, bound):
        return None
    return hashlib.sha256(encoded).hexdigest()


class _TextFallback:
    """orjson's ``default``: a value it cannot encode is hashed by its text form; notes that
    it happened (such a value, a namedtuple say, may hold mappings that left no bracket)."""

    def __init__(self) -> None:
        self.used = False

    def __call__(self, value: Any) -> str:
        self.used = True
        return str(value)


_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"{[")
# Values the scrub passes through unchanged, tested by exact type before any isinstance.
_LEAVES = frozenset((str, int, float, bool, type(None)))


def _names_no_secret(value: Any, bound: int | None) -> bool:
    """True when :func:`ctx.scrub` would redact nothing in *value*: no mapping it walks into
    (through mapping values and list and tuple items) has a secret-named key. Level by level,
    each level's keys gathered in one set, so a log-batch's thousand items cost a few passes in
    C. *bound*: at most how many mappings, lists and tuples *value* holds, or None."""
    level = [value] if _walked(value) else []
    seen = len(level)
    while level:
        mappings = [item for item in level if type(item) is dict or isinstance(item, Mapping)]
        if mappings:
            try:
                names = set().union(*mappings)
            except TypeError:  # an unhashable key in some odd mapping: let the scrub decide
                return False
            if any(ctx._is_secret_key(str(name)) for name in names):
                return False
        if bound is not None and seen >= bound:
            return True
        below: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict or isinstance(item, Mapping) else item
            below += [
                child
                for child in children
                if type(child) is dict or (type(child) not in _LEAVES and _walked(child))
            ]
        seen += len(below)
        level = below
    return True


def _walked(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


def build_audit_log(db: Database, config: ServerConfig) -> AuditLog:
    """The server's audit log, hooked into ``db``'s writes, its signing key loaded or made."""
    from .signing import default_key_path, load_or_create

    path = config.audit_signing_key_path or default_key_path(config.backend_store_uri)
    signer = load_or_create(path)
    audit = AuditLog(
        db, signer, max(1, config.audit_checkpoint_interval), max(0.0, config.audit_checkpoint_seconds)
    )
    audit.install()
    # Operators need the key id to match checkpoints to keys; `ledgerflow audit public-key`
    # prints the public key for `audit verify --public-key`.
    log.info("Audit checkpoints are signed with key %s from %s", signer.key_id, signer.path)
    return audit
