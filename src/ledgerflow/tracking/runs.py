"""Runs: create, read, update, soft delete and restore; params, tags, metrics and inputs.

Every write checks the run inside the same transaction that changes it, and a multi-item
write (log-batch, log-inputs) is validated in full before anything is written, so a bad item
anywhere leaves the run untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledgerflow.errors import BadRequest, InvalidParameter, ResourceDoesNotExist
from ledgerflow.governance.secrets import SecretGuard
from ledgerflow.registry.events import EventHook
from ledgerflow.store import metrics as metric_store
from ledgerflow.store import run_inputs as input_store
from ledgerflow.store import runs as store
from ledgerflow.store.database import Database
from ledgerflow.tracking.clock import generate_run_name, new_run_id, now_ms
from ledgerflow.tracking.experiments import ExperimentService
from ledgerflow.tracking.metrics import MetricPoint, MetricService, PlainPoints, point_row, validate_point
from ledgerflow.tracking.validation import (
    MAX_DATASET_DIGEST_LENGTH,
    MAX_DATASET_NAME_LENGTH,
    MAX_DATASET_SOURCE_LENGTH,
    MAX_ENTITIES_PER_BATCH,
    MAX_INPUT_TAG_KEY_LENGTH,
    MAX_INPUT_TAG_VALUE_LENGTH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_PARAMS_PER_BATCH,
    MAX_RUN_TAG_VALUE_LENGTH,
    MAX_TAGS_PER_BATCH,
    check_length,
    parse_experiment_id,
    validate_key,
)

T = TypeVar("T")

RUN_NAME_TAG = "mlflow.runName"
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
MAX_RUN_NAME_LENGTH = 250
MAX_USER_ID_LENGTH = 256
MAX_DATASET_SCHEMA_LENGTH = 1_048_575
MAX_DATASET_PROFILE_LENGTH = 16_384
SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_THRESHOLD = 50_000


@dataclass(frozen=True)
class DatasetInput:
    dataset: dict[str, Any]
    tags: list[tuple[str, str]] = field(default_factory=list)


def _limits(metrics: int, params: int, tags: int) -> None:
    for count, limit, noun in (
        (metrics, MAX_METRICS_PER_BATCH, "metrics"),
        (params, MAX_PARAMS_PER_BATCH, "params"),
        (tags, MAX_TAGS_PER_BATCH, "tags"),
        (metrics + params + tags, MAX_ENTITIES_PER_BATCH, "metrics, params, and tags"),
    ):
        if count > limit:
            raise InvalidParameter(
                f"A batch logging request can contain at most {limit} {noun}. Got {count} {noun}. "
                f"Please split up {noun} across multiple requests and try again."
            )


# Over-long values are refused, not truncated: MLflow 3.18's server truncates silently
# (MLFLOW_TRUNCATE_LONG_VALUES), which loses data without telling anyone. MLflow's own
# clients truncate before sending, so they never meet this error (BC-20).
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"


def _require_active(run_id: str, stage: str) -> None:
    if stage != store.ACTIVE:
        raise InvalidParameter(f"The run {run_id} must be in the 'active' state. Current state is {stage}.")


def _clean_params(items: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    for key, value in items:
        validate_key("Param", key)
        check_length("Param value", value, MAX_PARAM_VALUE_LENGTH)
    return list(items)


def _clean_tags(items: Sequence[tuple[str, str]]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for key, value in items:
        validate_key("Tag", key)
        check_length("Tag value", value, MAX_RUN_TAG_VALUE_LENGTH)
        cleaned[key] = value
    return cleaned


class RunService:
    def __init__(
        self,
        db: Database,
        experiments: ExperimentService,
        secrets: SecretGuard | None = None,
        events: EventHook | None = None,
    ) -> None:
        self.db = db
        self.experiments = experiments
        self.metrics = MetricService(db)
        # Params, tags and names are screened for credentials before they are stored.
        self.secrets = secrets or experiments.secrets
        # Run status changes are announced here (run.failed alerts) after they committed.
        self.events = events

    # -- transactions and checks ------------------------------------------------------------

    def _write(self, operation: Callable[[Connection], T]) -> T:
        # Two writers inserting the same new key race to the primary key; the loser's retry
        # then sees the winner's row and answers as if the calls had been sequential.
        for attempt in range(3):
            try:
                result: T = self.db.run_write(operation)
                return result
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _existing(conn: Connection, run_id: str) -> Any:
        row = store.find_row(conn, run_id)
        if row is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return row

    def _active(self, conn: Connection, run_id: str) -> Any:
        row = self._existing(conn, run_id)
        _require_active(run_id, row.lifecycle_stage)
        return row

    @staticmethod
    def _active_experiment(conn: Connection, run_id: str) -> int:
        """:meth:`_active` for the hot write paths, which need only the run's experiment."""
        found = store.find_stage(conn, run_id)
        if found is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        _require_active(run_id, found[0])
        return found[1]

    # -- runs ---------------------------------------------------------------------------------

    def create(
        self,
        *,
        experiment_id: str | None,
        user_id: str | None,
        run_name: str | None,
        start_time: int | None,
        tags: Sequence[tuple[str, str]],
    ) -> dict[str, Any]:
        if experiment_id is None:
            raise BadRequest("Missing value for required parameter 'experiment_id'.")
        eid = parse_experiment_id(experiment_id)
        tag_map = _clean_tags(tags)
        user = user_id or ""
        check_length("User ID", user, MAX_USER_ID_LENGTH)
        tagged_name = tag_map.get(RUN_NAME_TAG)
        if run_name and tagged_name and run_name != tagged_name:
            raise InvalidParameter(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName='{tagged_name}')."
            )
        name = run_name or tagged_name or generate_run_name()
        check_length("Run name", name, MAX_RUN_NAME_LENGTH)
        tag_map[RUN_NAME_TAG] = name
        run_id = new_run_id()
        tag_map = dict(self.secrets.pairs("tag", list(tag_map.items()), "run", run_id))
        name = tag_map.get(RUN_NAME_TAG, name)

        def create(conn: Connection) -> dict[str, Any]:
            experiment = self.experiments.require_active(conn, eid)
            values = {
                "run_uuid": run_id,
                "experiment_id": eid,
                "name": name,
                "user_id": user,
                "status": "RUNNING",
                # An unset proto2 int64 reads as 0, and MLflow stores exactly that.
                "start_time": start_time if start_time is not None else 0,
                "end_time": None,
                "lifecycle_stage": store.ACTIVE,
                "artifact_uri": f"{experiment.artifact_location.rstrip('/')}/{run_id}/artifacts",
                "deleted_time": None,
            }
            store.insert(conn, values)
            store.set_tags(conn, run_id, tag_map)
            return values

        values = self._write(create)
        info = store.info_to_wire(_Row(values))
        data = {"tags": [{"key": k, "value": tag_map[k]} for k in sorted(tag_map)]}
        return {"info": info, "data": data, "inputs": {}}

    def get(self, run_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            found = store.load_runs(conn, [run_id])
        if not found:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return found[0]

    def load_runs(self, conn: Connection, run_ids: list[str]) -> list[dict[str, Any]]:
        """Wire-shaped runs in the order given, with params, tags, latest metrics, inputs and
        outputs, loaded with a constant number of queries (per 500 runs)."""
        return store.load_runs(conn, run_ids)

    def update(
        self, run_id: str, *, status: str | None, end_time: int | None, run_name: str | None
    ) -> dict[str, Any]:
        if run_name:
            check_length("Run name", run_name, MAX_RUN_NAME_LENGTH)
            run_name = self.secrets.pairs("tag", [(RUN_NAME_TAG, run_name)], "run", run_id)[0][1]

        def update(conn: Connection) -> dict[str, Any]:
            row = self._active(conn, run_id)
            changes: dict[str, Any] = {}
            # MLflow's enum parser drops an unknown name, so the status stays as it was.
            if status in RUN_STATUSES:
                changes["status"] = status
            if end_time is not None:
                changes["end_time"] = end_time
            if run_name:
                changes["name"] = run_name
                store.set_tags(conn, run_id, {RUN_NAME_TAG: run_name})
            if changes:
                store.update(conn, run_id, **changes)
            return {**row._mapping, **changes, "previous_status": row.status}

        updated = self._write(update)
        previous = updated.pop("previous_status")
        if self.events is not None and updated["status"] == "FAILED" and previous != "FAILED":
            self.events.emit("run", "failed", _failure_event(updated))
        return store.info_to_wire(_Row(updated))

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        """Soft delete or restore; repeating either is a no-op (BC-24)."""

        def change(conn: Connection) -> None:
            row = self._existing(conn, run_id)
            if row.lifecycle_stage != stage:
                store.update(
                    conn,
                    run_id,
                    lifecycle_stage=stage,
                    deleted_time=now_ms() if stage == store.DELETED else None,
                )

        self._write(change)

    # -- params, tags, metrics ------------------------------------------------------------------

    def _log(
        self,
        conn: Connection,
        run_id: str,
        points: Sequence[MetricPoint] | PlainPoints,
        params: Sequence[tuple[str, str]],
        tags: dict[str, str],
        *,
        single_param: bool = False,
    ) -> None:
        experiment_id = self._active_experiment(conn, run_id)
        if params:
            stored = store.existing_params(conn, run_id, [k for k, _ in params])
            changed = [(k, stored[k], v) for k, v in params if k in stored and stored[k] != v]
            if changed and single_param:
                key, old, new = changed[0]
                raise InvalidParameter(
                    f"Changing param values is not allowed. Param with key='{key}' was already "
                    f"logged with value='{old}' for run ID='{run_id}'. Attempted logging new value "
                    f"'{new}'."
                )
            if changed:
                listed = [{"key": k, "old_value": old, "new_value": new} for k, old, new in changed]
                raise InvalidParameter(
                    f"Changing param values is not allowed. Params were already logged='{listed}' "
                    f"for run ID='{run_id}'."
                )
            store.insert_params(conn, run_id, [(k, v) for k, v in params if k not in stored])
        if tags:
            store.set_tags(conn, run_id, tags)
            if RUN_NAME_TAG in tags:
                store.update(conn, run_id, name=tags[RUN_NAME_TAG][:MAX_RUN_NAME_LENGTH])
        if isinstance(points, PlainPoints):
            # No model ids among them, so no model metric copies either.
            metric_store.log_plain_points(
                conn, run_id, points.keys, points.timestamps, points.steps, points.values
            )
        elif points:
            rows = [point_row(run_id, p) for p in points]
            metric_store.log_points(conn, rows)
            metric_store.log_model_points(conn, experiment_id, rows)

    def log_param(self, run_id: str, key: str, value: str) -> None:
        params = self.secrets.pairs("param", _clean_params([(key, value)]), "run", run_id)
        self._write(lambda conn: self._log(conn, run_id, (), params, {}, single_param=True))

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        tags = dict(self.secrets.pairs("tag", list(_clean_tags([(key, value)]).items()), "run", run_id))
        self._write(lambda conn: self._log(conn, run_id, (), (), tags))

    def record_logged_model(self, run_id: str, model: dict[str, Any]) -> None:
        """MLflow 2.x's ``runs/log-model``: append the model's MLmodel summary to the run's
        ``mlflow.log-model.history`` tag (a JSON list), dropping the oldest entries when the
        list would outgrow a tag value."""

        def record(conn: Connection) -> None:
            self._active(conn, run_id)
            current = store.tag_value(conn, run_id, LOG_MODEL_HISTORY_TAG)
            try:
                history = json.loads(current) if current else []
            except ValueError:
                history = []  # a hand-edited, unreadable tag is replaced rather than fatal
            if not isinstance(history, list):
                history = []
            history.append(model)
            encoded = json.dumps(history)
            while len(encoded) > MAX_RUN_TAG_VALUE_LENGTH and len(history) > 1:
                history.pop(0)
                encoded = json.dumps(history)
            check_length("Logged model record", encoded, MAX_RUN_TAG_VALUE_LENGTH)
            store.set_tags(conn, run_id, {LOG_MODEL_HISTORY_TAG: encoded})

        self._write(record)

    def delete_tag(self, run_id: str, key: str) -> None:
        def delete_tag(conn: Connection) -> None:
            self._active(conn, run_id)
            if store.delete_tag(conn, run_id, key) == 0:
                raise ResourceDoesNotExist(f"No tag with name: {key} in run with id {run_id}")

        self._write(delete_tag)

    def log_metric(self, run_id: str, point: MetricPoint) -> None:
        validate_point(point)
        self._write(lambda conn: self._log(conn, run_id, (point,), (), {}))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint] | PlainPoints,
        params: Sequence[tuple[str, str]],
        tags: Sequence[tuple[str, str]],
    ) -> None:
        _limits(len(metrics), len(params), len(tags))
        if isinstance(metrics, PlainPoints):
            # A batch repeats a handful of keys many times; check each key once, in the order
            # the points first name them (the first bad one is the one reported).
            for key in dict.fromkeys(metrics.keys):
                validate_key("Metric", key)
        else:
            validated_keys: set[str] = set()
            for point in metrics:
                validate_point(point, check_key=point.key not in validated_keys)
                validated_keys.add(point.key)
        clean_params = _clean_params(params)
        seen: set[str] = set()
        duplicates = []
        for key, _ in clean_params:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        if duplicates:
            raise InvalidParameter(
                f"Duplicate parameter keys have been submitted: {duplicates}. Please ensure the "
                "request contains only one param value per param key."
            )
        clean_tags = _clean_tags(tags)
        # Params and tags only: metrics are numbers and are never scanned.
        if clean_params or clean_tags:
            clean_params, clean_tags = self._screen_batch(run_id, clean_params, clean_tags)
        self._write(lambda conn: self._log(conn, run_id, metrics, clean_params, clean_tags))

    def _screen_batch(
        self, run_id: str, params: list[tuple[str, str]], tags: dict[str, str]
    ) -> tuple[list[tuple[str, str]], dict[str, str]]:
        params, found = self.secrets.screen_pairs("param", params)
        tag_items, found_in_tags = self.secrets.screen_pairs("tag", list(tags.items()))
        self.secrets.settle(found + found_in_tags, "run", run_id)
        return params, dict(tag_items)

    # -- inputs -----------------------------------------------------------------------------

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput], model_ids: Sequence[str]) -> None:
        for item in datasets:
            d = item.dataset
            check_length("Dataset name", d["name"], MAX_DATASET_NAME_LENGTH)
            check_length("Dataset digest", d["digest"], MAX_DATASET_DIGEST_LENGTH)
            check_length("Dataset source", d["source"], MAX_DATASET_SOURCE_LENGTH)
            if d.get("schema") is not None:
                check_length("Dataset schema", d["schema"], MAX_DATASET_SCHEMA_LENGTH)
            if d.get("profile") is not None:
                check_length("Dataset profile", d["profile"], MAX_DATASET_PROFILE_LENGTH)
            for key, value in item.tags:
                check_length("Input tag key", key, MAX_INPUT_TAG_KEY_LENGTH)
                check_length("Input tag value", value, MAX_INPUT_TAG_VALUE_LENGTH)

        def log_inputs(conn: Connection) -> None:
            row = self._active(conn, run_id)
            input_store.log_datasets(
                conn, row.experiment_id, run_id, [(item.dataset, item.tags) for item in datasets]
            )
            input_store.link_models(conn, run_id, model_ids, "input")

        self._write(log_inputs)

    def search_datasets(self, experiment_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not experiment_ids:
            raise InvalidParameter("SearchDatasets request must specify at least one experiment_id.")
        if len(experiment_ids) > 20:
            raise InvalidParameter(
                "SearchDatasets request cannot specify more than 20 experiment_ids. "
                f"Received {len(experiment_ids)} experiment_ids."
            )
        ids = [parse_experiment_id(e) for e in experiment_ids]
        with self.db.read() as conn:
            return input_store.dataset_summaries(conn, ids)

    # -- search -----------------------------------------------------------------------------

    def search(
        self,
        *,
        experiment_ids: Sequence[str],
        filter_string: str,
        run_view_type: str,
        max_results: int | None,
        order_by: list[str],
        page_token: str | None,
    ) -> dict[str, Any]:
        limit = SEARCH_MAX_RESULTS_DEFAULT if max_results is None else max_results
        if limit > SEARCH_MAX_RESULTS_THRESHOLD:
            raise InvalidParameter(
                "Invalid value for request parameter max_results. It must be at most "
                f"{SEARCH_MAX_RESULTS_THRESHOLD}, but got value {limit}"
            )
        ids = [parse_experiment_id(e) for e in experiment_ids]
        from ledgerflow.store.search_runs import search_run_ids

        with self.db.read() as conn:
            run_ids, token = search_run_ids(
                conn,
                experiment_ids=ids,
                filter_string=filter_string,
                run_view_type=run_view_type,
                max_results=limit,
                order_by=order_by,
                page_token=page_token,
            )
            found = self.load_runs(conn, run_ids)
        response: dict[str, Any] = {}
        if found:
            response["runs"] = found
        if token:
            response["next_page_token"] = token
        return response


def _failure_event(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run["run_uuid"],
        "experiment_id": str(run["experiment_id"]),
        "run_name": run.get("name"),
        "user_id": run.get("user_id"),
        "status": "FAILED",
        "end_time": run.get("end_time"),
    }


class _Row:
    """Attribute access over a dict, so a row built in memory renders like a fetched one."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
