"""The authorization service: who holds what, cached per user for a short bound.

One instance per server (``Services.authz``). A user's grants (direct, through groups, and to
everyone) are read in one query and kept for ``ttl`` seconds (never more than the token
revocation bound), so a grant or revocation made on any replica holds everywhere within that
bound and the per-request check is one dict lookup.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledgerflow.errors import InvalidParameter, PermissionDenied, ResourceDoesNotExist
from ledgerflow.security.auth.identity import Identity, current_identity
from ledgerflow.security.auth.policy import check_username
from ledgerflow.security.authz import permissions as perm
from ledgerflow.store import grants as store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ledgerflow.config import ServerConfig
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.store.database import Database

log = logging.getLogger("ledgerflow.authz")

_MAX_USERS = 10_000
_MAX_IDS = 100_000
_NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Held:
    """What one user holds: resource type -> resource id -> permissions."""

    by_type: dict[str, dict[int, frozenset[str]]]
    loaded_at: float

    def on(self, resource_type: str, resource_id: int) -> frozenset[str]:
        return self.by_type.get(resource_type, {}).get(resource_id, _NOTHING)

    def readable(self, resource_type: str) -> frozenset[int]:
        found = self.by_type.get(resource_type, {})
        return frozenset(rid for rid, held in found.items() if perm.READ in held)


@dataclass
class Creation:
    """A create request in flight: its write transaction makes the creator the manager."""

    resource_type: str
    identity: Identity
    done: bool = field(default=False)


_CREATING: ContextVar[Creation | None] = ContextVar("ledgerflow_authz_creating", default=None)


def _now_ms() -> int:
    return int(time.time() * 1000)


class AuthzService:
    def __init__(self, db: Database, config: ServerConfig, audit: AuditLog | None = None) -> None:
        self.db = db
        self.config = config
        self.audit = audit
        self.enabled = config.auth_required
        self.default_role = perm.check_default(config.default_permission)
        self.protected_aliases = frozenset(a.lower() for a in config.protected_aliases)
        self.ttl = min(config.revocation_check_seconds, 5.0)
        self._held: dict[str, Held] = {}
        # Runs and logged models never move between experiments, so these never go stale.
        self._run_experiment: dict[str, int] = {}
        self._logged_model_experiment: dict[str, int] = {}
        self._lock = threading.Lock()
        previous = db.audit_hook

        def after_write(conn: Connection, operation: Any, args: tuple[Any, ...], result: Any) -> None:
            self._after_write(conn, result)
            if previous is not None:
                previous(conn, operation, args, result)

        db.audit_hook = after_write

    # -- who holds what ---------------------------------------------------------------------

    def unrestricted(self, identity: Identity | None) -> bool:
        return not self.enabled or (identity is not None and identity.is_admin)

    def held(self, identity: Identity) -> Held:
        key = identity.user_id or ""
        found = self._held.get(key)
        if found is not None and time.monotonic() - found.loaded_at <= self.ttl:
            return found
        by_type: dict[str, dict[int, frozenset[str]]] = {}
        if identity.user_id:
            with self.db.read() as conn:
                rows = store.held_by(conn, identity.user_id)
            for resource_type, resource_id, role in rows:
                slot = by_type.setdefault(resource_type, {})
                slot[resource_id] = slot.get(resource_id, _NOTHING) | perm.ROLES.get(role, _NOTHING)
        held = Held(by_type, time.monotonic())
        with self._lock:
            if len(self._held) >= _MAX_USERS:
                self._held.clear()
            self._held[key] = held
        return held

    def held_if_fresh(self, identity: Identity) -> Held | None:
        """The cached grants of *identity* when still within the bound, without any query."""
        found = self._held.get(identity.user_id or "")
        if found is not None and time.monotonic() - found.loaded_at <= self.ttl:
            return found
        return None

    def cached_experiment_of_run(self, run_id: str) -> int | None:
        return self._run_experiment.get(run_id)

    def permissions(self, identity: Identity, resource_type: str, resource_id: int) -> frozenset[str]:
        if self.unrestricted(identity):
            return perm.EVERYTHING
        return self.held(identity).on(resource_type, resource_id)

    def readable(self, resource_type: str, identity: Identity | None = None) -> frozenset[int] | None:
        """Ids the caller may read, or None when nothing is hidden from them."""
        identity = identity or current_identity()
        if self.unrestricted(identity):
            return None
        if identity is None:
            return frozenset()
        return self.held(identity).readable(resource_type)

    def readable_experiments(self) -> frozenset[int] | None:
        return self.readable(perm.EXPERIMENT)

    def readable_models(self) -> frozenset[int] | None:
        return self.readable(perm.REGISTERED_MODEL)

    def keep_readable_experiments(self, ids: list[str]) -> list[str]:
        """The requested experiment ids the caller may read (others are dropped, not refused,
        so a search says nothing about experiments the caller cannot see)."""
        allowed = self.readable_experiments()
        if allowed is None:
            return ids
        return [i for i in ids if i.strip().isdigit() and int(i) in allowed]

    def keep_readable_runs(self, run_ids: list[str]) -> list[str]:
        allowed = self.readable_experiments()
        if allowed is None:
            return run_ids
        owners = self.experiments_of_runs(run_ids)
        return [r for r in run_ids if owners.get(r) in allowed]

    def forget(self) -> None:
        """Drop cached grants (after a change made here; other replicas catch up within ttl)."""
        with self._lock:
            self._held.clear()

    # -- resource lookups (for the route guard) ---------------------------------------------

    def experiment_of_run(self, run_id: str) -> int | None:
        found = self._run_experiment.get(run_id)
        if found is None:
            with self.db.read() as conn:
                found = store.experiment_of_run(conn, run_id)
            if found is not None:
                self._remember(self._run_experiment, run_id, found)
        return found

    def experiments_of_runs(self, run_ids: list[str]) -> dict[str, int]:
        known = {r: self._run_experiment[r] for r in run_ids if r in self._run_experiment}
        missing = [r for r in run_ids if r not in known]
        if missing:
            with self.db.read() as conn:
                looked = store.experiments_of_runs(conn, missing)
            for run_id, eid in looked.items():
                self._remember(self._run_experiment, run_id, eid)
            known.update(looked)
        return known

    def experiment_of_logged_model(self, model_id: str) -> int | None:
        found = self._logged_model_experiment.get(model_id)
        if found is None:
            with self.db.read() as conn:
                found = store.experiment_of_logged_model(conn, model_id)
            if found is not None:
                self._remember(self._logged_model_experiment, model_id, found)
        return found

    def experiment_by_name(self, name: str) -> int | None:
        with self.db.read() as conn:
            return store.experiment_by_name(conn, name)

    def model_by_name(self, name: str) -> int | None:
        # Not cached: renames and deletes would make a cached name point at the wrong model.
        with self.db.read() as conn:
            return store.model_by_name(conn, name)

    def _remember(self, cache: dict[str, int], key: str, value: int) -> None:
        with self._lock:
            if len(cache) >= _MAX_IDS:
                cache.clear()
            cache[key] = value

    # -- creation ---------------------------------------------------------------------------

    @contextmanager
    def creating(self, resource_type: str, identity: Identity) -> Iterator[None]:
        token = _CREATING.set(Creation(resource_type, identity))
        try:
            yield
        finally:
            _CREATING.reset(token)

    def _after_write(self, conn: Connection, result: Any) -> None:
        pending = _CREATING.get()
        if pending is None or pending.done or not self.enabled:
            return
        resource_id: int | None = None
        if pending.resource_type == perm.EXPERIMENT and isinstance(result, int):
            resource_id = result
        elif pending.resource_type == perm.REGISTERED_MODEL and isinstance(result, dict) and "name" in result:
            resource_id = store.model_by_name(conn, str(result["name"]))
        if resource_id is None:
            return
        pending.done = True
        now = _now_ms()
        store.clear_resource(conn, pending.resource_type, resource_id)
        creator = pending.identity
        if creator.user_id:
            store.put_grant(
                conn, pending.resource_type, resource_id, perm.USER, creator.user_id, perm.MANAGER, None, now
            )
        if self.default_role is not None:
            store.put_grant(
                conn,
                pending.resource_type,
                resource_id,
                perm.EVERYONE,
                perm.EVERYONE_ID,
                self.default_role,
                creator.username,
                now,
            )
        self.forget()

    # -- promotion --------------------------------------------------------------------------

    def is_protected_alias(self, alias: str | None) -> bool:
        return (alias or "").strip().lower() in self.protected_aliases

    # -- events -----------------------------------------------------------------------------

    def record(
        self, action: str, outcome: str, resource_type: str | None, resource_id: str | None, **details: Any
    ) -> None:
        if self.audit is None:
            return
        # Who acted is the record's actor (None: the request's or command's context says).
        actor = details.pop("actor", None)
        try:
            self.audit.record_event(
                action,
                outcome,
                resource_type=resource_type,
                resource_id=resource_id,
                actor=actor if isinstance(actor, str) else None,
                details=details or None,
            )
        except Exception:  # an audit failure must not turn a refusal into a 500
            log.exception("Could not record audit event %s", action)

    # -- administration ---------------------------------------------------------------------

    def resolve(self, resource_type: str, resource: str) -> int:
        """The numeric id of an experiment (id or name) or a registered model (name)."""
        resource_type = perm.check_resource_type(resource_type)
        text = (resource or "").strip()
        with self.db.read() as conn:
            if resource_type == perm.EXPERIMENT:
                if text.isdigit() and store.experiment_exists(conn, int(text)):
                    return int(text)
                found = store.experiment_by_name(conn, text) if text else None
                if found is None:
                    raise ResourceDoesNotExist(f"No experiment with id or name '{resource}'.")
                return found
            model = store.model_by_name(conn, text) if text else None
        if model is None:
            raise ResourceDoesNotExist(f"Registered model '{resource}' does not exist.")
        return model

    def require_manage(self, identity: Identity | None, resource_type: str, resource_id: int) -> None:
        if identity is None or perm.MANAGE not in self.permissions(identity, resource_type, resource_id):
            self.record("authz.denied", "denied", resource_type, str(resource_id), needed=perm.MANAGE)
            raise PermissionDenied("Permission denied: managing grants needs 'manage' on the resource.")

    def _check_admin_granted(
        self, role: str, principal_type: str, actor: Identity | None, resource_type: str, resource_id: int
    ) -> None:
        """An evaluator's numbers are what the gates trust: a model's manager must not be able
        to hand that power to themselves or a colleague, nor may it go to everyone."""
        if principal_type == perm.EVERYONE:
            raise InvalidParameter(f"The {role} role is granted to users or groups, not to everyone.")
        # actor None: a store command, run by whoever can open the database (an administrator).
        if actor is not None and not self.unrestricted(actor):
            self.record("authz.denied", "denied", resource_type, str(resource_id), needed="admin", role=role)
            raise PermissionDenied(f"Permission denied: only an administrator may grant the {role} role.")

    def _principal(self, conn: Connection, principal_type: str, principal: str) -> str:
        if principal_type == perm.USER:
            return str(store.require_user(conn, principal).user_id)
        if principal_type == perm.GROUP:
            return str(store.require_group(conn, principal).group_id)
        if principal_type == perm.EVERYONE:
            return perm.EVERYONE_ID
        raise InvalidParameter("A principal is a 'user', a 'group', or 'all' (everyone).")

    def grant(
        self,
        resource_type: str,
        resource: str,
        principal_type: str,
        principal: str,
        role: str,
        *,
        actor: Identity | None,
    ) -> dict[str, Any]:
        resource_type = perm.check_resource_type(resource_type)
        role = perm.check_role(role)
        principal_type = (principal_type or "").strip().lower()
        resource_id = self.resolve(resource_type, resource)
        if actor is not None:
            self.require_manage(actor, resource_type, resource_id)
        if role in perm.ADMIN_GRANTED:
            self._check_admin_granted(role, principal_type, actor, resource_type, resource_id)
        actor_name = actor.username if actor else None

        def write(conn: Connection) -> None:
            principal_id = self._principal(conn, principal_type, principal)
            store.put_grant(
                conn, resource_type, resource_id, principal_type, principal_id, role, actor_name, _now_ms()
            )

        self.db.run_write(write)
        self.forget()
        self.record(
            "authz.grant",
            "success",
            resource_type,
            str(resource_id),
            principal_type=principal_type,
            principal=principal,
            role=role,
        )
        return {
            "resource_type": resource_type,
            "resource_id": str(resource_id),
            "principal_type": principal_type,
            "principal": principal,
            "role": role,
        }

    def revoke(
        self,
        resource_type: str,
        resource: str,
        principal_type: str,
        principal: str,
        *,
        actor: Identity | None,
    ) -> bool:
        resource_type = perm.check_resource_type(resource_type)
        principal_type = (principal_type or "").strip().lower()
        resource_id = self.resolve(resource_type, resource)
        if actor is not None:
            self.require_manage(actor, resource_type, resource_id)

        def write(conn: Connection) -> bool:
            principal_id = self._principal(conn, principal_type, principal)
            return store.delete_grant(conn, resource_type, resource_id, principal_type, principal_id)

        removed: bool = self.db.run_write(write)
        self.forget()
        self.record(
            "authz.revoke",
            "success" if removed else "noop",
            resource_type,
            str(resource_id),
            principal_type=principal_type,
            principal=principal,
        )
        return removed

    def list_grants(
        self, resource_type: str | None, resource: str | None, *, actor: Identity | None
    ) -> list[dict[str, Any]]:
        kind = perm.check_resource_type(resource_type) if resource_type else None
        resource_id = self.resolve(kind, resource) if kind and resource else None
        if actor is not None and not self.unrestricted(actor):
            if kind is None or resource_id is None:
                raise PermissionDenied("Only an administrator may list every grant.")
            self.require_manage(actor, kind, resource_id)
        with self.db.read() as conn:
            return store.list_grants(conn, kind, resource_id)

    def direct_grants(self, username: str) -> list[tuple[str, str, str]]:
        """The user's own grants: (resource type, experiment id or model name, role)."""
        with self.db.read() as conn:
            user = store.require_user(conn, username)
            return store.direct_grants(conn, str(user.user_id))

    def direct_role(self, resource_type: str, resource: str, username: str) -> str | None:
        """The role granted to *username* itself on one resource (None: no direct grant)."""
        resource_type = perm.check_resource_type(resource_type)
        resource_id = self.resolve(resource_type, resource)
        with self.db.read() as conn:
            user = store.require_user(conn, username)
            grants = store.list_grants(conn, resource_type, resource_id)
        for grant in grants:
            if grant["principal_type"] == perm.USER and grant["principal"] == user.username:
                return str(grant["role"])
        return None

    def create_group(self, name: str, *, actor: str | None) -> dict[str, Any]:
        name = check_username(name)
        now = _now_ms()
        self.db.run_write(store.insert_group, name, now)
        self.record("authz.create_group", "success", "group", name, actor=actor)
        return {"name": name, "creation_time": now}

    def delete_group(self, name: str, *, actor: str | None) -> None:
        self.db.run_write(store.delete_group, name)
        self.forget()
        self.record("authz.delete_group", "success", "group", name, actor=actor)

    def set_member(self, group: str, username: str, member: bool, *, actor: str | None) -> None:
        self.db.run_write(store.add_member if member else store.remove_member, group, username)
        self.forget()
        action = "authz.add_member" if member else "authz.remove_member"
        self.record(action, "success", "group", group, username=username, actor=actor)

    def list_groups(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = store.list_groups(conn)
        return [{"name": n, "creation_time": t, "members": m} for n, t, m in rows]
