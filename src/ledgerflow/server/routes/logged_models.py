"""Logged-model endpoints of MLflow 3's MlflowService, plus ``runs/outputs`` (run -> model links).

``logged-models/search`` is declared before the ``{model_id}`` routes; it is the only POST
on that level, so no id route can capture it whatever the order.
"""

from __future__ import annotations

from typing import Any

from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload
from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_BASE = "/2.0/mlflow/logged-models"


def _pairs(payload: Payload, field: str) -> list[tuple[str, str]]:
    # A missing value is the proto default "" (MLflow stores empty tag and param values).
    return [
        (item.req_string("key"), item.string("value", default="") or "") for item in payload.messages(field)
    ]


def _experiment_id(payload: Payload) -> str:
    # A proto string, but JSON clients also send the number; either parses the same way.
    value = payload.raw("experiment_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return payload.req_string("experiment_id")


def _datasets(payload: Payload) -> list[dict[str, Any]]:
    return [
        {"dataset_name": item.req_string("dataset_name"), "dataset_digest": item.string("dataset_digest")}
        for item in payload.messages("datasets")
    ]


def _order_by(payload: Payload) -> list[dict[str, Any]]:
    return [
        {
            "field_name": item.req_string("field_name"),
            "ascending": item.boolean("ascending", default=True),
            "dataset_name": item.string("dataset_name"),
            "dataset_digest": item.string("dataset_digest"),
        }
        for item in payload.messages("order_by")
    ]


@TABLE.route("POST", f"{_BASE}/search")
def search_logged_models(services: Services, payload: Payload) -> dict[str, Any]:
    requested = payload.string_list("experiment_ids")
    experiment_ids = services.authz.keep_readable_experiments(requested)
    if requested and not experiment_ids:
        return {}
    return services.logged_models.search(
        experiment_ids,
        payload.string("filter", default="") or "",
        _datasets(payload),
        payload.int64("max_results"),
        _order_by(payload),
        payload.string("page_token") or None,
    )


@TABLE.route("POST", _BASE)
def create_logged_model(services: Services, payload: Payload) -> dict[str, Any]:
    model = services.logged_models.create(
        _experiment_id(payload),
        name=payload.string("name"),
        model_type=payload.string("model_type"),
        source_run_id=payload.string("source_run_id"),
        params=_pairs(payload, "params"),
        tags=_pairs(payload, "tags"),
    )
    return {"model": model}


@TABLE.route("GET", f"{_BASE}/{{model_id}}")
def get_logged_model(services: Services, payload: Payload) -> dict[str, Any]:
    return {"model": services.logged_models.get(payload.req_string("model_id"))}


@TABLE.route("PATCH", f"{_BASE}/{{model_id}}")
def finalize_logged_model(services: Services, payload: Payload) -> dict[str, Any]:
    model = services.logged_models.finalize(payload.req_string("model_id"), payload.req_string("status"))
    return {"model": model}


@TABLE.route("DELETE", f"{_BASE}/{{model_id}}")
def delete_logged_model(services: Services, payload: Payload) -> dict[str, Any]:
    services.logged_models.delete(payload.req_string("model_id"))
    return {}


@TABLE.route("PATCH", f"{_BASE}/{{model_id}}/tags")
def set_logged_model_tags(services: Services, payload: Payload) -> dict[str, Any]:
    services.logged_models.set_tags(payload.req_string("model_id"), _pairs(payload, "tags"))
    return {}


@TABLE.route("DELETE", f"{_BASE}/{{model_id}}/tags/{{tag_key:path}}")
def delete_logged_model_tag(services: Services, payload: Payload) -> dict[str, Any]:
    services.logged_models.delete_tag(payload.req_string("model_id"), payload.req_string("tag_key"))
    return {}


@TABLE.route("POST", f"{_BASE}/{{model_id}}/params")
def log_logged_model_params(services: Services, payload: Payload) -> dict[str, Any]:
    services.logged_models.log_params(payload.req_string("model_id"), _pairs(payload, "params"))
    return {}


@TABLE.route("POST", "/2.0/mlflow/runs/outputs")
def log_outputs(services: Services, payload: Payload) -> dict[str, Any]:
    models = [
        (item.req_string("model_id"), item.int64("step", default=0) or 0)
        for item in payload.messages("models")
    ]
    services.logged_models.log_outputs(payload.req_string("run_id"), models)
    return {}
