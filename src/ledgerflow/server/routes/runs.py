"""Run, param, tag, metric and run-input endpoints of MLflow's MlflowService.

Which requests accept the legacy ``run_uuid`` in place of ``run_id`` follows MLflow exactly:
get, update, log-metric, log-parameter, set-tag and get-history do; the rest do not.
"""

from __future__ import annotations

import json
import math
import operator
from itertools import repeat
from typing import Any

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.auth.identity import current_identity
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload, missing
from ledgerflow.tracking.metrics import MetricPoint, PlainPoints
from ledgerflow.tracking.runs import DatasetInput
from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_RUNS = "/2.0/mlflow/runs"
_METRICS = "/2.0/mlflow/metrics"


def _key_values(payload: Payload, field: str) -> list[tuple[str, str]]:
    # Only the key is required: a missing value is proto's default, the empty string (BC-42).
    return [
        (item.req_string("key"), item.string("value", default="") or "") for item in payload.messages(field)
    ]


def _metric(payload: Payload) -> MetricPoint:
    key = payload.req_string("key")
    value = payload.double("value", required=True)
    assert value is not None
    return MetricPoint(
        key=key,
        value=value,
        timestamp=payload.req_int64("timestamp"),
        step=payload.int64("step", default=0) or 0,
        model_id=payload.string("model_id"),
        dataset_name=payload.string("dataset_name"),
        dataset_digest=payload.string("dataset_digest"),
    )


_OPTIONAL_METRIC_FIELDS = ("model_id", "dataset_name", "dataset_digest")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


_PLAIN_FIELDS = tuple(operator.itemgetter(name) for name in ("key", "value", "timestamp", "step"))
_STR, _INT, _NUMBER = {str}, {int}, {float, int}


def _plain_points(items: list[dict[str, Any]]) -> PlainPoints | None:
    """The batch as columns when every item is exactly ``{key, value, timestamp, step}``, plus
    perhaps the ``run_id`` MLflow 3's ``log_metrics`` adds (ignored, as by MLflow), with a
    string key, a finite number value and int64 timestamp and step: what MLflow's clients send
    when no model or dataset is involved. Else None. Each check is one pass in C over all the
    items: no Python code runs per point."""
    if not items:
        return None
    try:
        # A column per field (cheaper than a tuple per item transposed).
        keys, values, timestamps, steps = (list(map(field, items)) for field in _PLAIN_FIELDS)
    except KeyError:
        return None
    # Each item holds at least those four fields and its run_id, so equal totals mean no item
    # holds anything else.
    if sum(map(len, items)) != 4 * len(items) + sum(map(operator.contains, items, repeat("run_id"))):
        return None
    value_types = set(map(type, values))
    if (
        set(map(type, keys)) != _STR
        or set(map(type, timestamps)) != _INT
        or set(map(type, steps)) != _INT
        or not value_types <= _NUMBER
        or min(timestamps) < _INT64_MIN
        or max(timestamps) > _INT64_MAX
        or min(steps) < _INT64_MIN
        or max(steps) > _INT64_MAX
    ):
        return None
    if int in value_types:
        values = list(map(float, values))
    # A NaN or an infinity makes the sum non-finite (so does an overflowing sum of finite
    # values, which merely takes the general path). JSON has neither, in-process callers may.
    if not math.isfinite(sum(values)):
        return None
    return PlainPoints(keys, values, timestamps, steps)


def _batch_metrics(payload: Payload) -> list[MetricPoint] | PlainPoints:
    """The metrics of a log-batch. A thousand points come per request: plain items are taken
    as columns (:func:`_plain_points`), other well-typed items (a string key, a JSON number
    value, integer timestamp and step, no model or dataset) in one tight loop; anything unusual
    (numeric strings, "NaN", missing or wrong-typed fields) goes through Payload, which gives
    MLflow's exact error message."""
    items = payload.raw("metrics")
    if not isinstance(items, list) or not all(map(isinstance, items, repeat(dict))):
        return [_metric(item) for item in payload.messages("metrics")]
    plain = _plain_points(items)
    if plain is not None:
        return plain
    points: list[MetricPoint] = []
    append = points.append
    low, high = _INT64_MIN, _INT64_MAX
    for item in items:
        key = item.get("key")
        value = item.get("value")
        timestamp = item.get("timestamp")
        step = item.get("step")
        if step is None:
            step = 0
        if (
            type(key) is str
            and type(timestamp) is int
            and type(step) is int
            and (type(value) is float or type(value) is int)
            and low <= timestamp <= high
            and low <= step <= high
            # Any field beyond key, value, timestamp and step: the optional ones must be unset.
            and (
                len(item) == 3 + ("step" in item)
                or all(item.get(name) is None for name in _OPTIONAL_METRIC_FIELDS)
            )
        ):
            append(MetricPoint(key, float(value), timestamp, step))
        else:
            append(_metric(Payload(item, prefix=f"metrics[{len(points)}].")))
    return points


