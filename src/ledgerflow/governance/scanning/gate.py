"""The load-time gate: before anything is unpickled, the scan must be clean (or under an
active override) and the downloaded files must be exactly the files that were scanned (same
paths, same SHA-256).

A registered version is judged by its version scan; a logged model (``models:/m-...``), a
run's model folder (``runs:/...``) and an artifact proxy location by the per-file scans the
server made when the files were uploaded (``GET /2.0/ledgerflow/artifacts/scan``). A file the
server refuses to hand out (its scan blocks) is reported the same way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerflow.errors import RestError
from ledgerflow.governance.scanning.scanner import file_sha256
from ledgerflow.governance.scanning.unpickler import UnsafeModel

if TYPE_CHECKING:
    from ledgerflow.client.client import Client

SCAN_PATH = "/2.0/ledgerflow/model-versions/scan"
FILES_SCAN_PATH = "/2.0/ledgerflow/artifacts/scan"
LOADABLE = ("clean", "overridden")
PROXY_SCHEME = "mlflow-artifacts:"


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
    _same_files(f"model '{name}' version {version}", scan, directory, "Rescan the version")


def _same_files(what: str, scan: dict[str, Any], directory: Path, remedy: str) -> None:
    recorded = {str(item["path"]): str(item["sha256"]) for item in scan.get("files") or []}
    actual = local_digests(directory)
    if actual != recorded:
        changed = sorted(
            path for path in set(actual) | set(recorded) if actual.get(path) != recorded.get(path)
        )
        raise UnsafeModel(
            f"Refusing to load {what}: its files differ from the files that were scanned "
            f"({', '.join(changed[:5])}). {remedy} if the change is intended."
        )


def proxy_path(location: str) -> str | None:
    """The artifact proxy path of an ``mlflow-artifacts:`` location (None for any other)."""
    if not location.startswith(PROXY_SCHEME):
        return None
    rest = location[len(PROXY_SCHEME) :]
    if rest.startswith("//"):
        rest = rest[2:].partition("/")[2]
    return rest.strip("/") or None


def require_loadable_files(client: Client, what: str, location: str) -> dict[str, Any] | None:
    """The per-file scan of the model files at ``location`` when they may be loaded; raise
    :class:`UnsafeModel` otherwise. ``None`` where nothing can be asked: a location outside
    the artifact proxy, or a server without the scan API (stock MLflow); the restricted
    unpickler still applies to everything loaded from there."""
    path = proxy_path(location)
    if path is None:
        return None
    try:
        answer = client.transport.call("GET", FILES_SCAN_PATH, {"path": path})
    except RestError as error:
        if error.error_code == "ENDPOINT_NOT_FOUND":
            return None
        raise
    scan: dict[str, Any] = answer.get("scan") or {}
    status = scan.get("effective_status") or scan.get("status") or "missing"
    if status not in LOADABLE:
        raise UnsafeModel(
            f"Refusing to load {what}: the scan of its files is '{status}' ({_why(scan)}). "
            "An admin may override it with a reason and an expiry."
        )
    return scan


def check_downloaded_files(what: str, scan: dict[str, Any] | None, directory: Path) -> None:
    """Raise :class:`UnsafeModel` unless ``directory`` holds exactly the files scanned."""
    if scan is not None:
        _same_files(what, scan, directory, "Upload the files again")


@contextmanager
def refusals_are_unsafe(what: str) -> Iterator[None]:
    """A download the server refused because of a scan (403), or cut short (it stops sending a
    model file whose bytes are not those it scanned), is an unsafe model: nothing loads."""
    import httpx

    try:
        yield
    except RestError as error:
        if error.error_code == "PERMISSION_DENIED" and "scan" in (error.message or ""):
            raise UnsafeModel(f"Refusing to load {what}: {error.message}") from None
        raise
    except httpx.RemoteProtocolError as error:
        raise UnsafeModel(
            f"Refusing to load {what}: a file download ended early ({error}); the server stops "
            "sending a model file whose bytes differ from the ones it scanned."
        ) from None
