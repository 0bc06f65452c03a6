"""Per-file scanning: every stored artifact file is judged when its upload completes, and no
file whose scan blocks is handed to a client.

* Upload (the proxy's PUT, the UI's upload, our client's in-process store): the bytes are
  probed as they stream (:mod:`.probe`); a model file is spooled and scanned before it becomes
  visible, and its result is stored in the transaction that records its digest. Data files
  are recorded as such without a scan. A write below a registered version's storage marks the
  version's result changed, and the version is rescanned.
* Download (:meth:`FileScans.serve`): the file's result must describe the bytes being served
  (same SHA-256, same size, current scanner and allow-list for model files) and be clean or
  overridden; a file never scanned (stored before scanning existed, or written behind the
  server's back) is scanned first, and an unscannable one is refused (fail closed). A model
  file must be the bytes scanned: a different size, or (hashed before the headers when it is at
  most ``HASH_FIRST_BYTES``, or modified after its scan) a different SHA-256, is a 403 naming
  the change. A large file is hashed as it streams and the stream is cut before its last chunk
  (the connection closes short of its Content-Length) if it changed while being sent, so even
  a stock client that unpickles what it downloads never gets the bytes whole.
* A directory (a logged model, a run's ``model/`` folder) is judged by its files together
  (:meth:`FileScans.aggregate`), which is what ``load_model`` checks before unpickling.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from ledgerflow.artifacts.digests import Digest, StreamHasher
from ledgerflow.artifacts.repository import FileStream
from ledgerflow.artifacts.service import Download, Target
from ledgerflow.errors import InvalidParameter, PermissionDenied, ResourceDoesNotExist
from ledgerflow.governance.scanning import file_results, version_roots
from ledgerflow.governance.scanning.file_results import OVERRIDDEN, UNSCANNED, FileScan
from ledgerflow.governance.scanning.probe import DATA, MODEL, SNIFF_BYTES, FileProbe, may_execute
from ledgerflow.governance.scanning.report import CLEAN, UNSCANNABLE, Limits
from ledgerflow.governance.scanning.results import manifest_digest
from ledgerflow.governance.scanning.scanner import SCANNER_VERSION, scan_stream
from ledgerflow.security.audit import context as audit_context
from ledgerflow.tracking.clock import now_ms

if TYPE_CHECKING:
    from ledgerflow.artifacts.repository import ArtifactRepository
    from ledgerflow.artifacts.service import ArtifactService
    from ledgerflow.governance.scanning.allowlist import AllowList
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.store.database import Database

log = logging.getLogger(__name__)
UPLOAD = "upload"
DOWNLOAD = "download"
READ = "read"
RESCAN = "rescan"
LOADABLE = (CLEAN, OVERRIDDEN)
OVERRIDE_HINT = "An admin may override it with a reason and an expiry."
# Model files up to this size are read and hashed before the headers go out (and served from
# that copy); larger ones only when their modification time is after the scan.
HASH_FIRST_BYTES = 4 * 1024 * 1024
# A file's modification time trails the scan a little on a normal upload (the rename and
# flush come after the result is made; object stores stamp whole seconds).
MODIFIED_SLACK_MS = 2000

VersionsChanged = Callable[[list[version_roots.VersionKey]], None]


class ArtifactChanged(Exception):
    """A model file's bytes differ from the bytes that were scanned; the stream is cut."""


def list_files(repo: ArtifactRepository, prefix: str) -> dict[str, int | None]:
    """Every file path below ``prefix`` (``prefix`` itself when it names a file) and its size."""
    found: dict[str, int | None] = {}
    pending = [prefix]
    while pending:
        directory = pending.pop()
        for info in repo.list_dir(directory):
            if info.is_dir:
                pending.append(info.path)
            else:
                found[info.path] = info.file_size
    if not found and prefix:
        size = repo.file_size(prefix)
        if size is not None:
            return {prefix: size}
    return dict(sorted(found.items()))


