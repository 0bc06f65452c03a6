"""The authenticated caller, as every later layer (authorization, audit, handlers) sees it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from ledgerflow.errors import PermissionDenied, Unauthenticated

READ = "read"
WRITE = "write"
ADMIN = "admin"
ALL_SCOPES = frozenset({READ, WRITE, ADMIN})
# A scope grants itself and every scope below it.
_IMPLIED = {READ: frozenset({READ}), WRITE: frozenset({READ, WRITE}), ADMIN: ALL_SCOPES}


def expand_scopes(scopes: frozenset[str] | set[str] | tuple[str, ...]) -> frozenset[str]:
    result: set[str] = set()
    for scope in scopes:
        result |= _IMPLIED.get(scope, frozenset())
    return frozenset(result)


@dataclass(frozen=True)
class Identity:
    """Who a request runs as.

    ``scopes`` is what this credential may do (a read-only token has ``{"read"}``; a password
    or session login has everything its user has). ``is_admin`` is already narrowed by the
    scopes: an admin's read-only token is not an admin credential. ``via`` says how the
    caller authenticated (``basic``, ``token``, ``session``, ``local``).
    """

    user_id: str | None
    username: str
    kind: str = "user"
    is_admin: bool = False
    scopes: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    via: str = "local"
    token_id: str | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def local_identity(username: str) -> Identity:
    """The single user of an unauthenticated local server (`ledgerflow ui`)."""
    return Identity(None, username, "user", True, ALL_SCOPES, frozenset(), "local")


_CURRENT: ContextVar[Identity | None] = ContextVar("ledgerflow_identity", default=None)


def current_identity() -> Identity | None:
    """The identity of the request being served (also inside the threadpool), if any."""
    return _CURRENT.get()


def require_identity() -> Identity:
    identity = _CURRENT.get()
    if identity is None:
        raise Unauthenticated("This call needs an authenticated caller.")
    return identity


def require_admin() -> Identity:
    identity = require_identity()
    if not identity.is_admin:
        raise PermissionDenied("Only an administrator may do this.")
    return identity


@contextmanager
def bind_identity(identity: Identity) -> Iterator[Identity]:
    token = _CURRENT.set(identity)
    try:
        yield identity
    finally:
        _CURRENT.reset(token)
