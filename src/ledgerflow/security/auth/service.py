"""The authentication service: users, passwords, tokens, sessions, lockout, bootstrap.

One instance per server (on ``Services.auth``). Verified credentials are cached in memory
keyed by a hash of the credential; see :mod:`ledgerflow.security.auth.cache` for how revocation
stays bounded across replicas.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from typing import TYPE_CHECKING, Any

from ledgerflow.errors import InvalidParameter, PermissionDenied, ResourceDoesNotExist
from ledgerflow.security.auth import tokens as tk
from ledgerflow.security.auth.cache import CredentialCache
from ledgerflow.security.auth.identity import ADMIN, ALL_SCOPES, READ, WRITE, Identity, expand_scopes
from ledgerflow.security.auth.lockout import AddressLimiter, Lockout
from ledgerflow.security.auth.passwords import Passwords
from ledgerflow.security.auth.policy import PasswordPolicy, check_username
from ledgerflow.store import auth as store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

    from ledgerflow.config import ServerConfig
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.store.database import Database

log = logging.getLogger("ledgerflow.auth")

USER = "user"
SERVICE = "service"
MAX_TOKEN_DAYS = 366
DEFAULT_TOKEN_DAYS = 30
_TOUCH_EVERY_MS = 60_000


def no_admin_message(config: ServerConfig) -> str:
    return (
        "Authentication is on but no administrator exists yet. Create one with "
        "`ledgerflow users create-admin --backend-store-uri <uri>`, or set "
        f"{config.bootstrap_password_env} (and optionally {config.bootstrap_username_env}) "
        "and restart the server."
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class AuthService:
    def __init__(
        self,
        db: Database,
        config: ServerConfig,
        audit: AuditLog | None = None,
        passwords: Passwords | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.audit = audit
        self.passwords = passwords or Passwords()
        self.policy = PasswordPolicy()
        self.lockout = Lockout(
            db, config.lockout_threshold, config.lockout_window_seconds, config.lockout_seconds
        )
        self.limiter = AddressLimiter()
        self.cache = CredentialCache(min(config.revocation_check_seconds, 5.0))
        self._admin_known = False
        self._admin_checked = 0.0

    # -- events -----------------------------------------------------------------------------

    def _event(self, action: str, outcome: str, actor: str | None = None, **details: Any) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record_event(
                action, outcome, resource_type="user", resource_id=actor, actor=actor, details=details or None
            )
        except Exception:  # a broken audit write must not turn a login into a 500
            log.exception("Could not record audit event %s", action)

    # -- users ------------------------------------------------------------------------------

    def has_admin(self) -> bool:
        """Whether an enabled admin exists (a positive answer is kept; a negative one is re-read)."""
        if self._admin_known:
            return True
        now = time.monotonic()
        if now - self._admin_checked < 1.0:
            return False
        with self.db.read() as conn:
            self._admin_known = store.admin_exists(conn)
        self._admin_checked = now
        return self._admin_known

    def create_user(
        self,
        username: str,
        password: str | None,
        *,
        is_admin: bool = False,
        kind: str = USER,
        actor: str | None = None,
    ) -> dict[str, Any]:
        username = check_username(username)
        if kind not in (USER, SERVICE):
            raise InvalidParameter("A user's kind is 'user' or 'service'.")
        if kind == SERVICE:
            if password:
                raise InvalidParameter("Service accounts have no password; give them tokens.")
            hashed = None
        else:
            self.policy.check(password or "", username)
            hashed = self.passwords.hash(password or "")
        now = _now_ms()
        user_id = self.db.run_write(store.insert_user, username, kind, hashed, is_admin, now)
        self._event("auth.create_user", "success", actor, username=username, kind=kind, is_admin=is_admin)
        return {
            "user_id": user_id,
            "username": username,
            "kind": kind,
            "is_admin": is_admin,
            "creation_time": now,
        }

    def list_users(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = store.list_users(conn)
        return [_user_json(row) for row in rows]

    def set_disabled(self, username: str, disabled: bool = True, actor: str | None = None) -> None:
        self.db.run_write(store.set_disabled, username, _now_ms(), disabled)
        self._admin_known = False
        self.cache.clear()
        self._event(
            "auth.disable_user" if disabled else "auth.enable_user", "success", actor, username=username
        )

    def change_password(self, username: str, password: str, actor: str | None = None) -> None:
        with self.db.read() as conn:
            row = store.user_by_name(conn, username)
        if row is None or row.kind != USER:
            raise ResourceDoesNotExist(f"User '{username}' does not exist.")
        self.policy.check(password, username)
        self.db.run_write(store.set_password_hash, row.user_id, self.passwords.hash(password), _now_ms())
        # The old password stops at once here (other replicas re-check within the bound).
        self.cache.clear()
        self._event("auth.change_password", "success", actor, username=username)

    def set_admin(self, username: str, is_admin: bool, actor: str | None = None) -> None:
        """Promote or demote a user; cached credentials pick it up within the revocation bound."""
        self.db.run_write(store.set_admin, username, is_admin, _now_ms())
        self._admin_known = False
        self.cache.clear()
        self._event("auth.set_admin", "success", actor, username=username, is_admin=is_admin)

    def check_password(self, username: str, password: str) -> bool:
        """Whether *password* is *username*'s current one (for self-service changes)."""
        with self.db.read() as conn:
            row = store.user_by_name(conn, username)
        usable = row is not None and row.kind == USER and row.disabled_time is None
        return self.passwords.verify(row.password_hash if usable and row is not None else None, password)

    def bootstrap(self) -> str | None:
        """Create the first admin from the environment if none exists; returns its name."""
        password = os.environ.get(self.config.bootstrap_password_env)
        if not password or self.has_admin():
            return None
        username = os.environ.get(self.config.bootstrap_username_env) or "admin"
        with self.db.read() as conn:
            existing = store.user_by_name(conn, username)
        if existing is not None:
            return None
        self.create_user(username, password, is_admin=True, actor="bootstrap")
        self._admin_known = True
        return username

    def _user_identity(self, conn: Connection, row: Row[Any], via: str) -> Identity:
        scopes = ALL_SCOPES if row.is_admin else frozenset({READ, WRITE})
        groups = store.groups_of(conn, row.user_id)
        return Identity(row.user_id, row.username, row.kind, bool(row.is_admin), scopes, groups, via)

    # -- passwords (HTTP Basic and the login form) -------------------------------------------

    def basic_cached(self, username: str, password: str) -> Identity | None:
        entry = self.cache.fresh("b:" + _sha(f"{username}:{password}"))
        return entry.identity if entry else None

    def authenticate_password(
        self, username: str, password: str, address: str | None = None
    ) -> Identity | None:
        """Check a username and password; None for any failure, after the same work."""
        key = "b:" + _sha(f"{username}:{password}")
        entry = self.cache.get(key)
        if entry is not None:
            with self.db.read() as conn:
                row = store.user_by_id(conn, entry.identity.user_id or "")
                if (
                    row is not None
                    and row.disabled_time is None
                    and row.password_hash == entry.extra
                    and bool(row.is_admin) == entry.identity.is_admin
                ):
                    self.cache.confirm(entry)
                    return entry.identity
            self.cache.drop(key)
        if self.limiter.blocked(address):
            self.passwords.verify(None, password)
            return None
        with self.db.read() as conn:
            row = store.user_by_name(conn, username) if isinstance(username, str) else None
        locked = self.lockout.is_locked(username)
        usable = row is not None and row.kind == USER and row.disabled_time is None and not locked
        # Every path runs exactly one Argon2 verification, so timing says nothing about the name.
        matched = self.passwords.verify(row.password_hash if usable and row is not None else None, password)
        if not (usable and matched) or row is None:
            self.limiter.failed(address)
            now_locked = self.lockout.record_failure(username) if not locked else True
            self._event("auth.login", "failure", None, username=username[:256], locked=now_locked)
            return None
        self.lockout.clear(username)
        with self.db.read() as conn:
            identity = self._user_identity(conn, row, "basic")
        self.cache.put(key, identity, self.config.basic_cache_seconds, row.password_hash)
        self._event("auth.login", "success", row.username, via="password")
        return identity

    # -- tokens -----------------------------------------------------------------------------

    def token_cached(self, token: str) -> Identity | None:
        entry = self.cache.fresh("t:" + tk.token_hash(token))
        return entry.identity if entry else None

    def authenticate_token(self, token: str) -> Identity | None:
        hashed = tk.token_hash(token)
        key = "t:" + hashed
        with self.db.read() as conn:
            row = store.token_by_hash(conn, hashed)
            now = _now_ms()
            valid = (
                row is not None
                and row.revoked_time is None
                and row.disabled_time is None
                and (row.expiration_time is None or row.expiration_time > now)
            )
            if not valid or row is None:
                self.cache.drop(key)
                return None
            groups = store.groups_of(conn, row.owner_id)
        entry = self.cache.get(key)
        if entry is not None and entry.identity.is_admin and not row.is_admin:
            # Demoted since the token was cached: build the identity afresh.
            self.cache.drop(key)
            entry = None
        if entry is not None:
            self.cache.confirm(entry)
        else:
            scopes = expand_scopes(frozenset(row.scopes.split(",")))
            if not row.is_admin:
                scopes -= {ADMIN}
            identity = Identity(
                row.owner_id,
                row.username,
                row.owner_kind,
                bool(row.is_admin) and ADMIN in scopes,
                scopes,
                groups,
                "token",
                row.token_id,
            )
            ttl = (row.expiration_time - now) / 1000 if row.expiration_time else 86400.0
            entry = self.cache.put(key, identity, ttl)
            self._event("auth.token_use", "success", row.username, token_id=row.token_id)
        if row.last_used_time is None or now - row.last_used_time > _TOUCH_EVERY_MS:
            self.db.run_write(store.touch_token, row.token_id, now, audit=False)
        return entry.identity

    def create_token(
        self,
        caller: Identity,
        name: str,
        scopes: object,
        expires_in_days: object = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise InvalidParameter("A token needs a name of 1-256 characters.")
        wanted = tk.parse_scopes(scopes)
        days = DEFAULT_TOKEN_DAYS if expires_in_days in (None, "") else expires_in_days
        try:
            days_f = float(days)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidParameter("expires_in_days must be a number of days.") from None
        if not 0 < days_f <= MAX_TOKEN_DAYS:
            raise InvalidParameter(f"expires_in_days must be more than 0 and at most {MAX_TOKEN_DAYS}.")
        owner_name = username or caller.username
        if owner_name != caller.username and not caller.is_admin:
            raise PermissionDenied("Only an administrator may create tokens for another user.")
        with self.db.read() as conn:
            owner = store.user_by_name(conn, owner_name)
        if owner is None or owner.disabled_time is not None:
            raise ResourceDoesNotExist(f"User '{owner_name}' does not exist.")
        if ADMIN in wanted and not owner.is_admin:
            raise PermissionDenied("Only an administrator's token may carry the admin scope.")
        if not caller.has_scope(WRITE) and not caller.is_admin:
            raise PermissionDenied("A read-only credential cannot create tokens.")
        token_id, secret = tk.new_token()
        now = _now_ms()
        values = {
            "token_id": token_id,
            "token_hash": tk.token_hash(secret),
            "owner_id": owner.user_id,
            "name": name.strip(),
            "kind": tk.SERVICE if owner.kind == SERVICE else tk.PERSONAL,
            "scopes": tk.format_scopes(wanted),
            "created_by": caller.username,
            "creation_time": now,
            "expiration_time": now + int(days_f * 86400 * 1000),
            "last_used_time": None,
            "revoked_time": None,
        }
        self.db.run_write(store.insert_token, values)
        self._event("auth.create_token", "success", caller.username, token_id=token_id, owner=owner_name)
        info = _token_json({**values, "username": owner_name})
        return {"token": info, "secret": secret}

    def list_tokens(self, caller: Identity, everyone: bool = False) -> list[dict[str, Any]]:
        if everyone and not caller.is_admin:
            raise PermissionDenied("Only an administrator may list every user's tokens.")
        with self.db.read() as conn:
            rows = store.list_tokens(conn, None if everyone else caller.user_id or "")
        return [_token_json(dict(row._mapping)) for row in rows]

    def revoke_token(self, caller: Identity, token_id: str) -> None:
        with self.db.read() as conn:
            row = store.token_by_id(conn, str(token_id))
        if row is None or (row.owner_id != caller.user_id and not caller.is_admin):
            raise ResourceDoesNotExist(f"Token '{token_id}' does not exist.")
        self.db.run_write(store.revoke_token, row.token_id, _now_ms())
        self.cache.drop("t:" + row.token_hash)
        self._event("auth.revoke_token", "success", caller.username, token_id=row.token_id)

    # -- UI sessions ------------------------------------------------------------------------

    def session_cached(self, secret: str) -> tuple[Identity, str] | None:
        entry = self.cache.fresh("s:" + _sha(secret))
        return (entry.identity, str(entry.extra)) if entry else None

    def authenticate_session(self, secret: str) -> tuple[Identity, str] | None:
        hashed = _sha(secret)
        with self.db.read() as conn:
            row = store.session_by_hash(conn, hashed)
            now = _now_ms()
            if row is None or row.revoked_time is not None or row.disabled_time is not None:
                self.cache.drop("s:" + hashed)
                return None
            if row.expiration_time <= now:
                self.cache.drop("s:" + hashed)
                return None
            entry = self.cache.get("s:" + hashed)
            if entry is not None and entry.identity.is_admin != bool(row.is_admin):
                entry = None  # promoted or demoted since the session was cached
            if entry is None:
                user = store.user_by_id(conn, row.user_id)
                assert user is not None
                entry = self.cache.put(
                    "s:" + hashed,
                    self._user_identity(conn, user, "session"),
                    (row.expiration_time - now) / 1000,
                    row.csrf_token,
                )
            else:
                self.cache.confirm(entry)
        return entry.identity, str(entry.extra)

    def start_session(self, identity: Identity) -> tuple[str, str]:
        """A new session for ``identity``: (cookie secret, CSRF token)."""
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = _now_ms()
        values = {
            "session_hash": _sha(secret),
            "user_id": identity.user_id,
            "csrf_token": csrf,
            "creation_time": now,
            "expiration_time": now + int(self.config.session_seconds * 1000),
            "revoked_time": None,
        }
        self.db.run_write(store.insert_session, values, audit=False)
        self._event("auth.session_start", "success", identity.username)
        return secret, csrf

    def end_session(self, secret: str, identity: Identity | None) -> None:
        hashed = _sha(secret)
        self.db.run_write(store.revoke_session, hashed, _now_ms(), audit=False)
        self.cache.drop("s:" + hashed)
        if identity is not None:
            self._event("auth.logout", "success", identity.username)


def _user_json(row: Row[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "user_id": row.user_id,
        "username": row.username,
        "kind": row.kind,
        "is_admin": bool(row.is_admin),
        "creation_time": row.creation_time,
    }
    if row.disabled_time is not None:
        out["disabled_time"] = row.disabled_time
    return out


def _token_json(values: dict[str, Any]) -> dict[str, Any]:
    out = {
        "token_id": values["token_id"],
        "name": values["name"],
        "username": values["username"],
        "kind": values["kind"],
        "scopes": sorted(values["scopes"].split(",")),
        "creation_time": values["creation_time"],
    }
    for key in ("expiration_time", "last_used_time", "revoked_time", "created_by"):
        if values.get(key) is not None:
            out[key] = values[key]
    return out
