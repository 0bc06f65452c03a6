"""Policy-as-code and four-eyes promotion endpoints (``/2.0/ledgerflow/policies``,
``/promotion-requests``, ``/promotions/break-glass``).

Endpoints that name a request or an evaluation by id check the caller's permission on the
model it belongs to here (the permission table cannot locate a model from those ids).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.errors import InvalidParameter, PermissionDenied
from ledgerflow.governance.policy.document import parse_document
from ledgerflow.governance.policy.json_schema import SCHEMA
from ledgerflow.security.auth.identity import current_identity
from ledgerflow.security.authz import permissions as perm
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_POLICIES = "/2.0/ledgerflow/policies"
_REQUESTS = "/2.0/ledgerflow/promotion-requests"


def _version(payload: Payload) -> int:
    value = payload.raw("version")
    text = (
        str(value)
        if isinstance(value, int) and not isinstance(value, bool)
        else payload.req_string("version")
    )
    if not text.strip().isdigit():
        raise InvalidParameter(f"Invalid value '{text}' for parameter 'version': expected a version number.")
    return int(text)


def _require_on_model(services: Services, name: str, permission: str) -> None:
    identity = current_identity()
    if not services.authz.enabled or (identity is not None and identity.is_admin):
        return
    model_id = services.authz.model_by_name(name)
    held = (
        services.authz.permissions(identity, perm.REGISTERED_MODEL, model_id)
        if identity and model_id
        else frozenset()
    )
    if permission not in held:
        raise PermissionDenied("Permission denied.")


# -- policies ---------------------------------------------------------------------------------


@TABLE.route("GET", f"{_POLICIES}/schema", action="policies.schema")
def policy_schema(services: Services, payload: Payload) -> dict[str, Any]:
    return {"schema": SCHEMA}


@TABLE.route("POST", f"{_POLICIES}/validate", action="policies.validate")
def validate_policy(services: Services, payload: Payload) -> dict[str, Any]:
    return services.policies.validate(payload.req_string("source"))


@TABLE.route("POST", f"{_POLICIES}/create", action="policies.create", permission="admin")
def create_policy(services: Services, payload: Payload) -> dict[str, Any]:
    return {"policy": services.policies.upload(payload.req_string("source"))}


@TABLE.route("GET", f"{_POLICIES}/get", action="policies.get")
def get_policy(services: Services, payload: Payload) -> dict[str, Any]:
    version = payload.raw("version")
    number = None if version in (None, "") else _version(payload)
    return {"policy": services.policies.get(payload.req_string("name"), number)}


@TABLE.route("GET", f"{_POLICIES}/list", action="policies.list")
def list_policies(services: Services, payload: Payload) -> dict[str, Any]:
    return {"policies": services.policies.list_in_force()}


@TABLE.route("POST", f"{_POLICIES}/retire", action="policies.retire", permission="admin")
def retire_policy(services: Services, payload: Payload) -> dict[str, Any]:
    return {"policy": services.policies.retire(payload.req_string("name"))}


@TABLE.route("POST", f"{_POLICIES}/evaluate", action="policies.evaluate")
def evaluate_policy(services: Services, payload: Payload) -> dict[str, Any]:
    source = payload.string("source")
    documents = None if not source else [parse_document(source)]
    evaluation, evaluation_id = services.policies.evaluate(
        payload.req_string("name"), _version(payload), payload.string("target"), documents=documents
    )
    return {"evaluation": {"evaluation_id": evaluation_id, **evaluation.to_json()}}


@TABLE.route("GET", f"{_POLICIES}/evaluations/get", action="policies.get_evaluation")
def get_evaluation(services: Services, payload: Payload) -> dict[str, Any]:
    found = services.policies.get_evaluation(payload.req_string("evaluation_id"))
    _require_on_model(services, found["subject"]["name"], perm.READ)
    return {"evaluation": found}


@TABLE.route("GET", f"{_POLICIES}/evaluations/list", action="policies.list_evaluations")
def list_evaluations(services: Services, payload: Payload) -> dict[str, Any]:
    return {"evaluations": services.policies.evaluations_of(payload.req_string("name"), _version(payload))}


# -- promotion requests -----------------------------------------------------------------------


@TABLE.route("POST", f"{_REQUESTS}/create", action="promotion_requests.create")
def create_request(services: Services, payload: Payload) -> dict[str, Any]:
    request = services.promotions.create(
        payload.req_string("name"),
        _version(payload),
        payload.req_string("target"),
        payload.string("justification"),
    )
    return {"promotion_request": request}


def _request_for(services: Services, payload: Payload, permission: str) -> str:
    request_id = payload.req_string("request_id")
    found = services.promotions.get(request_id)
    _require_on_model(services, found["name"], permission)
    return request_id


@TABLE.route("GET", f"{_REQUESTS}/get", action="promotion_requests.get")
def get_request(services: Services, payload: Payload) -> dict[str, Any]:
    return {"promotion_request": services.promotions.get(_request_for(services, payload, perm.READ))}


@TABLE.route("GET", f"{_REQUESTS}/list", action="promotion_requests.list")
def list_requests(services: Services, payload: Payload) -> dict[str, Any]:
    found = services.promotions.search(payload.string("name"), payload.string("status"))
    readable = services.authz.readable_models()
    if readable is not None:
        found = [r for r in found if services.authz.model_by_name(r["name"]) in readable]
    return {"promotion_requests": found}


@TABLE.route("POST", f"{_REQUESTS}/approve", action="promotion_requests.approve")
def approve_request(services: Services, payload: Payload) -> dict[str, Any]:
    request_id = _request_for(services, payload, perm.READ)
    return {"promotion_request": services.promotions.decide(request_id, True, payload.string("comment"))}


@TABLE.route("POST", f"{_REQUESTS}/reject", action="promotion_requests.reject")
def reject_request(services: Services, payload: Payload) -> dict[str, Any]:
    request_id = _request_for(services, payload, perm.READ)
    return {"promotion_request": services.promotions.decide(request_id, False, payload.string("comment"))}


@TABLE.route("POST", f"{_REQUESTS}/cancel", action="promotion_requests.cancel")
def cancel_request(services: Services, payload: Payload) -> dict[str, Any]:
    return {"promotion_request": services.promotions.cancel(_request_for(services, payload, perm.READ))}


@TABLE.route("POST", f"{_REQUESTS}/promote", action="promotion_requests.promote")
def promote_request(services: Services, payload: Payload) -> dict[str, Any]:
    request_id = _request_for(services, payload, perm.PROMOTE)
    return {"promotion_request": services.promotions.promote(request_id)}


@TABLE.route(
    "POST", "/2.0/ledgerflow/promotions/break-glass", action="promotions.break_glass", permission="admin"
)
def break_glass(services: Services, payload: Payload) -> dict[str, Any]:
    if payload.boolean("remove", default=False):
        # Un-set a protected alias (the version is the one it points at now), or take a version
        # out of Production (the version is named: several may hold the stage).
        return {
            "promotion": services.promotions.break_glass_removal(
                payload.req_string("name"),
                payload.req_string("target"),
                payload.string("reason"),
                _version(payload) if payload.raw("version") is not None else None,
            )
        }
    return {
        "promotion": services.promotions.break_glass(
            payload.req_string("name"),
            _version(payload),
            payload.req_string("target"),
            payload.string("reason"),
        )
    }
