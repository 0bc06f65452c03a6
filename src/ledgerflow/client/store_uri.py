"""Checks on tracking and backend store URIs made before anything is opened or created.

A malformed ``http://`` URI is refused with one line instead of an httpx traceback, and
commands that only read can ask whether a local store exists, so that a mistyped path
answers "No Ledgerflow store at ..." rather than quietly creating an empty store there.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse, urlsplit

from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist, redact_uri

LOCAL_DB_FILE = "ledgerflow.db"
SUPPORTED_SCHEMES = "http(s)://, postgresql://, mysql://, sqlite:///, file:// or a plain folder path"


def check_http_uri(uri: str) -> None:
    """Refuse an ``http(s)://`` URI that no HTTP client could connect to."""
    shown = redact_uri(uri)
    try:
        parts = urlsplit(uri)
        # .port parses lazily and raises for a non-numeric or out-of-range port.
        _ = parts.port
    except ValueError as error:
        raise InvalidParameter(f"Invalid tracking URI '{shown}': {error}.") from None
    if not parts.hostname:
        raise InvalidParameter(f"Invalid tracking URI '{shown}': it names no host.")


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other URI)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(uri[len("sqlite:///") :]).split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def local_store_file(tracking_uri: str) -> Path | None:
    """The SQLite file a local tracking URI (path, ``file:``, ``sqlite:///``) stores into."""
    if tracking_uri.startswith("sqlite:"):
        return sqlite_file(tracking_uri)
    if "://" in tracking_uri and not tracking_uri.startswith("file:"):
        return None
    folder = unquote(urlparse(tracking_uri).path) if tracking_uri.startswith("file:") else tracking_uri
    return Path(folder).expanduser() / LOCAL_DB_FILE


def check_store_folder(folder: Path, uri: str) -> None:
    """The folder a local store lives in must be a folder (or not exist yet), not a file."""
    if folder.exists() and not folder.is_dir():
        raise InvalidParameter(
            f"Tracking URI '{redact_uri(uri)}': {folder} is a file, not a folder (a path tracking "
            f"URI names a folder holding {LOCAL_DB_FILE}; for an SQLite file use sqlite:///<file>)."
        )


def require_existing_store(tracking_uri: str) -> None:
    """For read-only commands: a local tracking URI must name a store that already exists."""
    db_file = local_store_file(tracking_uri)
    if db_file is None:
        return
    if not tracking_uri.startswith("sqlite:"):
        check_store_folder(db_file.parent, tracking_uri)
        if not db_file.is_file():
            raise ResourceDoesNotExist(f"No Ledgerflow store at {db_file.parent}")
        return
    if not db_file.is_file():
        raise ResourceDoesNotExist(f"No Ledgerflow store at {db_file}")


def require_existing_backend_store(backend_store_uri: str) -> None:
    """For maintenance commands on ``--backend-store-uri``: an SQLite store must exist."""
    if "://" not in backend_store_uri:
        db_file: Path | None = Path(backend_store_uri)
    else:
        db_file = sqlite_file(backend_store_uri)
    if db_file is not None and not db_file.is_file():
        raise ResourceDoesNotExist(f"No Ledgerflow store at {db_file}")