def _resumed(taken: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from taken
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()


def _peek(chunks: Iterator[bytes], want: int) -> tuple[bytes, Iterator[bytes]]:
    """At least ``want`` bytes from the front (fewer at the end), and the whole stream again."""
    taken: list[bytes] = []
    size = 0
    for chunk in chunks:
        taken.append(chunk)
        size += len(chunk)
        if size >= want:
            break
    return b"".join(taken), _resumed(taken, chunks)


class _UploadScan:
    """The scanning side of one upload (an :class:`UploadObserver`)."""

    def __init__(self, scans: FileScans, target: Target, size_hint: int | None) -> None:
        self.scans = scans
        self.target = target
        self.probe = FileProbe(target.rel.rpartition("/")[2], size_hint=size_hint)
        self.touched: list[version_roots.VersionKey] = []

    def write(self, data: bytes) -> None:
        self.probe.write(data)

    def finish(self, digest: Digest) -> Callable[[Connection], None]:
        try:
            scan = self.scans.judge(self.probe, digest.sha256, digest.size)
        finally:
            self.probe.close()
        target, now = self.target, now_ms()

        def record(conn: Connection) -> None:
            file_results.save(conn, target.location, scan, UPLOAD, now)
            self.touched = version_roots.touched(conn, target.repo, target.rel)
            version_roots.mark_changed(conn, self.touched, now)

        return record

    def committed(self) -> None:
        if self.touched:
            self.scans.versions_changed(self.touched)

    def abort(self) -> None:
        self.probe.close()


class _DeleteScan:
    def __init__(self, scans: FileScans, target: Target) -> None:
        self.scans = scans
        self.target = target
        self.touched: list[version_roots.VersionKey] = []

    def write(self, conn: Connection) -> None:
        file_results.forget_tree(conn, self.target.location)
        self.touched = version_roots.touched(conn, self.target.repo, self.target.rel, directory=True)
        version_roots.mark_changed(conn, self.touched, now_ms())

    def committed(self) -> None:
        if self.touched:
            self.scans.versions_changed(self.touched)


class FileScans:
    """The artifact service's storage hooks: scans at upload, the download gate, aggregates."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactService,
        allowlist: AllowList,
        limits: Limits,
        audit: AuditLog | None,
        versions_changed: VersionsChanged,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.allowlist = allowlist
        self.limits = limits
        self.audit = audit
        self.versions_changed = versions_changed

    # -- hooks -------------------------------------------------------------------------------

    def upload(self, target: Target, size_hint: int | None = None) -> _UploadScan:
        return _UploadScan(self, target, size_hint)

    def deleting(self, target: Target) -> _DeleteScan:
        return _DeleteScan(self, target)

    # -- judging -----------------------------------------------------------------------------

    def judge(self, probe: FileProbe, sha256: str, size: int) -> FileScan:
        """The result for the bytes the probe saw (scanned now when they are a model file)."""
        kind, content = probe.finish()
        if kind == DATA:
            if probe.unsure:
                return FileScan(
                    sha256, size, MODEL, UNSCANNED, SCANNER_VERSION, self.allowlist.version, {"formats": []}
                )
            return FileScan.of_data(sha256, size, SCANNER_VERSION, self.allowlist.version)
        assert content is not None
        report = scan_stream(content, probe.name, size, sha256, self.allowlist, self.limits)
        return FileScan.of_report(report)

    def is_stale(self, row: Any) -> bool:
        if row.status == UNSCANNED or row.scanner_version != SCANNER_VERSION:
            return True
        return bool(row.kind == MODEL and row.allowlist_version != self.allowlist.version)

    def scan_stored(self, target: Target, trigger: str) -> FileScan:
        """Read a stored file back, judge it and store the result."""
        scan = self._read_and_judge(target, spool_all=False)
        if scan.status == UNSCANNED:
            # A zip end record behind a data head: read it again, spooled, to scan it whole.
            scan = self._read_and_judge(target, spool_all=True)
        now = now_ms()
        self.db.run_write(file_results.save, target.location, scan, trigger, now)
        return scan

    def rejudge(self, target: Target, trigger: str) -> None:
        """Bring a stored result up to this scanner: data is judged again by its first bytes
        alone (a scanner upgrade must not re-read every image and table in the store), and
        anything else, or data whose first bytes now look like a model file, is scanned again."""
        with self.db.read() as conn:
            row = file_results.load_many(conn, [target.location]).get(target.location)
        if row is not None and row.kind == DATA and row.status == CLEAN:
            stream = target.repo.open_read(target.rel)
            try:
                head, rest = _peek(stream.chunks, SNIFF_BYTES + 1)
            finally:
                stream.close()
            close = getattr(rest, "close", None)
            if close is not None:
                close()
            whole = stream.size <= SNIFF_BYTES
            if stream.size == int(row.size) and not may_execute(head, whole=whole, size=stream.size):
                self.db.run_write(
                    file_results.refresh,
                    target.location,
                    SCANNER_VERSION,
                    self.allowlist.version,
                    trigger,
                    now_ms(),
                )
                return
        self.scan_stored(target, trigger)

    def _read_and_judge(self, target: Target, *, spool_all: bool) -> FileScan:
        stream = target.repo.open_read(target.rel)
        probe = FileProbe(target.rel.rpartition("/")[2], spool_all=spool_all, size_hint=stream.size)
        hasher = StreamHasher()
        try:
            try:
                for chunk in stream.chunks:
                    hasher.update(chunk)
                    probe.write(chunk)
            finally:
                stream.close()
            digest = hasher.digest()
            return self.judge(probe, digest.sha256, digest.size)
        except ResourceDoesNotExist:
            raise
        except Exception as error:  # fail closed: what cannot be read is not vouched for
            digest = hasher.digest()
            body = {
                "errors": [{"path": probe.name, "kind": "unreadable", "message": f"cannot read: {error}"}]
            }
            return FileScan(
                digest.sha256, digest.size, MODEL, UNSCANNABLE, SCANNER_VERSION, self.allowlist.version, body
            )
        finally:
            probe.close()

    # -- the download gate -------------------------------------------------------------------

    def _needs_scan(self, row: Any, recorded: Any, size: int) -> bool:
        if row is None or self.is_stale(row) and (row.kind == MODEL or row.status == UNSCANNED):
            return True
        if int(row.size) != size:
            return True  # changed behind the server's back
        return self._uploaded_since(row, recorded)

    @staticmethod
    def _uploaded_since(row: Any, recorded: Any) -> bool:
        """A digest recorded after the scan, for other bytes: written by a replica without
        scanning. (A digest older than the scan is the upload's; the scan read the bytes.)"""
        return bool(
            recorded is not None
            and recorded.sha256 != row.sha256
            and int(recorded.created_time) >= row.scanned_at
        )

    def serve(self, target: Target) -> Download:
        location = target.location
        for attempt in range(2):
            # Under the commit lock: an upload of this path commits its file and its result
            # together, so the result read here describes the file opened here.
            with self.artifacts.commit_lock(location):
                with self.db.read() as conn:
                    row, recorded = file_results.served(conn, location)
                stream = target.repo.open_read(target.rel)
            chunks = stream.chunks
            if (
                row is not None
                and row.kind == MODEL
                and row.status != UNSCANNED
                and int(row.size) != stream.size
                and not self._uploaded_since(row, recorded)
            ):
                # A model file changed behind the server's back: what was scanned (and maybe
                # approved) is gone; a rescan would vouch for bytes nobody uploaded.
                stream.close()
                self._refuse_changed(target, row, f"{stream.size} bytes, {int(row.size)} were scanned")
            if not self._needs_scan(row, recorded, stream.size) and row.kind == DATA:
                # Data needs no hashing on the way out; its first bytes must still be data
                # (a pickle swapped in behind the server's back is caught here).
                head, chunks = _peek(chunks, SNIFF_BYTES + 1)
                if may_execute(head, whole=stream.size <= SNIFF_BYTES, size=stream.size):
                    row = None
            if row is None or self._needs_scan(row, recorded, stream.size):
                stream.close()
                if attempt == 1:
                    self._refuse(target, UNSCANNABLE, "the file changed while it was being scanned")
                self.scan_stored(target, DOWNLOAD)
                continue
            status = file_results.effective(row, now_ms())
            if status not in LOADABLE:
                stream.close()
                self._refuse(
                    target,
                    status,
                    file_results.why([file_results.to_public(row, "", 0, stale=False)]),
                )
            digest = None if recorded is None else Digest(int(recorded.size), str(recorded.sha256))
            if row.kind == MODEL:
                expected = str(row.sha256)
                if stream.size <= HASH_FIRST_BYTES or self._modified_after_scan(stream.modified_ms, row):
                    chunks = self._hashed_first(target, stream, row)
                else:
                    chunks = self._verified(chunks, expected, target)
                digest = Digest(int(row.size), expected)  # what the stream is checked against
            return Download(target.rel.rpartition("/")[2], stream.size, chunks, digest)
        raise AssertionError("unreachable")

    @staticmethod
    def _modified_after_scan(modified_ms: int | None, row: Any) -> bool:
        return modified_ms is not None and modified_ms > int(row.scanned_at) + MODIFIED_SLACK_MS

    def _hashed_first(self, target: Target, stream: FileStream, row: Any) -> Iterator[bytes]:
        """Hash the whole file before anything is sent: a 403 naming the change when it is not
        the scanned bytes. A small file is then served from the copy just hashed; a large one
        is opened again and still checked as it streams (it may change once more)."""
        expected = str(row.sha256)
        keep: list[bytes] | None = [] if stream.size <= HASH_FIRST_BYTES else None
        hasher = hashlib.sha256()
        try:
            for chunk in stream.chunks:
                hasher.update(chunk)
                if keep is not None:
                    keep.append(chunk)
        finally:
            stream.close()
        actual = hasher.hexdigest()
        if actual != expected:
            self._refuse_changed(target, row, f"SHA-256 {actual}, {expected} was scanned")
        if keep is not None:
            return iter(keep)
        again = target.repo.open_read(target.rel)
        if again.size != stream.size:
            again.close()
            self._refuse_changed(target, row, f"{again.size} bytes, {int(row.size)} were scanned")
        return self._verified(again.chunks, expected, target)

    def _refuse_changed(self, target: Target, row: Any, change: str) -> None:
        if self.audit is not None:
            self.audit.record_event(
                "scans.file_changed_after_scan",
                "denied",
                resource_type="artifact",
                resource_id=target.rel,
                details={"scanned_sha256": str(row.sha256), "change": change, "when": "before_send"},
            )
        raise PermissionDenied(
            f"Refusing to download '{target.rel}': the file changed after it was scanned ({change}). "
            "Upload it again (or restore the scanned bytes) to have it scanned."
        )

    def _refuse(self, target: Target, status: str, why: str) -> None:
        if self.audit is not None:
            self.audit.record_event(
                "scans.file_download_refused",
                "denied",
                resource_type="artifact",
                resource_id=target.rel,
                details={"status": status},
            )
        raise PermissionDenied(
            f"Refusing to download '{target.rel}': its scan is '{status}' ({why}). {OVERRIDE_HINT}"
        )

    def _verified(self, chunks: Iterator[bytes], expected: str, target: Target) -> Iterator[bytes]:
        """The stream, holding back its last chunk until the bytes hash to ``expected``."""
        hasher = hashlib.sha256()
        held: bytes | None = None
        try:
            for chunk in chunks:
                hasher.update(chunk)
                if held is not None:
                    yield held
                held = chunk
            if hasher.hexdigest() != expected:
                if self.audit is not None:
                    self.audit.record_event(
                        "scans.file_changed_after_scan",
                        "denied",
                        resource_type="artifact",
                        resource_id=target.rel,
                        details={"scanned_sha256": expected, "served_sha256": hasher.hexdigest()},
                    )
                raise ArtifactChanged(
                    f"'{target.rel}' changed after it was scanned: the download was cut short."
                )
            if held is not None:
                yield held
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    # -- directories -------------------------------------------------------------------------

    def _rows_for(self, repo: ArtifactRepository, prefix: str) -> list[tuple[str, str, Any]]:
        """(relative path, location, fresh row) of every file below ``prefix``; files without a
        usable result are scanned now."""
        sizes = list_files(repo, prefix)
        locations = {path: repo.location(path) for path in sizes}
        with self.db.read() as conn:
            rows = file_results.load_many(conn, locations.values())
        found = []
        for path, size in sizes.items():
            location = locations[path]
            row = rows.get(location)
            if (
                row is None
                or row.status == UNSCANNED
                or (row.kind == MODEL and self.is_stale(row))
                or (size is not None and int(row.size) != size)
            ):
                self.scan_stored(Target(repo, path), READ)
                with self.db.read() as conn:
                    row = file_results.load_many(conn, [location]).get(location)
            relative = path.rpartition("/")[2] if path == prefix else path[len(prefix) :].lstrip("/")
            found.append((relative, location, row))
        return found

    def aggregate(self, repo: ArtifactRepository, prefix: str) -> dict[str, Any]:
        """The files below ``prefix`` judged together: the worst of their statuses."""
        now = now_ms()
        files = []
        for relative, _location, row in self._rows_for(repo, prefix):
            if row is not None:
                files.append(file_results.to_public(row, relative, now, stale=self.is_stale(row)))
        status = file_results.worst(item["status"] for item in files)
        effective = file_results.worst(item["effective_status"] for item in files)
        return {
            "status": status,
            "effective_status": effective,
            "scanner_version": SCANNER_VERSION,
            "allowlist_version": self.allowlist.version,
            "manifest_digest": manifest_digest({item["path"]: item["sha256"] for item in files}),
            "files": files,
            "findings": [f for item in files for f in item["findings"]],
            "errors": [e for item in files for e in item["errors"]],
        }

    def override(self, repo: ArtifactRepository, prefix: str, reason: str, expires_at: int) -> dict[str, Any]:
        """Let the blocking files below ``prefix`` through, each bound to its digest."""
        blocking = [
            row for _rel, _loc, row in self._rows_for(repo, prefix) if row is not None and row.status != CLEAN
        ]
        if not blocking:
            raise InvalidParameter("Every file there scanned clean: there is nothing to override.")
        context = audit_context.current()
        actor = context.actor if context is not None else audit_context.local_actor()
        self.db.run_write(
            lambda conn: file_results.set_override(
                conn, blocking, reason=reason, by=actor, at=now_ms(), expires_at=expires_at
            )
        )
        return self.aggregate(repo, prefix)
