"""The rescan after a scanner or allow-list upgrade, queued when a server starts.

A result made by another scanner or allow-list version is rescanned when it is next read
anyway; this job re-judges the rest in the background so that a version nobody reads (and a
file nobody downloads) does not keep an old verdict.

* It never delays start-up: the server is serving (``/health`` answers) while it runs in one
  daemon thread, one item at a time with a pause in between, so requests keep the CPU.
* One replica at a time: a lease row in ``scan_jobs`` is claimed with a conditional UPDATE
  (atomic on every backend) and renewed while the job works; another replica that finds it
  held waits for it to lapse (its holder may have died) and otherwise does nothing.
* It survives interruption: the work list is "results that are still stale", read in small
  batches; every rescan stores a current result, so a restarted job simply finds less to do.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledgerflow.artifacts.service import Target
from ledgerflow.errors import InvalidParameter, LedgerflowError, ResourceDoesNotExist
from ledgerflow.governance.scanning import file_results
from ledgerflow.governance.scanning.scanner import SCANNER_VERSION
from ledgerflow.security.audit import context as audit_context
from ledgerflow.store.governance.scanning_schema import artifact_scans, model_version_scans, scan_jobs
from ledgerflow.store.schema import registered_models
from ledgerflow.tracking.clock import now_ms

if TYPE_CHECKING:
    from ledgerflow.governance.scanning.service import ScanningService

log = logging.getLogger(__name__)
JOB = "upgrade-rescan"
LEASE_MS = 60_000
BATCH = 16
PAUSE_SECONDS = 0.02
_j = scan_jobs.c
_v = model_version_scans.c


class UpgradeRescan:
    def __init__(
        self,
        service: ScanningService,
        *,
        lease_ms: int = LEASE_MS,
        batch: int = BATCH,
        pause_seconds: float = PAUSE_SECONDS,
    ) -> None:
        self.service = service
        self.db = service.db
        self.lease_ms = lease_ms
        self.batch = batch
        self.pause_seconds = pause_seconds
        self.owner = f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.target = f"{SCANNER_VERSION}@{service.allowlist.version}"[:128]
        self.processed = 0
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ledgerflow-scan-upgrade", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        try:
            self._work()
        except Exception:  # a background job must not take the server down
            log.exception("The start-up rescan of stale scan results failed")
        finally:
            self.finished.set()

    # -- what is stale ---------------------------------------------------------------------

    def _stale_versions(self, conn: Connection, limit: int) -> list[tuple[str, int]]:
        query = (
            sa.select(registered_models.c.name, _v.version)
            .join(registered_models, registered_models.c.registered_model_id == _v.registered_model_id)
            .where(
                sa.or_(
                    _v.scanner_version != SCANNER_VERSION,
                    _v.allowlist_version != self.service.allowlist.version,
                    _v.changed_at.is_not(None),
                )
            )
            .order_by(_v.registered_model_id, _v.version)
            .limit(limit)
        )
        return [(str(row.name), int(row.version)) for row in conn.execute(query)]

    def _stale_files(self, conn: Connection, limit: int) -> list[tuple[str, str]]:
        rows = file_results.stale_rows(conn, SCANNER_VERSION, self.service.allowlist.version, limit)
        return [(str(row.location_hash), str(row.location)) for row in rows]

    def pending(self) -> bool:
        with self.db.read() as conn:
            return bool(self._stale_versions(conn, 1) or self._stale_files(conn, 1))

    # -- the lease -------------------------------------------------------------------------

    def claim(self) -> bool:
        def claim(conn: Connection) -> bool:
            now = now_ms()
            values = {
                "owner": self.owner,
                "lease_until": now + self.lease_ms,
                "target": self.target,
                "started_at": now,
                "finished_at": None,
                "done": 0,
            }
            taken = conn.execute(
                scan_jobs.update()
                .where(_j.job == JOB, sa.or_(_j.lease_until < now, _j.owner == self.owner))
                .values(**values)
            )
            if taken.rowcount == 1:
                return True
            if conn.execute(sa.select(_j.job).where(_j.job == JOB)).first() is not None:
                return False  # held by another replica
            conn.execute(scan_jobs.insert().values(job=JOB, **values))
            return True

        try:
            return bool(self.db.run_write(claim, audit=False))
        except IntegrityError:
            return False  # another replica inserted the row first: it holds the lease

    def _renew(self) -> bool:
        def renew(conn: Connection) -> bool:
            kept = conn.execute(
                scan_jobs.update()
                .where(_j.job == JOB, _j.owner == self.owner)
                .values(lease_until=now_ms() + self.lease_ms, done=self.processed)
            )
            return kept.rowcount == 1

        return bool(self.db.run_write(renew, audit=False))

    def _release(self, *, finished: bool) -> None:
        """Give the lease up: done, or stopping early (so the next start resumes at once; a
        replica that dies instead holds it until it lapses)."""

        def release(conn: Connection) -> None:
            conn.execute(
                scan_jobs.update()
                .where(_j.job == JOB, _j.owner == self.owner)
                .values(lease_until=0, finished_at=now_ms() if finished else None, done=self.processed)
            )

        self.db.run_write(release, audit=False)

    # -- the work --------------------------------------------------------------------------

    def _work(self) -> None:
        if not self.pending():
            return
        while not self.claim():
            # Another replica is on it; take over only if its lease lapses (it died).
            if self._stop.wait(max(self.lease_ms / 2000, 0.05)) or not self.pending():
                return
        log.warning("Rescanning model files judged by an older scanner or allow-list (%s)", self.target)
        # What this run has done already: an item still stale after its rescan (a result that
        # could not be stored) is not tried again and again.
        seen: set[tuple[str, str, int]] = set()
        while not self._stop.is_set():
            with self.db.read() as conn:
                items = [("version", name, number) for name, number in self._stale_versions(conn, self.batch)]
                items += [("file", location, 0) for _key, location in self._stale_files(conn, self.batch)]
            items = [item for item in items if item not in seen]
            if not items:
                break
            for item in items:
                if self._stop.is_set():
                    self._release(finished=False)
                    return
                seen.add(item)
                kind, name, number = item
                if kind == "version":
                    self._version(name, number)
                else:
                    self._file(name)
                self.processed += 1
                if not self._renew():
                    log.warning("The scan rescan lease was taken over; stopping here")
                    return
                self._stop.wait(self.pause_seconds)
        self._release(finished=not self._stop.is_set())
        log.warning("Rescanned %d stale scan results", self.processed)

    def _version(self, name: str, number: int) -> None:
        command = audit_context.local_command("scanning.upgrade_rescan", resource_type="model_version")
        with audit_context.bind(command):
            try:
                self.service.scan_version(name, number, "upgrade")
            except LedgerflowError as error:  # deleted meanwhile
                log.info("Skipping the rescan of %s version %s: %s", name, number, error)

    def _file(self, location: str) -> None:
        try:
            repo, rel = self.service.artifacts.roots.resolve(location)
        except InvalidParameter:
            rel = ""
        if not rel:
            # No longer under any of this server's roots: nothing can serve it; forget it.
            self.db.run_write(file_results.forget, location, audit=False)
            return
        try:
            self.service.files.rejudge(Target(repo, rel), "upgrade")
        except ResourceDoesNotExist:
            self.db.run_write(file_results.forget, location, audit=False)


__all__ = ["JOB", "UpgradeRescan", "artifact_scans"]
