"""Metric alert rules (``/api/2.0/ledgerflow/alert-rules/...``). A rule belongs to an
experiment and every call names it, so permissions are the experiment's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.errors import InvalidParameter
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
RULES = "/2.0/ledgerflow/alert-rules"


def _experiment(payload: Payload) -> str:
    # A JSON number or a string of digits, as the permission check reads it; required.
    value = payload.raw("experiment_id")
    if value is None or value == "" or isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidParameter("Missing value for required parameter 'experiment_id'.")
    return str(value)


@TABLE.route("POST", f"{RULES}/create")
def create_alert_rule(services: Services, payload: Payload) -> dict[str, Any]:
    rule = services.alerts.rules.create(
        _experiment(payload),
        payload.string("metric_key"),
        payload.string("comparison"),
        payload.double("threshold"),
    )
    return {"alert_rule": rule}


@TABLE.route("GET", f"{RULES}/list")
def list_alert_rules(services: Services, payload: Payload) -> dict[str, Any]:
    return {"alert_rules": services.alerts.rules.list(_experiment(payload))}


@TABLE.route("GET", f"{RULES}/get")
def get_alert_rule(services: Services, payload: Payload) -> dict[str, Any]:
    rule = services.alerts.rules.get(payload.string("rule_id"), _experiment(payload))
    return {"alert_rule": rule}


@TABLE.route("POST", f"{RULES}/delete")
def delete_alert_rule(services: Services, payload: Payload) -> dict[str, Any]:
    services.alerts.rules.delete(payload.string("rule_id"), _experiment(payload))
    return {}
