"""Turn a backend store that cannot be opened into one clear :class:`LedgerflowError`.

Driver exceptions (refused connections, bad passwords, a file that is not an SQLite database,
a folder that cannot be made) otherwise surface as SQLAlchemy tracebacks of a hundred lines.
Messages name the store by its URI with any password masked, and keep the driver's first line
of reason, which is what an operator needs to fix it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, DBAPIError

from ledgerflow.errors import InvalidParameter, LedgerflowError, ServiceUnavailable, redact_uri


def _password(uri: str) -> str | None:
    try:
        return sa.engine.make_url(uri).password if "://" in uri else None
    except (ArgumentError, ValueError):
        return None


def driver_reason(error: BaseException, uri: str) -> str:
    """The driver's own one-line explanation, never containing the URI's password."""
    orig = getattr(error, "orig", None) or error
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    # PyMySQL puts (code, message) in args; psycopg and sqlite3 have the message in str().
    text = str(args[1]) if len(args) >= 2 and isinstance(args[0], int) else str(orig)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    reason = lines[0] if lines else type(orig).__name__
    if len(lines) > 1 and lines[0].endswith("failed:"):
        reason = f"{lines[0]} {lines[1]}"
    password = _password(uri)
    if password:
        reason = reason.replace(password, "***")
    return reason


def _sqlite_path(uri: str) -> str | None:
    if uri.startswith("sqlite:///"):
        return uri[len("sqlite:///") :]
    if "://" not in uri:
        return uri
    return None


def explain(uri: str, error: BaseException) -> LedgerflowError:
    """The user-facing error for *error*, met while opening the store at *uri*."""
    shown = redact_uri(uri)
    path = _sqlite_path(uri)
    if isinstance(error, OSError):
        target = error.filename or path or shown
        return InvalidParameter(
            f"Could not create the backend store at {shown}: {error.strerror or error} ({target})."
        )
    reason = driver_reason(error, uri)
    if path is not None:
        if "not a database" in reason or "malformed" in reason:
            return InvalidParameter(f"{path} is not an SQLite database ({reason}).")
        return InvalidParameter(f"Could not open the SQLite backend store {path}: {reason}")
    return ServiceUnavailable(f"Could not connect to the backend store {shown}: {reason}")


@contextmanager
def store_errors(uri: str) -> Iterator[None]:
    """Re-raise driver and file-system failures inside the block as one clear error."""
    try:
        yield
    except LedgerflowError:
        raise
    except (DBAPIError, OSError) as error:
        raise explain(uri, error) from None
