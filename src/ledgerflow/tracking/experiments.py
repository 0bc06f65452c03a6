"""Experiments: create, read, rename, soft delete and restore, tags."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from ledgerflow.errors import InvalidParameter, ResourceAlreadyExists, ResourceDoesNotExist
from ledgerflow.governance.secrets import SecretGuard
from ledgerflow.store import experiments as store
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import now_ms
from ledgerflow.tracking.validation import (
    MAX_EXPERIMENT_TAG_VALUE_LENGTH,
    check_length,
    parse_experiment_id,
    validate_experiment_name,
    validate_key,
)

if TYPE_CHECKING:
    from ledgerflow.artifacts.locations import ArtifactLocations

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
SEARCH_DEFAULT_MAX_RESULTS = 1000


class ExperimentService:
    def __init__(
        self, db: Database, locations: ArtifactLocations, secrets: SecretGuard | None = None
    ) -> None:
        self.db = db
        self.locations = locations
        # Names and tags are screened for credentials before they are stored.
        self.secrets = secrets or SecretGuard.off()

    def ensure_default(self) -> None:
        def create(conn: Any) -> None:
            if store.find_row(conn, DEFAULT_EXPERIMENT_ID) is None:
                store.insert(
                    conn,
                    name=DEFAULT_EXPERIMENT_NAME,
                    artifact_location=self.locations.for_experiment(DEFAULT_EXPERIMENT_ID),
                    now=now_ms(),
                    experiment_id=DEFAULT_EXPERIMENT_ID,
                )

        self.db.run_write(create)

    def create(self, name: str | None, artifact_location: str | None, tags: list[tuple[str, str]]) -> str:
        name = validate_experiment_name(name)
        for key, value in tags:
            validate_key("Tag", key)
            check_length("Tag value", value, MAX_EXPERIMENT_TAG_VALUE_LENGTH)
        if artifact_location:
            self.locations.check_client_location(artifact_location)
        name = self.secrets.text("name", name, "experiment", name) or name
        tags = self.secrets.pairs("tag", tags, "experiment", name)

        def create(conn: Any) -> int:
            existing = store.find_id_by_name(conn, name)
            if existing is not None:
                row = store.find_row(conn, existing)
                if row.lifecycle_stage == store.DELETED:
                    raise ResourceAlreadyExists(
                        f"Experiment '{name}' already exists in deleted state. You can restore the "
                        "experiment, or permanently delete the experiment from the .trash folder "
                        "(under tracking server's root folder) or `ledgerflow gc` in order to use "
                        "this experiment name again."
                    )
                raise ResourceAlreadyExists(f"Experiment(name={name}) already exists.")
            # The location needs the id, so insert a placeholder and fill it in.
            experiment_id = store.insert(
                conn, name=name, artifact_location=artifact_location or "", now=now_ms()
            )
            if not artifact_location:
                store.update(
                    conn, experiment_id, artifact_location=self.locations.for_experiment(experiment_id)
                )
            for key, value in tags:
                store.set_tag(conn, experiment_id, key, value)
            return experiment_id

        try:
            return str(self.db.run_write(create))
        except ResourceAlreadyExists:
            raise
        except Exception as error:  # a concurrent create of the same name hits the unique index
            if "unique" in str(error).lower() or "duplicate" in str(error).lower():
                raise ResourceAlreadyExists(f"Experiment(name={name}) already exists.") from None
            raise

    def get(self, experiment_id: str | int | None) -> dict[str, Any]:
        eid = parse_experiment_id(experiment_id)
        with self.db.read() as conn:
            found = store.load(conn, [eid])
        if not found:
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
        return found[0]

    def get_by_name(self, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            eid = store.find_id_by_name(conn, name)
            found = store.load(conn, [eid]) if eid is not None else []
        if not found:
            raise ResourceDoesNotExist(f"Could not find experiment with name '{name}'")
        return found[0]

    def search(
        self,
        *,
        filter_string: str | None,
        view_type: str | None,
        max_results: int | None,
        order_by: list[str],
        page_token: str | None,
        readable: Collection[int] | None = None,
    ) -> dict[str, Any]:
        """One page of experiments/search in wire shape (empty fields omitted); ``readable``
        restricts it to those experiment ids (authorization)."""
        from ledgerflow.store.search_experiments import search_experiment_ids

        with self.db.read() as conn:
            ids, token = search_experiment_ids(
                conn,
                filter_string=filter_string or "",
                view_type=view_type or "ACTIVE_ONLY",
                max_results=SEARCH_DEFAULT_MAX_RESULTS if max_results is None else max_results,
                order_by=order_by,
                page_token=page_token,
                readable=readable,
            )
            found = store.load(conn, ids)
        response: dict[str, Any] = {}
        if found:
            response["experiments"] = found
        if token:
            response["next_page_token"] = token
        return response

    def load_many(self, experiment_ids: list[int]) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return store.load(conn, experiment_ids)

    def require_active(self, conn: Any, experiment_id: int) -> Any:
        row = store.find_row(conn, experiment_id)
        if row is None:
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
        if row.lifecycle_stage != store.ACTIVE:
            raise InvalidParameter(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle_stage}."
            )
        return row

    def _existing(self, conn: Any, experiment_id: int) -> Any:
        row = store.find_row(conn, experiment_id)
        if row is None:
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
        return row

    def rename(self, experiment_id: str | None, new_name: str | None) -> None:
        eid = parse_experiment_id(experiment_id)
        name = validate_experiment_name(new_name)
        name = self.secrets.text("name", name, "experiment", str(eid)) or name

        def rename(conn: Any) -> None:
            row = self._existing(conn, eid)
            if row.lifecycle_stage != store.ACTIVE:
                raise InvalidParameter("Cannot rename a non-active experiment.")
            other = store.find_id_by_name(conn, name)
            if other is not None and other != eid:
                raise ResourceAlreadyExists(f"Experiment(name={name}) already exists.")
            store.update(conn, eid, name=name, last_update_time=now_ms())

        self.db.run_write(rename)

    def set_lifecycle(self, experiment_id: str | None, stage: str) -> None:
        eid = parse_experiment_id(experiment_id)

        def change(conn: Any) -> None:
            row = self._existing(conn, eid)
            # MLflow looks the experiment up among the active ones to delete it and among the
            # deleted ones to restore it: deleting a deleted experiment, or restoring an active
            # one, is "No Experiment with id=N exists" (404), not a silent success.
            if row.lifecycle_stage == stage:
                raise ResourceDoesNotExist(f"No Experiment with id={eid} exists")
            now = now_ms()
            store.update(
                conn,
                eid,
                lifecycle_stage=stage,
                last_update_time=now,
                deleted_time=now if stage == store.DELETED else None,
            )
            # Runs follow their experiment, as in MLflow; restoring brings them back too.
            from ledgerflow.store import runs as run_store

            run_store.set_lifecycle_for_experiment(conn, eid, stage, now)

        self.db.run_write(change)

    def set_tag(self, experiment_id: str | None, key: str, value: str) -> None:
        eid = parse_experiment_id(experiment_id)
        validate_key("Tag", key)
        check_length("Tag value", value, MAX_EXPERIMENT_TAG_VALUE_LENGTH)
        [(key, value)] = self.secrets.pairs("tag", [(key, value)], "experiment", str(eid))

        def set_tag(conn: Any) -> None:
            self.require_active(conn, eid)
            store.set_tag(conn, eid, key, value)

        self.db.run_write(set_tag)

    def delete_tag(self, experiment_id: str | None, key: str) -> None:
        eid = parse_experiment_id(experiment_id)

        def delete_tag(conn: Any) -> None:
            self.require_active(conn, eid)
            if store.delete_tag(conn, eid, key) == 0:
                raise ResourceDoesNotExist(f"No tag with name: {key} in experiment with id {eid}")

        self.db.run_write(delete_tag)
