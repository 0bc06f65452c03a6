"""Groups and grants over REST (``/api/2.0/ledgerflow/groups|grants``).

Groups are for administrators. Grants on a resource are for whoever manages it (its creator,
by default) and for administrators; listing every grant is for administrators only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.security.auth.identity import require_admin, require_identity
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_GROUPS = "/2.0/ledgerflow/groups"
_GRANTS = "/2.0/ledgerflow/grants"


@TABLE.route("POST", f"{_GROUPS}/create", permission="admin")
def create_group(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_admin()
    return {"group": services.authz.create_group(payload.req_string("name"), actor=caller.username)}


@TABLE.route("GET", f"{_GROUPS}/list", permission="admin")
def list_groups(services: Services, payload: Payload) -> dict[str, Any]:
    require_admin()
    groups = services.authz.list_groups()
    return {"groups": groups} if groups else {}


@TABLE.route("POST", f"{_GROUPS}/delete", permission="admin")
def delete_group(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_admin()
    services.authz.delete_group(payload.req_string("name"), actor=caller.username)
    return {}


@TABLE.route("POST", f"{_GROUPS}/members/add", permission="admin")
def add_member(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_admin()
    services.authz.set_member(
        payload.req_string("group"), payload.req_string("username"), True, actor=caller.username
    )
    return {}


@TABLE.route("POST", f"{_GROUPS}/members/remove", permission="admin")
def remove_member(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_admin()
    services.authz.set_member(
        payload.req_string("group"), payload.req_string("username"), False, actor=caller.username
    )
    return {}


@TABLE.route("POST", f"{_GRANTS}/create")
def create_grant(services: Services, payload: Payload) -> dict[str, Any]:
    grant = services.authz.grant(
        payload.req_string("resource_type"),
        payload.req_string("resource"),
        payload.req_string("principal_type"),
        payload.string("principal") or "*",
        payload.req_string("role"),
        actor=require_identity(),
    )
    return {"grant": grant}


@TABLE.route("GET", f"{_GRANTS}/list")
def list_grants(services: Services, payload: Payload) -> dict[str, Any]:
    found = services.authz.list_grants(
        payload.string("resource_type"), payload.string("resource"), actor=require_identity()
    )
    return {"grants": found} if found else {}


@TABLE.route("POST", f"{_GRANTS}/delete")
def delete_grant(services: Services, payload: Payload) -> dict[str, Any]:
    services.authz.revoke(
        payload.req_string("resource_type"),
        payload.req_string("resource"),
        payload.req_string("principal_type"),
        payload.string("principal") or "*",
        actor=require_identity(),
    )
    return {}
