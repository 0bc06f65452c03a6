"""Aliases: named pointers from a registered model to one of its versions.

Every set, move and removal (explicit, or because the version or model was deleted) is
recorded in the alias history with its time, so "which version did alias X of model N
serve on date D" has an answer after the fact.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter
from ledgerflow.registry.events import EventHook
from ledgerflow.registry.model_versions import require_version
from ledgerflow.registry.promotion import IntegrityCheck, PromotionHook
from ledgerflow.registry.registered_models import require_model
from ledgerflow.registry.validation import parse_version, validate_alias
from ledgerflow.store import registry as store
from ledgerflow.store import registry_versions as version_store
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import now_ms


class AliasService:
    def __init__(self, db: Database, events: EventHook | None = None) -> None:
        self.db = db
        self.events = events or EventHook()
        # Asked before a move; the governance layer installs the promotion gate here.
        self.promotion = PromotionHook()
        # Asked first, on every move: the version's files must still be what was signed.
        self.integrity_checks: list[IntegrityCheck] = []

    def set(self, name: str, alias: str, version: str | int) -> None:
        alias = validate_alias(alias)
        for check in self.integrity_checks:
            check(name, parse_version(version), f"alias:{alias}")
        permit = self.promotion.before(name, parse_version(version), f"alias:{alias}")

        def set_alias(conn: Connection) -> int | None:
            model = require_model(conn, name)
            row = require_version(conn, model, version)
            if permit is not None:
                permit(conn)
            current = store.alias_version(conn, model.registered_model_id, alias)
            if current == row.version:
                return None
            now = now_ms()
            if current is not None:
                store.close_history(conn, model.registered_model_id, now, [alias])
            store.put_alias(conn, model.registered_model_id, alias, row.version)
            store.open_history(conn, model.registered_model_id, model.name, alias, row.version, now)
            return int(row.version)

        # Only a change is announced: re-pointing an alias at its own version is a no-op.
        changed = self.db.run_write(set_alias)
        if changed is not None:
            self.events.emit(
                "model_version_alias", "created", {"name": name, "alias": alias, "version": str(changed)}
            )

    def delete(self, name: str, alias: str) -> None:
        validate_alias(alias)
        # Asked before the write transaction, as for a move (a refusal is audited on its own).
        with self.db.read() as conn:
            model = require_model(conn, name)
            held = store.alias_version(conn, model.registered_model_id, alias)
        if held is not None:
            self.promotion.before_removal(name, held, f"alias:{alias}", "delete_alias")

        def delete_alias(conn: Connection) -> bool:
            model = require_model(conn, name)
            if store.alias_version(conn, model.registered_model_id, alias) is None:
                return False
            store.remove_alias(conn, model.registered_model_id, alias)
            store.close_history(conn, model.registered_model_id, now_ms(), [alias])
            return True

        if self.db.run_write(delete_alias):
            self.events.emit("model_version_alias", "deleted", {"name": name, "alias": alias})

    def get(self, name: str, alias: str) -> dict[str, Any]:
        """The version an alias points at; a missing alias is INVALID_PARAMETER_VALUE (400),
        not 404, as in MLflow."""
        with self.db.read() as conn:
            model = require_model(conn, name)
            version = store.alias_version(conn, model.registered_model_id, alias)
            if version is None:
                raise InvalidParameter(f"Registered model alias {alias} not found.")
            return version_store.load(conn, [(model.registered_model_id, version)])[0]

    def version_at(self, name: str, alias: str, at_ms: int) -> int | None:
        """The version alias ``alias`` of the model then called ``name`` pointed at, at
        ``at_ms`` (None when it pointed nowhere)."""
        with self.db.read() as conn:
            return store.history_at(conn, name, alias, at_ms)
