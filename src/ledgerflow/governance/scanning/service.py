"""Scanning on the server: every registered version is scanned, the result is stored on it,
and the policy engine reads it as the ``scan`` facts.

* Registration: a listener on ``model_version.created`` scans the version's files (its
  storage location, which is where both our client and stock MLflow clients uploaded the
  artifacts before creating the version).
* Staleness: a result made by another scanner or allow-list version is rescanned when it is
  next read (API, load gate, facts), and in the background after a server start that finds
  such results (:mod:`.rescan_job`), so an upgrade re-judges every version.
* Change: a file written or deleted below a version's storage marks its result changed (in
  the write's transaction) and the version is rescanned (:mod:`.files` does the per-file
  scanning of every upload and gates every download).
* Override: an admin may let a blocking result pass, with a reason and an expiry; it is bound
  to the manifest digest it was granted on (and to each blocking file's digest, so stock
  clients can download the files) and is audited like every change.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledgerflow.errors import InvalidParameter, PermissionDenied
from ledgerflow.governance.facts import Facts
from ledgerflow.governance.scanning import results, version_roots
from ledgerflow.governance.scanning.allowlist import AllowList, default_allowlist
from ledgerflow.governance.scanning.files import FileScans, list_files
from ledgerflow.governance.scanning.gate import LOADABLE
from ledgerflow.governance.scanning.report import CLEAN, Limits, ScanReport
from ledgerflow.governance.scanning.scanner import SCANNER_VERSION, scan_path
from ledgerflow.registry.events import RegistryEvent
from ledgerflow.registry.model_versions import require_version
from ledgerflow.registry.registered_models import require_model
from ledgerflow.security.audit import context as audit_context
from ledgerflow.tracking.clock import now_ms

if TYPE_CHECKING:
    from ledgerflow.artifacts.repository import ArtifactRepository
    from ledgerflow.artifacts.service import ArtifactService, Target
    from ledgerflow.config import ServerConfig
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.store.database import Database

log = logging.getLogger(__name__)
MAX_OVERRIDE_MS = 90 * 24 * 3600 * 1000
MAX_REASON = 2000
REGISTRATION = "registration"
RESCAN = "rescan"
STALE = "stale"
CHANGED = "changed"
UPGRADE = "upgrade"


class ScanningService:
    """Scans versions, stores results, answers the ``scan`` facts (a FactSource)."""

    namespace = "scan"

    def __init__(
        self, db: Database, config: ServerConfig, artifacts: ArtifactService, audit: AuditLog | None = None
    ) -> None:
        self.db = db
        self.audit = audit
        self.artifacts = artifacts
        self.allowlist: AllowList = default_allowlist().with_globals(config.scan_allowed_globals)
        self.limits = Limits()
        self.second_opinion = config.scan_second_opinion
        self._empty: tempfile.TemporaryDirectory[str] | None = None
        self._empty_lock = threading.Lock()
        self.files = FileScans(db, artifacts, self.allowlist, self.limits, audit, self.rescan_changed)
        self.upgrade_job: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Queue the background rescan of results made by another scanner or allow-list."""
        from ledgerflow.governance.scanning.rescan_job import UpgradeRescan

        if self.upgrade_job is None:
            self.upgrade_job = UpgradeRescan(self)
            self.upgrade_job.start()

    def stop(self) -> None:
        if self.upgrade_job is not None:
            self.upgrade_job.stop()
            self.upgrade_job = None

    # -- scanning --------------------------------------------------------------------------

    def on_event(self, event: RegistryEvent) -> None:
        if event.name == "model_version.created":
            self.scan_version(str(event.data["name"]), str(event.data["version"]), REGISTRATION)

    def _locate(self, name: str, version: str | int) -> tuple[int, int, str, str]:
        with self.db.read() as conn:
            model = require_model(conn, name)
            row = require_version(conn, model, version)
            return int(row.registered_model_id), int(row.version), str(model.name), str(row.storage_location)

    def _listing(self, location: str) -> tuple[ArtifactRepository, str, list[str]]:
        """The repository, prefix and every file path below ``location`` (any of the server's
        artifact roots)."""
        repo, prefix = self.artifacts.roots.resolve(location)
        found: list[str] = []
        pending = [prefix]
        while pending:
            directory = pending.pop()
            for info in repo.list_dir(directory):
                if info.is_dir:
                    pending.append(info.path)
                else:
                    found.append(info.path)
        return repo, prefix, found

    def root_of(self, location: str) -> tuple[ArtifactRepository, str]:
        return self.artifacts.roots.resolve(location)

    @staticmethod
    def _materialise(repo: ArtifactRepository, prefix: str, paths: list[str], target: Path) -> dict[str, str]:
        """Copy ``paths`` to ``target``, hashing each on the way: the digests (relative path ->
        SHA-256) of exactly the bytes the scanner will read, so it does not hash them again."""
        digests: dict[str, str] = {}
        for path in paths:
            relative = path[len(prefix) :].lstrip("/") if prefix else path
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            hasher = hashlib.sha256()
            stream = repo.open_read(path)
            try:
                with destination.open("wb") as out:
                    for block in stream.chunks:
                        hasher.update(block)
                        out.write(block)
            finally:
                stream.close()
            digests[relative] = hasher.hexdigest()
        return digests

    def _empty_root(self) -> Path:
        """An empty directory kept for this service's lifetime (removed with it); nothing is
        ever written below it."""
        # Under a lock: a second directory made by a racing first use would drop (and so
        # remove) the one another thread is scanning.
        with self._empty_lock:
            if self._empty is None:
                self._empty = tempfile.TemporaryDirectory(prefix="ledgerflow-scan-empty-")
            root = Path(self._empty.name) / "model"
            root.mkdir(parents=True, exist_ok=True)  # again if a tmp cleaner removed it
        return root

    def _unreadable(self, location: str, error: Exception) -> ScanReport:
        report = ScanReport(SCANNER_VERSION, self.allowlist.version)
        report.errors.append(results_error(location, f"the version's files cannot be read: {error}"))
        return report

    def _scan_location(self, location: str) -> tuple[ScanReport, str | None]:
        """The report, and the repository location of the version's root (None when the
        location is not under any of the server's roots)."""
        try:
            repo, prefix, paths = self._listing(location)
        except Exception as error:  # fail closed: files we cannot fetch are not vouched for
            return self._unreadable(location, error), None
        root_location = repo.location(prefix)
        if not paths:
            # Nothing to copy: scan this service's one empty directory rather than making and
            # removing a temporary one per version (that costs more than the whole scan).
            report = scan_path(
                self._empty_root(), self.allowlist, self.limits, second_opinion=self.second_opinion
            )
            return report, root_location
        with tempfile.TemporaryDirectory(prefix="ledgerflow-scan-") as tmp:
            root = Path(tmp) / "model"
            root.mkdir()
            try:
                digests = self._materialise(repo, prefix, paths, root)
            except Exception as error:  # fail closed: files we cannot fetch are not vouched for
                return self._unreadable(location, error), root_location
            report = scan_path(
                root, self.allowlist, self.limits, second_opinion=self.second_opinion, digests=digests
            )
            return report, root_location

    def scan_version(self, name: str, version: str | int, trigger: str) -> dict[str, Any]:
        model_id, number, model_name, location = self._locate(name, version)
        started = now_ms()
        report, root_location = self._scan_location(location)

        def save(conn: Connection) -> None:
            results.save(conn, model_id, number, report, trigger, now_ms(), started=started)
            if root_location is not None:
                version_roots.record(conn, model_id, number, root_location)

        bound = (
            nullcontext()
            if audit_context.current() is not None
            else audit_context.bind(
                audit_context.local_command("scanning.scan_version", resource_type="model_version")
            )
        )
        with bound:
            context = audit_context.current()
            if context is not None and context.resource_id is None:
                context.resource_id = f"{model_name}/{number}"
            try:
                self.db.run_write(save)
            except IntegrityError:
                # Another scan of the same version inserted the row first; update it.
                self.db.run_write(save)
        if report.status != CLEAN:
            log.warning("Model %s version %s scanned %s", model_name, number, report.status)
        with self.db.read() as conn:
            return self._public(results.load(conn, model_id, number), model_name, number)

    # -- reading ---------------------------------------------------------------------------

    def is_stale(self, row: Any) -> bool:
        return bool(
            row.scanner_version != SCANNER_VERSION
            or row.allowlist_version != self.allowlist.version
            or row.changed_at is not None
        )

    def rescan_changed(self, keys: list[version_roots.VersionKey]) -> None:
        """Rescan versions whose files changed (their results are marked changed already, so
        a failure here leaves them stale, and they are rescanned when next read)."""
        for model_id, number in keys:
            name = results.model_name(self.db, model_id)
            if name is None:
                continue
            try:
                self.scan_version(name, number, CHANGED)
            except Exception:  # the write that changed the files has committed: never undo it
                log.exception("Rescanning model %s version %s after a change failed", name, number)

    def result(self, name: str, version: str | int, *, rescan_stale: bool = True) -> dict[str, Any]:
        """The stored result; a missing or stale one is (re)made first."""
        model_id, number, model_name, _location = self._locate(name, version)
        with self.db.read() as conn:
            row = results.load(conn, model_id, number)
        if rescan_stale and (row is None or self.is_stale(row)):
            return self.scan_version(model_name, number, STALE if row is not None else REGISTRATION)
        return self._public(row, model_name, number)

    def _public(self, row: Any, model_name: str, number: int) -> dict[str, Any]:
        if row is None:
            return {
                "name": model_name,
                "version": str(number),
                "status": "missing",
                "effective_status": "missing",
            }
        return results.to_public(row, model_name, number, now_ms(), stale=self.is_stale(row))

    def enforce(self, name: str, version: str | int, use: str) -> None:
        """Refuse handing out the files of a version whose scan blocks (anything but clean or
        an active override). Stock MLflow clients unpickle whatever they download, so the
        server is the last place that can stop them; each refusal is audited."""
        found = self.result(name, version)
        status = found.get("effective_status") or found.get("status") or "missing"
        if status in LOADABLE:
            return
        if self.audit is not None:
            self.audit.record_event(
                f"scans.{use}_refused",
                "denied",
                resource_type="model_version",
                resource_id=f"{found['name']}/{found['version']}",
                details={"status": status},
            )
        raise PermissionDenied(
            f"Refusing to {use} model '{found['name']}' version {found['version']}: its scan is "
            f"'{status}' (GET /api/2.0/ledgerflow/model-versions/scan shows why). An admin may "
            "override it with a reason and an expiry."
        )

    def facts_for(self, name: str, version: int) -> Facts:
        try:
            found = self.result(name, version)
        except Exception:
            return {}
        return {
            "status": found["status"],
            "effective_status": found.get("effective_status"),
            "scanner_version": found.get("scanner_version"),
            "allowlist_version": found.get("allowlist_version"),
            "manifest_digest": found.get("manifest_digest"),
            "findings": list(found.get("findings") or []) + list(found.get("errors") or []),
            "override": found.get("override") if (found.get("override") or {}).get("active") else None,
        }

    # -- files outside the registry (logged models, run artifacts) ---------------------------

    def files_result(self, target: Target) -> dict[str, Any]:
        """The files below ``target`` (a logged model's or run's directory, or one file)."""
        return self.files.aggregate(target.repo, target.rel)

    def override_files(self, target: Target, reason: str | None, expires_at: int | None) -> dict[str, Any]:
        text, expires = checked_override(reason, expires_at)
        return self.files.override(target.repo, target.rel, text, expires)

    # -- override --------------------------------------------------------------------------

    def override(
        self, name: str, version: str | int, reason: str | None, expires_at: int | None
    ) -> dict[str, Any]:
        model_id, number, model_name, _location = self._locate(name, version)
        text, expires_at = checked_override(reason, expires_at)
        now = now_ms()
        current = self.result(model_name, number)
        if current["status"] == CLEAN:
            raise InvalidParameter(
                f"Model '{name}' version {version} scanned clean: there is nothing to override."
            )
        context = audit_context.current()
        actor = context.actor if context is not None else audit_context.local_actor()

        def record(conn: Connection) -> None:
            results.set_override(
                conn,
                model_id,
                number,
                reason=text,
                by=actor,
                at=now,
                expires_at=expires_at,
                digest=current.get("manifest_digest"),
            )

        self.db.run_write(record)
        # Stock clients fetch the version's files one by one through the artifact proxy: the
        # blocking ones get the same override, bound to their digests.
        try:
            repo, prefix = self.root_of(self._locate(model_name, number)[3])
            if any(True for _ in list_files(repo, prefix)):
                self.files.override(repo, prefix, text, expires_at)
        except InvalidParameter:
            pass  # no blocking file (the version blocks on a directory-level finding)
        return self.result(model_name, number, rescan_stale=False)