@TABLE.route("POST", f"{_RUNS}/create")
def create_run(services: Services, payload: Payload) -> dict[str, Any]:
    experiment_id = payload.raw("experiment_id")
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    else:
        experiment_id = payload.string("experiment_id")
    # With authentication on, the run belongs to whoever created it: a client-sent user_id
    # would let a user file runs under a colleague's name (and dodge four-eyes rules that
    # keep a run's owner from approving its model).
    identity = current_identity()
    owner: str | None
    if identity is not None and identity.via != "local":
        owner = identity.username
    else:
        owner = payload.string("user_id")
    run = services.runs.create(
        experiment_id=experiment_id,
        user_id=owner,
        run_name=payload.string("run_name"),
        start_time=payload.int64("start_time"),
        tags=_key_values(payload, "tags"),
    )
    return {"run": run}


@TABLE.route("GET", f"{_RUNS}/get")
def get_run(services: Services, payload: Payload) -> dict[str, Any]:
    return {"run": services.runs.get(payload.run_id())}


@TABLE.route("POST", f"{_RUNS}/update")
def update_run(services: Services, payload: Payload) -> dict[str, Any]:
    info = services.runs.update(
        payload.run_id(),
        status=payload.string("status"),
        end_time=payload.int64("end_time"),
        run_name=payload.string("run_name"),
    )
    return {"run_info": info}


@TABLE.route("POST", f"{_RUNS}/delete")
def delete_run(services: Services, payload: Payload) -> dict[str, Any]:
    services.runs.set_lifecycle(payload.req_string("run_id"), "deleted")
    return {}


@TABLE.route("POST", f"{_RUNS}/restore")
def restore_run(services: Services, payload: Payload) -> dict[str, Any]:
    services.runs.set_lifecycle(payload.req_string("run_id"), "active")
    return {}


def _always(_payload: Payload) -> bool:
    return True


def _metrics_only(payload: Payload) -> bool:
    # Params and tags are screened for secrets, which may record findings in a transaction of
    # their own before the write: such a batch must not be tried twice.
    return not payload.raw("params") and not payload.raw("tags")


@TABLE.route("POST", f"{_RUNS}/log-metric", inline=_always)
def log_metric(services: Services, payload: Payload) -> dict[str, Any]:
    run_id = payload.run_id()
    services.runs.log_metric(run_id, _metric(payload))
    return {}


@TABLE.route("POST", f"{_RUNS}/log-parameter")
def log_parameter(services: Services, payload: Payload) -> dict[str, Any]:
    run_id = payload.run_id()
    key = payload.req_string("key")
    services.runs.log_param(run_id, key, payload.string("value", default="") or "")
    return {}


@TABLE.route("POST", f"{_RUNS}/set-tag")
def set_tag(services: Services, payload: Payload) -> dict[str, Any]:
    run_id = payload.run_id()
    key = payload.req_string("key")
    services.runs.set_tag(run_id, key, payload.string("value", default="") or "")
    return {}


@TABLE.route("POST", f"{_RUNS}/delete-tag")
def delete_tag(services: Services, payload: Payload) -> dict[str, Any]:
    services.runs.delete_tag(payload.req_string("run_id"), payload.req_string("key"))
    return {}


@TABLE.route("POST", f"{_RUNS}/log-model")
def log_model(services: Services, payload: Payload) -> dict[str, Any]:
    """Record a logged model on its run (MLflow 2.x clients; 3.x uses logged models)."""
    run_id = payload.run_id()
    raw = payload.req_string("model_json")
    try:
        model = json.loads(raw)
    except ValueError:
        raise InvalidParameter("Malformed model info: 'model_json' is not valid JSON.") from None
    if not isinstance(model, dict):
        raise InvalidParameter("Malformed model info: 'model_json' must be a JSON object.")
    services.runs.record_logged_model(run_id, model)
    return {}


