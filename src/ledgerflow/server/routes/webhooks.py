"""Webhook endpoints (MLflow's WebhookService), plus our delivery log
``GET /webhooks/{webhook_id}/deliveries``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_HOOKS = "/2.0/mlflow/webhooks"
_ONE = _HOOKS + "/{webhook_id}"


def _fields(payload: Payload) -> dict[str, Any]:
    return {
        "name": payload.string("name"),
        "url": payload.string("url"),
        "events": payload.raw("events"),
        "description": payload.string("description"),
        "secret": payload.string("secret"),
        "status": payload.string("status"),
    }


@TABLE.route("POST", _HOOKS)
def create_webhook(services: Services, payload: Payload) -> dict[str, Any]:
    return {"webhook": services.webhooks.create(**_fields(payload))}


@TABLE.route("GET", _HOOKS)
def list_webhooks(services: Services, payload: Payload) -> dict[str, Any]:
    return services.webhooks.list(payload.int64("max_results"), payload.string("page_token"))


@TABLE.route("GET", _ONE)
def get_webhook(services: Services, payload: Payload) -> dict[str, Any]:
    return {"webhook": services.webhooks.get(payload.req_string("webhook_id"))}


@TABLE.route("PATCH", _ONE)
def update_webhook(services: Services, payload: Payload) -> dict[str, Any]:
    return {"webhook": services.webhooks.update(payload.req_string("webhook_id"), **_fields(payload))}


@TABLE.route("DELETE", _ONE)
def delete_webhook(services: Services, payload: Payload) -> dict[str, Any]:
    services.webhooks.delete(payload.req_string("webhook_id"))
    return {}


@TABLE.route("POST", _ONE + "/test")
def test_webhook(services: Services, payload: Payload) -> dict[str, Any]:
    return {"result": services.webhooks.test(payload.req_string("webhook_id"), payload.raw("event"))}


@TABLE.route("GET", _ONE + "/deliveries")
def list_webhook_deliveries(services: Services, payload: Payload) -> dict[str, Any]:
    return services.webhooks.deliveries(
        payload.req_string("webhook_id"), payload.int64("max_results"), payload.string("page_token")
    )
