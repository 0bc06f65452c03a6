"""The load-time gate for registered versions: before anything is unpickled, the version's
scan must be clean (or under an active override) and the downloaded files must be exactly
the files that were scanned (same paths, same SHA-256)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerflow.errors import RestError
from ledgerflow.governance.scanning.scanner import file_sha256
from ledgerflow.governance.scanning.unpickler import UnsafeModel

if TYPE_CHECKING:
    from ledgerflow.client.client import Client

SCAN_PATH = "/2.0/ledgerflow/model-versions/scan"
LOADABLE = ("clean", "overridden")


def local_digests(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): file_sha256(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _why(scan: dict[str, Any]) -> str:
    for key in ("errors", "findings"):
        items = scan.get(key) or []
        if items:
            first = items[0]
            more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
            return f"{first.get('path')}: {first.get('message')}{more}"
    return "no scan result"


def require_loadable_scan(client: Client, name: str, version: str) -> dict[str, Any] | None:
    """The version's scan when it lets the version load; raise :class:`UnsafeModel` otherwise.
    Asked before downloading (the server also refuses to hand out a blocked version's files).
    ``None`` from a server without the scan API (stock MLflow): nothing to check there, and the
    restricted unpickler still applies to everything loaded from it."""
    try:
        answer = client.transport.call("GET", SCAN_PATH, {"name": name, "version": version})
    except RestError as error:
        if error.error_code == "ENDPOINT_NOT_FOUND":
            return None
        raise
    scan: dict[str, Any] = answer.get("scan") or {}
    status = scan.get("effective_status") or scan.get("status") or "missing"
    if status not in LOADABLE:
        raise UnsafeModel(
            f"Refusing to load model '{name}' version {version}: its scan is '{status}' "
            f"({_why(scan)}). An admin may override it with a reason and an expiry."
        )
    return scan


def check_registered_version(
    client: Client, name: str, version: str, directory: Path, scan: dict[str, Any] | None = None
) -> None:
    """Raise :class:`UnsafeModel` unless ``name`` version ``version`` may be loaded from
    ``directory``: its scan allows it and the files are exactly those scanned. ``scan`` is the
    result :func:`require_loadable_scan` already fetched, if any."""
    scan = scan if scan is not None else require_loadable_scan(client, name, version)
    if scan is None:
        return
    recorded = {str(item["path"]): str(item["sha256"]) for item in scan.get("files") or []}
    actual = local_digests(directory)
    if actual != recorded:
        changed = sorted(
            path for path in set(actual) | set(recorded) if actual.get(path) != recorded.get(path)
        )
        raise UnsafeModel(
            f"Refusing to load model '{name}' version {version}: its files differ from the files "
            f"that were scanned ({', '.join(changed[:5])}). Rescan the version if the change is intended."
        )