@TABLE.route("POST", f"{_RUNS}/log-batch", inline=_metrics_only)
def log_batch(services: Services, payload: Payload) -> dict[str, Any]:
    run_id = payload.req_string("run_id")
    metrics = _batch_metrics(payload)
    services.runs.log_batch(run_id, metrics, _key_values(payload, "params"), _key_values(payload, "tags"))
    return {}


def _dataset_input(item: Payload) -> DatasetInput:
    dataset = item.message("dataset")
    if dataset is None:
        raise missing(f"{item.prefix}dataset")
    fields: dict[str, Any] = {
        "name": dataset.req_string("name"),
        "digest": dataset.req_string("digest"),
        "source_type": dataset.req_string("source_type"),
        "source": dataset.req_string("source"),
        "schema": dataset.string("schema"),
        "profile": dataset.string("profile"),
    }
    return DatasetInput(dataset=fields, tags=_key_values(item, "tags"))


@TABLE.route("POST", f"{_RUNS}/log-inputs")
def log_inputs(services: Services, payload: Payload) -> dict[str, Any]:
    run_id = payload.req_string("run_id")
    datasets = [_dataset_input(item) for item in payload.messages("datasets")]
    model_ids = [item.req_string("model_id") for item in payload.messages("models")]
    services.runs.log_inputs(run_id, datasets, model_ids)
    return {}


@TABLE.route("POST", f"{_RUNS}/search")
def search_runs(services: Services, payload: Payload) -> dict[str, Any]:
    requested = payload.string_list("experiment_ids")
    # Experiments the caller may not read are dropped from the request, not refused: the
    # answer is then exactly what a search over the readable ones gives.
    experiment_ids = services.authz.keep_readable_experiments(requested)
    if requested and not experiment_ids:
        return {}
    return services.runs.search(
        experiment_ids=experiment_ids,
        filter_string=payload.string("filter", default="") or "",
        run_view_type=payload.string("run_view_type", default="ACTIVE_ONLY") or "ACTIVE_ONLY",
        max_results=payload.int64("max_results"),
        order_by=payload.string_list("order_by"),
        page_token=payload.string("page_token") or None,
    )


@TABLE.route("GET", f"{_METRICS}/get-history")
def get_metric_history(services: Services, payload: Payload) -> dict[str, Any]:
    run_id = payload.run_id()
    return services.runs.metrics.get_history(
        run_id,
        payload.req_string("metric_key"),
        page_token=payload.string("page_token") or None,
        max_results=payload.int64("max_results"),
    )


@TABLE.route("GET", f"{_METRICS}/get-history-bulk-interval")
def get_metric_history_bulk_interval(services: Services, payload: Payload) -> dict[str, Any]:
    requested = payload.string_list("run_ids")
    run_ids = services.authz.keep_readable_runs(requested)
    if requested and not run_ids:
        return {}
    return services.runs.metrics.get_history_bulk_interval(
        run_ids,
        payload.string("metric_key") or "",
        start_step=payload.int64("start_step"),
        end_step=payload.int64("end_step"),
        max_results=payload.int64("max_results"),
    )


@TABLE.route("GET", f"{_METRICS}/get-history-bulk", ajax_only=True)
def get_metric_history_bulk(services: Services, payload: Payload) -> dict[str, Any]:
    requested = payload.string_list("run_id")
    run_ids = services.authz.keep_readable_runs(requested)
    if requested and not run_ids:
        return {}
    return services.runs.metrics.get_history_bulk(
        run_ids, payload.string("metric_key"), payload.int64("max_results")
    )


@TABLE.route("POST", "/2.0/mlflow/experiments/search-datasets", ajax_only=True)
def search_datasets(services: Services, payload: Payload) -> dict[str, Any]:
    requested = payload.string_list("experiment_ids")
    experiment_ids = services.authz.keep_readable_experiments(requested)
    if requested and not experiment_ids:
        return {}
    summaries = services.runs.search_datasets(experiment_ids)
    return {"dataset_summaries": summaries} if summaries else {}
