"""The files of a registered model version are immutable through the HTTP API.

A version's signature, scan, SBOM and approvals vouch for the bytes that were there when it
was registered; replacing or deleting them afterwards either breaks serving (the signature no
longer matches) or, on a server without signing, swaps what is served under an approved name.
So every client write (the artifact proxy's PUT and DELETE under /api and /ajax-api, the UI's
upload route) at, below, or (for a delete) above a registered version's storage root is
refused, whatever the caller's role: an admin deletes the version first, then its files.

The rule sits at the HTTP boundary on purpose: the server's own writes at registration (the
SBOM file, ``sbom/cyclonedx.json``) go through the artifact service directly and pass. Stock
MLflow clients upload a model's files before they register it (MLflow 3: upload, finalize the
logged model, then create the version; MLflow 2.22 ``log_model(registered_model_name=...)``
likewise), so no stock flow writes there afterwards.

The versions rooted at a path come from ``model_version_scan_roots`` (recorded by the scan at
registration, removed with the version). Paths are the validator's normal form already
(``//``, ``/./``, percent-encoding, trailing slashes); on a store that does not tell upper
from lower case the comparison folds case too.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from ledgerflow.artifacts.local import LocalArtifactRepository
from ledgerflow.errors import PermissionDenied
from ledgerflow.governance.scanning import version_roots

if TYPE_CHECKING:
    from ledgerflow.artifacts.repository import ArtifactRepository
    from ledgerflow.artifacts.service import Target
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.store.database import Database

REFUSED = "artifacts.write_refused"


def _folds_case(repo: ArtifactRepository) -> bool:
    """Whether the store is case-insensitive: a local root reachable under its swapped case."""
    if not isinstance(repo, LocalArtifactRepository):
        return False  # object stores keep keys exactly
    real = os.path.realpath(repo.root)
    swapped = real.swapcase()
    if swapped == real or not os.path.exists(real):
        return False
    try:
        return os.path.samefile(real, swapped)
    except OSError:
        return False


class FrozenVersionFiles:
    """Refuses client writes that would change a registered version's files."""

    def __init__(self, db: Database, audit: AuditLog | None) -> None:
        self.db = db
        self.audit = audit
        self._folding: dict[int, bool] = {}
        self._lock = threading.Lock()

    def _fold(self, repo: ArtifactRepository) -> bool:
        key = id(repo)
        with self._lock:
            if key not in self._folding:
                self._folding[key] = _folds_case(repo)
            return self._folding[key]

    def check(self, target: Target, operation: str) -> None:
        """Raise PermissionDenied (and audit it) when writing or deleting ``target`` would
        change the files of a registered version."""
        fold = self._fold(target.repo)
        with self.db.read() as conn:
            held = version_roots.holders(conn, target.repo, target.rel, fold_case=fold)
        if not held:
            return
        name, version = held[0]
        if self.audit is not None:
            self.audit.record_event(
                REFUSED,
                "denied",
                resource_type="model_version",
                resource_id=f"{name}/{version}",
                details={
                    "operation": operation,
                    "path": target.rel,
                    "versions": [f"{n}/{v}" for n, v in held],
                },
            )
        raise PermissionDenied(
            f"Refusing to {operation} '{target.rel}': files of registered model '{name}' "
            f"version {version} are immutable; register a new version. (An admin may delete "
            "the version first, then its files.)"
        )