def checked_override(reason: str | None, expires_at: int | None) -> tuple[str, int]:
    """The reason and expiry of an override, refused unless both are given and sane."""
    text = (reason or "").strip()
    if not text:
        raise InvalidParameter("An override needs a 'reason'.")
    if len(text) > MAX_REASON:
        raise InvalidParameter(f"The override reason is longer than {MAX_REASON} characters.")
    now = now_ms()
    if expires_at is None:
        raise InvalidParameter("An override needs 'expires_at' (epoch milliseconds or an ISO date).")
    if expires_at <= now:
        raise InvalidParameter("The override's 'expires_at' must be in the future.")
    if expires_at - now > MAX_OVERRIDE_MS:
        raise InvalidParameter("An override may last at most 90 days.")
    return text, expires_at


def results_error(path: str, message: str) -> Any:
    from ledgerflow.governance.scanning.report import Finding

    return Finding(path, "unreadable", message)


def build_scanning(
    db: Database,
    config: ServerConfig,
    artifacts: ArtifactService,
    events: Any,
    facts: Any,
    audit: AuditLog | None = None,
) -> ScanningService:
    """The scanning service, subscribed to registrations and registered as the ``scan`` facts."""
    service = ScanningService(db, config, artifacts, audit)
    events.subscribe(service.on_event)
    facts.register(service)
    artifacts.hooks = service.files
    return service
