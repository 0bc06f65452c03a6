"""Experiment endpoints of MLflow's MlflowService."""

from __future__ import annotations

from typing import Any

from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload
from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_BASE = "/2.0/mlflow/experiments"


def _tags(payload: Payload) -> list[tuple[str, str]]:
    return [(tag.req_string("key"), tag.req_string("value")) for tag in payload.messages("tags")]


@TABLE.route("POST", f"{_BASE}/create")
def create_experiment(services: Services, payload: Payload) -> dict[str, Any]:
    experiment_id = services.experiments.create(
        payload.req_string("name"), payload.string("artifact_location"), _tags(payload)
    )
    return {"experiment_id": experiment_id}


def _search(services: Services, payload: Payload) -> dict[str, Any]:
    return services.experiments.search(
        filter_string=payload.string("filter"),
        view_type=payload.string("view_type"),
        max_results=payload.int64("max_results"),
        order_by=payload.string_list("order_by"),
        page_token=payload.string("page_token"),
        readable=services.authz.readable_experiments(),
    )


@TABLE.route("POST", f"{_BASE}/search")
def search_experiments(services: Services, payload: Payload) -> dict[str, Any]:
    """Search experiments (filter, order_by, view_type, page_token, max_results)."""
    return _search(services, payload)


@TABLE.route("GET", f"{_BASE}/search")
def search_experiments_get(services: Services, payload: Payload) -> dict[str, Any]:
    """Search experiments, with the request in the query string."""
    return _search(services, payload)


@TABLE.route("GET", f"{_BASE}/get")
def get_experiment(services: Services, payload: Payload) -> dict[str, Any]:
    return {"experiment": services.experiments.get(payload.req_string("experiment_id"))}


@TABLE.route("GET", f"{_BASE}/get-by-name")
def get_experiment_by_name(services: Services, payload: Payload) -> dict[str, Any]:
    return {"experiment": services.experiments.get_by_name(payload.req_string("experiment_name"))}


@TABLE.route("POST", f"{_BASE}/delete")
def delete_experiment(services: Services, payload: Payload) -> dict[str, Any]:
    services.experiments.set_lifecycle(payload.req_string("experiment_id"), "deleted")
    return {}


@TABLE.route("POST", f"{_BASE}/restore")
def restore_experiment(services: Services, payload: Payload) -> dict[str, Any]:
    services.experiments.set_lifecycle(payload.req_string("experiment_id"), "active")
    return {}


@TABLE.route("POST", f"{_BASE}/update")
def update_experiment(services: Services, payload: Payload) -> dict[str, Any]:
    services.experiments.rename(payload.req_string("experiment_id"), payload.string("new_name"))
    return {}


@TABLE.route("POST", f"{_BASE}/set-experiment-tag")
def set_experiment_tag(services: Services, payload: Payload) -> dict[str, Any]:
    services.experiments.set_tag(
        payload.req_string("experiment_id"), payload.req_string("key"), payload.req_string("value")
    )
    return {}


@TABLE.route("POST", f"{_BASE}/delete-experiment-tag")
def delete_experiment_tag(services: Services, payload: Payload) -> dict[str, Any]:
    services.experiments.delete_tag(payload.req_string("experiment_id"), payload.req_string("key"))
    return {}
