"""Registered models: create, rename, update, delete, get, search, tags, latest versions."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledgerflow.errors import ResourceAlreadyExists, ResourceDoesNotExist
from ledgerflow.governance.secrets import SecretGuard
from ledgerflow.registry.events import EventHook, tag_dict
from ledgerflow.registry.promotion import PromotionHook
from ledgerflow.registry.search_page import search_page
from ledgerflow.registry.validation import (
    STAGE_PRODUCTION,
    canonical_stage,
    validate_description,
    validate_new_model_name,
    validate_tag,
)
from ledgerflow.store import registry as store
from ledgerflow.store import registry_versions as version_store
from ledgerflow.store.database import Database
from ledgerflow.store.search_registry import search_registered_models
from ledgerflow.store.search_statements import SearchStatements
from ledgerflow.tracking.clock import now_ms
from ledgerflow.tracking.validation import validate_key

SEARCH_DEFAULT_MAX_RESULTS = 100


def require_model(conn: Connection, name: str | None) -> Any:
    """The model row for ``name``; RESOURCE_DOES_NOT_EXIST (404) when there is none."""
    row = store.find_row(conn, name) if name else None
    if row is None:
        raise ResourceDoesNotExist(f"Registered Model with name={name} not found")
    return row


def already_exists(name: str) -> ResourceAlreadyExists:
    return ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")


class RegisteredModelService:
    def __init__(
        self, db: Database, events: EventHook | None = None, secrets: SecretGuard | None = None
    ) -> None:
        self.db = db
        self.events = events or EventHook()
        # Tags and descriptions are screened for credentials before they are stored.
        self.secrets = secrets or SecretGuard.off()
        # Asked before a deletion or a rename would drop a protected alias (the governance layer's gate).
        self.promotion = PromotionHook()
        self.statements = SearchStatements()

    def _write(self, operation: Any, name: str) -> Any:
        try:
            return self.db.run_write(operation)
        except IntegrityError:
            # Two creates (or a create and a rename) of one name raced past the check.
            raise already_exists(name) from None

    def _load(self, conn: Connection, model_id: int) -> dict[str, Any]:
        return store.load(conn, [model_id])[0]

    def create(
        self,
        name: str | None,
        tags: Sequence[tuple[str, str]],
        description: str | None,
        deployment_job_id: str | None,
    ) -> dict[str, Any]:
        name = validate_new_model_name(name)
        for key, value in tags:
            validate_tag(key, value)
        validate_description(description)
        tags = self.secrets.pairs("tag", tags, "registered_model", name)
        description = self.secrets.text("description", description, "registered_model", name)

        def create(conn: Connection) -> dict[str, Any]:
            if store.find_row(conn, name) is not None:
                raise already_exists(name)
            model_id = store.insert(
                conn, name=name, now=now_ms(), description=description, deployment_job_id=deployment_job_id
            )
            for key, value in dict(tags).items():
                store.set_tag(conn, model_id, key, value)
            return self._load(conn, model_id)

        result: dict[str, Any] = self._write(create, name)
        self.events.emit(
            "registered_model",
            "created",
            {"name": name, "tags": tag_dict(result.get("tags")), "description": description},
        )
        return result

    def get(self, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._load(conn, require_model(conn, name).registered_model_id)

    def rename(self, name: str, new_name: str | None) -> dict[str, Any]:
        new_name = validate_new_model_name(new_name, "new_name")
        self.promotion.before_rename(name, new_name)

        def rename(conn: Connection) -> dict[str, Any]:
            row = require_model(conn, name)
            if new_name != name and store.find_row(conn, new_name) is not None:
                raise already_exists(new_name)
            now = now_ms()
            store.update(conn, row.registered_model_id, name=new_name, last_updated_time=now)
            store.touch_versions(conn, row.registered_model_id, now)
            # The history records names as they were: close the rows under the old name
            # and reopen them under the new one.
            open_rows = store.open_history_rows(conn, row.registered_model_id)
            store.close_history(conn, row.registered_model_id, now)
            for entry in open_rows:
                store.open_history(conn, row.registered_model_id, new_name, entry.alias, entry.version, now)
            return self._load(conn, row.registered_model_id)

        result: dict[str, Any] = self._write(rename, new_name)
        return result

    def update(self, name: str, description: str | None, deployment_job_id: str | None) -> dict[str, Any]:
        validate_description(description)
        description = self.secrets.text("description", description, "registered_model", name)

        def update(conn: Connection) -> dict[str, Any]:
            row = require_model(conn, name)
            values: dict[str, Any] = {"last_updated_time": now_ms()}
            if description is not None:
                values["description"] = description
            if deployment_job_id is not None:
                values["deployment_job_id"] = deployment_job_id
            store.update(conn, row.registered_model_id, **values)
            return self._load(conn, row.registered_model_id)

        result: dict[str, Any] = self.db.run_write(update)
        return result

    def delete(self, name: str) -> None:
        with self.db.read() as conn:
            model_id = require_model(conn, name).registered_model_id
            # The open history rows are the aliases the model holds now.
            held = store.open_history_rows(conn, model_id)
            in_production = version_store.versions_in_stage(conn, model_id, STAGE_PRODUCTION)
        for entry in held:
            self.promotion.before_removal(
                name, int(entry.version), f"alias:{entry.alias}", "delete_registered_model"
            )
        for number in in_production:
            self.promotion.before_removal(
                name, number, f"stage:{STAGE_PRODUCTION}", "delete_registered_model"
            )

        def delete(conn: Connection) -> None:
            row = require_model(conn, name)
            store.close_history(conn, row.registered_model_id, now_ms())
            store.delete(conn, row.registered_model_id)

        self.db.run_write(delete)

    def search(
        self,
        filter_string: str | None,
        max_results: int | None,
        order_by: list[str],
        page_token: str | None,
        readable: Collection[int] | None = None,
    ) -> dict[str, Any]:
        return search_page(
            self.db,
            search_registered_models,
            items_key="registered_models",
            default_max_results=SEARCH_DEFAULT_MAX_RESULTS,
            filter_string=filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
            readable=readable,
            statements=self.statements,
        )

    def latest_versions(self, name: str, stages: Sequence[str]) -> list[dict[str, Any]]:
        """The highest version in each stage (all stages when none are named); stage names
        are case-insensitive (BC-35)."""
        wanted = {canonical_stage(stage) for stage in stages}
        with self.db.read() as conn:
            row = require_model(conn, name)
            keys = version_store.latest_per_stage(conn, [row.registered_model_id]).get(
                row.registered_model_id, []
            )
            found = version_store.load(conn, keys)
        return [v for v in found if not wanted or v["current_stage"] in wanted]

    def set_tag(self, name: str, key: str, value: str) -> None:
        validate_tag(key, value)
        [(key, value)] = self.secrets.pairs("tag", [(key, value)], "registered_model", name)

        def set_tag(conn: Connection) -> None:
            store.set_tag(conn, require_model(conn, name).registered_model_id, key, value)

        self.db.run_write(set_tag)
        # Ours: MLflow has no registered-model tag events.
        self.events.emit("registered_model_tag", "set", {"name": name, "key": key, "value": value})

    def delete_tag(self, name: str, key: str) -> None:
        validate_key("Tag", key)

        def delete_tag(conn: Connection) -> None:
            store.delete_tag(conn, require_model(conn, name).registered_model_id, key)

        self.db.run_write(delete_tag)
        self.events.emit("registered_model_tag", "deleted", {"name": name, "key": key})
