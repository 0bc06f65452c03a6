"""Permissions, roles and the resources they attach to.

Permissions are capabilities: ``read`` < ``edit`` < ``manage`` (each role that has one has the
ones below it), plus ``promote``, which only matters on registered models and is granted on
its own: an editor can register versions and move unprotected aliases but cannot put a version
into Production or move a protected alias. A manager (the creator of a resource, by default)
holds everything on it, ``promote`` included, and may grant roles on it to others.
Administrators bypass every check.

``evaluate`` (the ``evaluator`` role) records the evaluation results promotion policies gate
on. A manager does not hold it, and only an administrator may grant it: the owner of a model
must not be able to report its own model's numbers (or grant someone else that power).
"""

from __future__ import annotations

from typing import Final

from ledgerflow.errors import InvalidParameter

READ: Final = "read"
EDIT: Final = "edit"
MANAGE: Final = "manage"
PROMOTE: Final = "promote"
# Approving someone else's promotion request (four-eyes); held by approvers and managers.
APPROVE: Final = "approve"
# Recording evaluation results the policy gates count; held by evaluators (e.g. a CI service
# account), never by managers, granted by administrators only.
EVALUATE: Final = "evaluate"

EXPERIMENT: Final = "experiment"
REGISTERED_MODEL: Final = "registered_model"
RESOURCE_TYPES: Final = (EXPERIMENT, REGISTERED_MODEL)

USER: Final = "user"
GROUP: Final = "group"
EVERYONE: Final = "all"
EVERYONE_ID: Final = "*"
PRINCIPAL_TYPES: Final = (USER, GROUP, EVERYONE)

ROLES: Final[dict[str, frozenset[str]]] = {
    "viewer": frozenset({READ}),
    "editor": frozenset({READ, EDIT}),
    "promoter": frozenset({READ, PROMOTE}),
    "approver": frozenset({READ, APPROVE}),
    "evaluator": frozenset({READ, EVALUATE}),
    "manager": frozenset({READ, EDIT, MANAGE, PROMOTE, APPROVE}),
}
MANAGER: Final = "manager"
EVALUATOR: Final = "evaluator"
# Roles a resource's manager may not grant (an administrator may), nor the server's default.
ADMIN_GRANTED: Final = frozenset({EVALUATOR})
# What an administrator (or a server without authentication) holds on every resource.
EVERYTHING: Final = frozenset(p for held in ROLES.values() for p in held)
NONE: Final = "none"

# MLflow's permission names, accepted wherever a role is, so MLflow habits carry over.
_MLFLOW_NAMES: Final = {"READ": "viewer", "USE": "viewer", "EDIT": "editor", "MANAGE": "manager"}


def check_role(role: str | None) -> str:
    name = (role or "").strip()
    name = _MLFLOW_NAMES.get(name.upper(), name.lower())
    if name not in ROLES:
        raise InvalidParameter(f"Unknown role {role!r}; expected one of {', '.join(sorted(ROLES))}.")
    return name


def check_resource_type(kind: str | None) -> str:
    value = (kind or "").strip().lower().replace("-", "_")
    if value in ("registered_models", "model", "models"):
        value = REGISTERED_MODEL
    if value == "experiments":
        value = EXPERIMENT
    if value not in RESOURCE_TYPES:
        raise InvalidParameter(f"Unknown resource type {kind!r}; expected experiment or registered_model.")
    return value


def check_default(role: str | None) -> str | None:
    """The configured default role for new resources; None (nobody but the creator) by default."""
    if role is None or role.strip().lower() in ("", NONE, "no_permissions"):
        return None
    name = check_role(role)
    if name in ADMIN_GRANTED:
        raise InvalidParameter(f"The {name} role cannot be everyone's default; grant it to each principal.")
    return name
