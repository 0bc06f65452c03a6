"""MLflow's basic-auth administration API (``mlflow.server.auth``), mapped onto our users and
grants, so admin scripts written for ``mlflow.server.get_app_client("basic-auth", ...)``
(``AuthServiceClient``) work unchanged.

Routes and shapes follow MLflow 2.x, which 3.x still serves:

* ``users/create|get|update-password|update-admin|delete``: administrators, except that a user
  may read their own record and change their own password (with ``current_password``, as
  MLflow 3 asks of self-service changes).
* ``experiments/permissions/*`` and ``registered-models/permissions/*``: whoever manages the
  resource (the route table checks ``manage``), as in MLflow.

MLflow's permission names map onto our roles: READ and USE -> viewer, EDIT -> editor, MANAGE ->
manager; our promoter role reads back as PROMOTE. There is no deny grant, so NO_PERMISSIONS is
refused: delete the permission instead (the configured default then applies). Deleting a user
disables it, which keeps the audit trail's actors resolvable and stops every credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.errors import InvalidParameter, PermissionDenied, ResourceAlreadyExists, ResourceDoesNotExist
from ledgerflow.security.auth.identity import Identity, require_admin, require_identity
from ledgerflow.security.authz import permissions as perm
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_USERS = "/2.0/mlflow/users"
_EXP = "/2.0/mlflow/experiments/permissions"
_RM = "/2.0/mlflow/registered-models/permissions"
_MLFLOW_NAMES = {"viewer": "READ", "editor": "EDIT", "manager": "MANAGE", "promoter": "PROMOTE"}


def role_of(permission: str | None) -> str:
    """Our role for an MLflow permission name (our own role names are accepted too)."""
    name = (permission or "").strip()
    if name.upper() == "NO_PERMISSIONS":
        raise InvalidParameter(
            "NO_PERMISSIONS cannot be granted here (there are no deny grants); delete the "
            "permission instead, and the server's default permission applies."
        )
    if name.upper() == "PROMOTE":
        return "promoter"
    return perm.check_role(name)


def mlflow_permission(role: str) -> str:
    return _MLFLOW_NAMES.get(role, role.upper())


def _user(services: Services, username: str) -> dict[str, Any]:
    users = {u["username"]: u for u in services.auth.list_users()}
    found = users.get(username)
    if found is None or "disabled_time" in found:
        raise ResourceDoesNotExist(f"User with username={username} not found")
    return found


def _user_json(services: Services, username: str) -> dict[str, Any]:
    user = _user(services, username)
    experiments: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    for resource_type, resource, role in services.authz.direct_grants(username):
        entry = {"user_id": user["user_id"], "permission": mlflow_permission(role)}
        if resource_type == perm.EXPERIMENT:
            experiments.append({"experiment_id": resource, **entry})
        else:
            models.append({"name": resource, **entry})
    return {
        "id": user["user_id"],
        "username": user["username"],
        "is_admin": user["is_admin"],
        "experiment_permissions": experiments,
        "registered_model_permissions": models,
    }


def _self_or_admin(username: str) -> Identity:
    caller = require_identity()
    if not caller.is_admin and caller.username != username:
        raise PermissionDenied("Permission denied.")
    return caller


@TABLE.route("POST", f"{_USERS}/create", permission="admin")
def create_user(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_admin()
    username = payload.req_string("username")
    services.auth.create_user(username, payload.req_string("password"), actor=caller.username)
    return {"user": _user_json(services, username)}


@TABLE.route("GET", f"{_USERS}/get")
def get_user(services: Services, payload: Payload) -> dict[str, Any]:
    username = payload.req_string("username")
    _self_or_admin(username)
    return {"user": _user_json(services, username)}


@TABLE.route("PATCH", f"{_USERS}/update-password")
def update_password(services: Services, payload: Payload) -> dict[str, Any]:
    username = payload.req_string("username")
    caller = _self_or_admin(username)
    _user(services, username)
    if not caller.is_admin:
        current = payload.string("current_password")
        if not current or not services.auth.check_password(username, current):
            raise PermissionDenied(
                "Changing your own password needs your current password (current_password)."
            )
    services.auth.change_password(username, payload.req_string("password"), actor=caller.username)
    return {}


@TABLE.route("PATCH", f"{_USERS}/update-admin", permission="admin")
def update_admin(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_admin()
    username = payload.req_string("username")
    is_admin = payload.boolean("is_admin")
    if is_admin is None:
        raise InvalidParameter("Missing value for required parameter 'is_admin'.")
    if username == caller.username and not is_admin:
        raise InvalidParameter("You cannot remove your own administrator rights.")
    services.auth.set_admin(username, bool(is_admin), actor=caller.username)
    return {}


@TABLE.route("DELETE", f"{_USERS}/delete", permission="admin")
def delete_user(services: Services, payload: Payload) -> dict[str, Any]:
    caller = require_admin()
    username = payload.req_string("username")
    if username == caller.username:
        raise InvalidParameter("You cannot delete yourself.")
    _user(services, username)
    services.auth.set_disabled(username, True, actor=caller.username)
    return {}


# -- grants -------------------------------------------------------------------------------------


def _resource(kind: str, payload: Payload) -> str:
    if kind == perm.EXPERIMENT:
        value = payload.raw("experiment_id")
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return payload.req_string("experiment_id")
    return payload.req_string("name")


def _permission_json(kind: str, resource: str, user_id: str, role: str) -> dict[str, Any]:
    key = "experiment_id" if kind == perm.EXPERIMENT else "name"
    return {key: resource, "user_id": user_id, "permission": mlflow_permission(role)}


def _wrap(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {("experiment_permission" if kind == perm.EXPERIMENT else "registered_model_permission"): body}


def _existing(services: Services, kind: str, resource: str, username: str) -> str | None:
    _user(services, username)
    return services.authz.direct_role(kind, resource, username)


def _missing(kind: str, resource: str, username: str) -> ResourceDoesNotExist:
    what = f"experiment_id={resource}" if kind == perm.EXPERIMENT else f"name={resource}"
    return ResourceDoesNotExist(f"Permission with {what} and username={username} not found")


def _create(services: Services, payload: Payload, kind: str) -> dict[str, Any]:
    resource, username = _resource(kind, payload), payload.req_string("username")
    role = role_of(payload.req_string("permission"))
    if _existing(services, kind, resource, username) is not None:
        raise ResourceAlreadyExists(f"Permission for {username} on {resource} already exists.")
    services.authz.grant(kind, resource, perm.USER, username, role, actor=require_identity())
    return _wrap(kind, _permission_json(kind, resource, _user(services, username)["user_id"], role))


def _get(services: Services, payload: Payload, kind: str) -> dict[str, Any]:
    resource, username = _resource(kind, payload), payload.req_string("username")
    role = _existing(services, kind, resource, username)
    if role is None:
        raise _missing(kind, resource, username)
    return _wrap(kind, _permission_json(kind, resource, _user(services, username)["user_id"], role))


def _update(services: Services, payload: Payload, kind: str) -> dict[str, Any]:
    resource, username = _resource(kind, payload), payload.req_string("username")
    role = role_of(payload.req_string("permission"))
    if _existing(services, kind, resource, username) is None:
        raise _missing(kind, resource, username)
    services.authz.grant(kind, resource, perm.USER, username, role, actor=require_identity())
    return {}


def _delete(services: Services, payload: Payload, kind: str) -> dict[str, Any]:
    resource, username = _resource(kind, payload), payload.req_string("username")
    if _existing(services, kind, resource, username) is None:
        raise _missing(kind, resource, username)
    services.authz.revoke(kind, resource, perm.USER, username, actor=require_identity())
    return {}


def _grant_routes(prefix: str, kind: str, group: str) -> None:
    def create(services: Services, payload: Payload) -> dict[str, Any]:
        return _create(services, payload, kind)

    def get(services: Services, payload: Payload) -> dict[str, Any]:
        return _get(services, payload, kind)

    def update(services: Services, payload: Payload) -> dict[str, Any]:
        return _update(services, payload, kind)

    def delete(services: Services, payload: Payload) -> dict[str, Any]:
        return _delete(services, payload, kind)

    TABLE.route("POST", f"{prefix}/create", action=f"{group}.create_permission")(create)
    TABLE.route("GET", f"{prefix}/get", action=f"{group}.get_permission")(get)
    TABLE.route("PATCH", f"{prefix}/update", action=f"{group}.update_permission")(update)
    TABLE.route("DELETE", f"{prefix}/delete", action=f"{group}.delete_permission")(delete)


_grant_routes(_EXP, perm.EXPERIMENT, "mlflow_auth.experiments")
_grant_routes(_RM, perm.REGISTERED_MODEL, "mlflow_auth.registered_models")
