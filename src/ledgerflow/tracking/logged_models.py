"""MLflow 3 logged models: create (pending), finalize, soft delete, params, tags, search,
and the ``runs/outputs`` link from a run to the models it produced.

A deleted model is gone for every caller but ``delete`` itself (which stays idempotent):
``get``, search, writes and new run links all answer RESOURCE_DOES_NOT_EXIST, as MLflow's
``get_logged_model`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.store import logged_models as store
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import generate_run_name, new_logged_model_id, now_ms
from ledgerflow.tracking.experiments import ExperimentService
from ledgerflow.tracking.validation import (
    MAX_PARAM_VALUE_LENGTH,
    check_length,
    parse_experiment_id,
    parse_search_experiment_ids,
    validate_key,
)

PENDING = "LOGGED_MODEL_PENDING"
READY = "LOGGED_MODEL_READY"
UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"
FINAL_STATUSES = (READY, UPLOAD_FAILED)

MAX_NAME_LENGTH = 500
MAX_MODEL_TYPE_LENGTH = 500
# The client keeps a growing JSON list of registrations in the ``mlflow.modelVersions`` tag,
# so model tags get far more room than run tags; the bound only stops abuse.
MAX_TAG_VALUE_LENGTH = 100_000
DEFAULT_MAX_RESULTS = 100
# MLflow sets no cap; a larger request gets this many and a next_page_token, which is within
# the paging contract and keeps LIMIT arithmetic and memory bounded.
MAX_PAGE_SIZE = 50_000
# Characters MLflow refuses in a logged model name: the name becomes part of
# ``runs:/<run>/<name>`` URIs and artifact paths.
_BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")


def validate_model_name(name: str) -> None:
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameter(f"Model name exceeds the maximum length of {MAX_NAME_LENGTH} characters")
    if any(char in name for char in _BAD_NAME_CHARS):
        raise InvalidParameter(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string and "
            f"cannot contain the following characters: {_BAD_NAME_CHARS}"
        )


def _not_found(model_id: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")


def _tag_dict(tags: Sequence[tuple[str, str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in tags:
        validate_key("Tag", key)
        check_length("Tag value", value, MAX_TAG_VALUE_LENGTH)
        result[key] = value  # a repeated key: the last value wins, as for run tags
    return result


def _param_dict(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in params:
        validate_key("Param", key)
        check_length("Param value", value, MAX_PARAM_VALUE_LENGTH)
        if key in result and result[key] != value:
            raise InvalidParameter(f"Duplicate parameter keys have been submitted: [{key!r}]")
        result[key] = value
    return result


class LoggedModelService:
    def __init__(self, db: Database, experiments: ExperimentService) -> None:
        self.db = db
        self.experiments = experiments
        # The same credential screening as the experiments' (one guard per server).
        self.secrets = experiments.secrets

    # -- reads ---------------------------------------------------------------------------

    def get(self, model_id: str) -> dict[str, Any]:
        """The model in wire shape ``{"info": ..., "data": ...}``; deleted models are not found."""
        with self.db.read() as conn:
            found = store.load_many(conn, [model_id])
        if not found:
            raise _not_found(model_id)
        return found[0]

    def load_many(self, model_ids: Sequence[str]) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return store.load_many(conn, model_ids)

    def search(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        datasets: list[dict[str, Any]],
        max_results: int | None,
        order_by: list[dict[str, Any]],
        page_token: str | None,
    ) -> dict[str, Any]:
        ids = parse_search_experiment_ids(experiment_ids)
        limit = DEFAULT_MAX_RESULTS if max_results is None else min(max_results, MAX_PAGE_SIZE)
        # Imported here: the search grammar is its own module and pulls in the filter parser.
        from ledgerflow.store.search_logged_models import search_logged_model_ids

        with self.db.read() as conn:
            model_ids, token = search_logged_model_ids(
                conn,
                experiment_ids=ids,
                filter_string=filter_string,
                datasets=datasets,
                max_results=limit,
                order_by=order_by,
                page_token=page_token,
            )
            models = store.load_many(conn, model_ids)
        response: dict[str, Any] = {}
        if models:
            response["models"] = models
        if token:
            response["next_page_token"] = token
        return response

    # -- writes --------------------------------------------------------------------------

    def create(
        self,
        experiment_id: str | None,
        *,
        name: str | None = None,
        model_type: str | None = None,
        source_run_id: str | None = None,
        params: Sequence[tuple[str, str]] = (),
        tags: Sequence[tuple[str, str]] = (),
        creator_id: str | None = None,
    ) -> dict[str, Any]:
        eid = parse_experiment_id(experiment_id)
        # An empty name is the proto default, i.e. "not given": generate one as for runs.
        model_name = name or generate_run_name()
        validate_model_name(model_name)
        if model_type is not None and len(model_type) > MAX_MODEL_TYPE_LENGTH:
            raise InvalidParameter(
                f"Model type exceeds the maximum length of {MAX_MODEL_TYPE_LENGTH} characters"
            )
        model_id = new_logged_model_id()
        param_values = _param_dict(self.secrets.pairs("param", params, "logged_model", model_id))
        tag_values = _tag_dict(self.secrets.pairs("tag", tags, "logged_model", model_id))

        def create(conn: Connection) -> None:
            experiment = self.experiments.require_active(conn, eid)
            if source_run_id:
                self._require_run(conn, source_run_id, active=False)
            now = now_ms()
            store.insert(
                conn,
                model_id=model_id,
                experiment_id=eid,
                name=model_name,
                artifact_location=f"{experiment.artifact_location.rstrip('/')}/models/{model_id}/artifacts",
                status=PENDING,
                now=now,
                # MLflow echoes the proto default "" for an absent model_type.
                model_type=model_type or "",
                source_run_id=source_run_id or None,
                creator_id=creator_id,
            )
            store.insert_params(conn, model_id, param_values)
            store.set_tags(conn, model_id, tag_values)

        self.db.run_write(create)
        return self.get(model_id)

    def finalize(self, model_id: str, status: str | None) -> dict[str, Any]:
        if status not in FINAL_STATUSES:
            raise InvalidParameter(
                f"Invalid value {status!r} for parameter 'status': a logged model can only be "
                f"finalized as {' or '.join(FINAL_STATUSES)}."
            )

        def finalize(conn: Connection) -> None:
            self._require_model(conn, model_id)
            store.update(conn, model_id, status=status, last_updated_timestamp_ms=now_ms())

        self.db.run_write(finalize)
        return self.get(model_id)

    def delete(self, model_id: str) -> None:
        def delete(conn: Connection) -> None:
            row = store.find_row(conn, model_id, lock=True)
            if row is None:
                raise _not_found(model_id)
            if row.lifecycle_stage != store.DELETED:
                store.update(
                    conn, model_id, lifecycle_stage=store.DELETED, last_updated_timestamp_ms=now_ms()
                )

        self.db.run_write(delete)

    def set_tags(self, model_id: str, tags: Sequence[tuple[str, str]]) -> None:
        values = _tag_dict(self.secrets.pairs("tag", tags, "logged_model", model_id))

        def set_tags(conn: Connection) -> None:
            self._require_model(conn, model_id)
            store.set_tags(conn, model_id, values)

        self.db.run_write(set_tags)

    def delete_tag(self, model_id: str, key: str) -> None:
        def delete_tag(conn: Connection) -> None:
            self._require_model(conn, model_id)
            if store.delete_tag(conn, model_id, key) == 0:
                raise ResourceDoesNotExist(f"No tag with key {key!r} found for model with ID {model_id!r}.")

        self.db.run_write(delete_tag)

    def log_params(self, model_id: str, params: Sequence[tuple[str, str]]) -> None:
        """Params are immutable, as for runs: the same value again is a no-op, a new one a 400."""
        values = _param_dict(self.secrets.pairs("param", params, "logged_model", model_id))

        def log_params(conn: Connection) -> None:
            self._require_model(conn, model_id)
            existing = store.existing_params(conn, model_id, list(values))
            changed = [
                {"key": key, "old_value": existing[key], "new_value": value}
                for key, value in values.items()
                if key in existing and existing[key] != value
            ]
            if changed:
                raise InvalidParameter(
                    f"Changing param values is not allowed. Params were already logged='{changed}' "
                    f"for model ID='{model_id}'."
                )
            store.insert_params(conn, model_id, {k: v for k, v in values.items() if k not in existing})

        self.db.run_write(log_params)

    def log_outputs(self, run_id: str, models: Sequence[tuple[str, int]]) -> None:
        """Link models to the run that produced them (``runs/outputs``)."""
        steps: dict[str, int] = {}
        for model_id, step in models:
            steps[model_id] = step

        def log_outputs(conn: Connection) -> None:
            self._require_run(conn, run_id, active=True, lock=True)
            known = store.active_model_ids(conn, list(steps))
            for model_id in steps:
                if model_id not in known:
                    raise _not_found(model_id)
            store.link_outputs(conn, run_id, steps)

        self.db.run_write(log_outputs)

    # -- helpers -------------------------------------------------------------------------

    def _require_model(self, conn: Connection, model_id: str) -> Any:
        row = store.find_row(conn, model_id, lock=True)
        if row is None or row.lifecycle_stage != store.ACTIVE:
            raise _not_found(model_id)
        return row

    def _require_run(self, conn: Connection, run_id: str, *, active: bool, lock: bool = False) -> None:
        row = store.find_run(conn, run_id, lock=lock)
        if row is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        if active and row.lifecycle_stage != "active":
            raise InvalidParameter(
                f"The run {run_id} must be in the 'active' state. Current state is {row.lifecycle_stage}."
            )
