"""Model versions: create (from a checked source), update, stage transitions, delete, get,
search, download URI, tags, and the files behind a version."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.governance.secrets import SecretGuard
from ledgerflow.registry.events import EventHook, tag_dict
from ledgerflow.registry.promotion import IntegrityCheck, PromotionHook
from ledgerflow.registry.registered_models import require_model
from ledgerflow.registry.search_page import search_page
from ledgerflow.registry.sources import SourceResolver
from ledgerflow.registry.validation import (
    ACTIVE_STAGES,
    MAX_RUN_LINK_LENGTH,
    STAGE_ARCHIVED,
    STAGE_NONE,
    STAGE_PRODUCTION,
    canonical_stage,
    parse_version,
    validate_description,
    validate_tag,
)
from ledgerflow.store import registry as model_store
from ledgerflow.store import registry_versions as store
from ledgerflow.store.database import Database
from ledgerflow.store.search_registry import search_model_versions
from ledgerflow.store.search_statements import SearchStatements
from ledgerflow.tracking.clock import now_ms
from ledgerflow.tracking.validation import check_length, validate_key

if TYPE_CHECKING:
    from ledgerflow.artifacts.locations import ArtifactLocations
    from ledgerflow.artifacts.service import ArtifactService, Target

SEARCH_DEFAULT_MAX_RESULTS = 10_000
READY = "READY"
RegistrationCheck = Callable[[Connection, dict[str, Any]], tuple[str, str] | None]
RegistrationPrepare = Callable[[str], dict[str, Any]]


def require_version(conn: Connection, model: Any, version: str | int | None) -> Any:
    number = parse_version(version)
    row = store.find_row(conn, model.registered_model_id, number)
    if row is None:
        raise ResourceDoesNotExist(f"Model Version (name={model.name}, version={version}) not found")
    return row


class ModelVersionService:
    def __init__(
        self,
        db: Database,
        locations: ArtifactLocations,
        artifacts: ArtifactService,
        events: EventHook | None = None,
        secrets: SecretGuard | None = None,
    ) -> None:
        self.db = db
        self.events = events or EventHook()
        # Tags and descriptions are screened for credentials before they are stored.
        self.secrets = secrets or SecretGuard.off()
        self.artifacts = artifacts
        self.sources = SourceResolver(locations)
        self.statements = SearchStatements()
        # Asked before a stage change; the governance layer installs the promotion gate here.
        self.promotion = PromotionHook()
        # Asked first, before any stage change (signing: refuse versions that do not verify).
        self.integrity_checks: list[IntegrityCheck] = []
        # Governance checks run in the creating transaction once the row exists (signing:
        # sign or demand a signature); one returning (status, message) holds the version back
        # from READY.
        self.registration_checks: list[RegistrationCheck] = []
        # Work those checks need from the version's files (signing: hash them), done before
        # the write transaction so no write lock is held meanwhile: called with the storage
        # location, what it returns reaches the checks as created["prepared"] when the
        # transaction resolves the same location.
        self.registration_prepares: list[RegistrationPrepare] = []

    def _one(self, conn: Connection, model_id: int, version: int) -> dict[str, Any]:
        return store.load(conn, [(model_id, version)])[0]

    def create(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None,
        tags: Sequence[tuple[str, str]],
        run_link: str | None,
        description: str | None,
        model_id: str | None,
    ) -> dict[str, Any]:
        for key, value in tags:
            validate_tag(key, value)
        validate_description(description)
        if run_link is not None:
            check_length("Run link", run_link, MAX_RUN_LINK_LENGTH)
        # The version number is only known once created: findings are recorded after that,
        # unless the policy refuses the write (then against the model).
        tags, found = self.secrets.screen_pairs("tag", tags)
        description, found_in_description = self.secrets.screen_text("description", description)
        found += found_in_description
        if self.secrets.blocks(found):
            self.secrets.settle(found, "registered_model", name)

        prepared, prepared_for = self._prepare_registration(name, source, run_id, model_id)

        def create(conn: Connection) -> dict[str, Any]:
            model = require_model(conn, name)
            resolved = self.sources.resolve(conn, source, run_id, model_id)
            now = now_ms()
            version = store.next_version(conn, model.registered_model_id, now)
            store.insert(
                conn,
                {
                    "registered_model_id": model.registered_model_id,
                    "version": version,
                    "creation_time": now,
                    "last_updated_time": now,
                    "description": description if description is not None else "",
                    "current_stage": STAGE_NONE,
                    "source": source,
                    "storage_location": resolved.storage_location,
                    "run_id": resolved.run_id,
                    "run_link": run_link if run_link is not None else "",
                    "status": READY,
                    "model_id": resolved.model_id,
                },
            )
            for key, value in dict(tags).items():
                store.set_tag(conn, model.registered_model_id, version, key, value)
            created = {
                "registered_model_id": model.registered_model_id,
                "name": model.name,
                "version": version,
                "run_id": resolved.run_id,
                "storage_location": resolved.storage_location,
                "prepared": prepared if prepared_for == resolved.storage_location else {},
            }
            for check in self.registration_checks:
                held = check(conn, created)
                if held is not None:
                    store.update(
                        conn, model.registered_model_id, version, status=held[0], status_message=held[1]
                    )
            return self._one(conn, model.registered_model_id, version)

        result: dict[str, Any] = self.db.run_write(create)
        self.secrets.settle(found, "model_version", f"{result['name']}/{result['version']}")
        self.events.emit(
            "model_version",
            "created",
            {
                "name": result["name"],
                "version": str(result["version"]),
                "source": source,
                "run_id": result.get("run_id"),
                "tags": tag_dict(result.get("tags")),
                "description": description,
            },
        )
        return result

    def _prepare_registration(
        self, name: str, source: str, run_id: str | None, model_id: str | None
    ) -> tuple[dict[str, Any], str | None]:
        if not self.registration_prepares:
            return {}, None
        with self.db.read() as conn:
            require_model(conn, name)  # the same error first as inside the transaction
            location = self.sources.resolve(conn, source, run_id, model_id).storage_location
        prepared: dict[str, Any] = {}
        for prepare in self.registration_prepares:
            prepared.update(prepare(location))
        return prepared, location

    def get(self, name: str, version: str | int) -> dict[str, Any]:
        with self.db.read() as conn:
            row = require_version(conn, require_model(conn, name), version)
            return self._one(conn, row.registered_model_id, row.version)

    def update(self, name: str, version: str | int, description: str | None) -> dict[str, Any]:
        validate_description(description)
        description = self.secrets.text("description", description, "model_version", f"{name}/{version}")

        def update(conn: Connection) -> dict[str, Any]:
            row = require_version(conn, require_model(conn, name), version)
            values: dict[str, Any] = {"last_updated_time": now_ms()}
            if description is not None:
                values["description"] = description
            store.update(conn, row.registered_model_id, row.version, **values)
            return self._one(conn, row.registered_model_id, row.version)

        result: dict[str, Any] = self.db.run_write(update)
        return result

    def transition_stage(
        self, name: str, version: str | int, stage: str | None, archive_existing: bool
    ) -> dict[str, Any]:
        """Move a version to a stage (case-insensitive, stored canonically). With
        ``archive_existing`` the other versions in that stage are archived in the same
        transaction and share the new timestamp (BC-34)."""
        target = canonical_stage(stage)
        if archive_existing and target not in ACTIVE_STAGES:
            raise InvalidParameter(
                f"Model version transition cannot archive existing model versions because "
                f"'{target}' is not an Active stage. Valid stages are {', '.join(ACTIVE_STAGES)}."
            )

        archived: list[str] = []
        previous: list[str] = []
        for check in self.integrity_checks:
            check(name, parse_version(version), f"stage:{target}")
        permit = self.promotion.before(name, parse_version(version), f"stage:{target}")

        def transition(conn: Connection) -> dict[str, Any]:
            model = require_model(conn, name)
            row = require_version(conn, model, version)
            if permit is not None:
                permit(conn)
            now = now_ms()
            archived.clear()
            previous[:] = [str(row.current_stage)]
            if archive_existing:
                for other in store.versions_in_stage(conn, model.registered_model_id, target):
                    if other != row.version:
                        archived.append(str(other))
                        store.update(
                            conn,
                            model.registered_model_id,
                            other,
                            current_stage=STAGE_ARCHIVED,
                            last_updated_time=now,
                        )
            store.update(
                conn, model.registered_model_id, row.version, current_stage=target, last_updated_time=now
            )
            model_store.update(conn, model.registered_model_id, last_updated_time=now)
            return self._one(conn, model.registered_model_id, row.version)

        result: dict[str, Any] = self.db.run_write(transition)
        # Ours: MLflow's webhooks have no stage event (stages are deprecated there).
        self.events.emit(
            "model_version",
            "stage_transitioned",
            {
                "name": result["name"],
                "version": str(result["version"]),
                "from_stage": previous[0] if previous else None,
                "to_stage": target,
                "archive_existing_versions": archive_existing,
                "archived_versions": archived,
            },
        )
        return result

    def delete(self, name: str, version: str | int) -> None:
        with self.db.read() as conn:
            model = require_model(conn, name)
            row = require_version(conn, model, version)
            held = model_store.aliases_of_version(conn, model.registered_model_id, row.version)
        for alias in held:
            self.promotion.before_removal(name, int(row.version), f"alias:{alias}", "delete_model_version")
        if row.current_stage == STAGE_PRODUCTION:
            self.promotion.before_removal(
                name, int(row.version), f"stage:{STAGE_PRODUCTION}", "delete_model_version"
            )

        def delete(conn: Connection) -> None:
            model = require_model(conn, name)
            row = require_version(conn, model, version)
            now = now_ms()
            aliases = model_store.aliases_of_version(conn, model.registered_model_id, row.version)
            model_store.close_history(conn, model.registered_model_id, now, aliases)
            store.delete(conn, model.registered_model_id, row.version)
            model_store.update(conn, model.registered_model_id, last_updated_time=now)

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
            search_model_versions,
            items_key="model_versions",
            default_max_results=SEARCH_DEFAULT_MAX_RESULTS,
            filter_string=filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
            readable=readable,
            statements=self.statements,
        )

    def download_uri(self, name: str, version: str | int) -> str:
        with self.db.read() as conn:
            row = require_version(conn, require_model(conn, name), version)
        return str(row.storage_location)

    def artifact(self, name: str, version: str | int, path: str | None) -> Target:
        """The stored file ``path`` below a version's files (served only from the server's
        own roots; the path goes through the one artifact path validator)."""
        from ledgerflow.artifacts.service import ArtifactService, Target

        location = self.download_uri(name, version)
        repo, prefix = self.artifacts.roots.resolve(location)
        return ArtifactService.below(Target(repo, prefix), path, allow_root=False)

    def set_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        validate_tag(key, value)
        [(key, value)] = self.secrets.pairs("tag", [(key, value)], "model_version", f"{name}/{version}")

        def set_tag(conn: Connection) -> str:
            row = require_version(conn, require_model(conn, name), version)
            store.set_tag(conn, row.registered_model_id, row.version, key, value)
            return str(row.version)

        number = self.db.run_write(set_tag)
        self.events.emit(
            "model_version_tag", "set", {"name": name, "version": number, "key": key, "value": value}
        )

    def delete_tag(self, name: str, version: str | int, key: str) -> None:
        validate_key("Tag", key)

        def delete_tag(conn: Connection) -> str:
            row = require_version(conn, require_model(conn, name), version)
            store.delete_tag(conn, row.registered_model_id, row.version, key)
            return str(row.version)

        number = self.db.run_write(delete_tag)
        self.events.emit("model_version_tag", "deleted", {"name": name, "version": number, "key": key})
