"""The promotion gate the registry calls before moving an alias or a stage, and before a
delete would un-set a protected one.

Installed on the registry's :class:`~ledgerflow.registry.promotion.PromotionHook`.

* Executing an approved promotion request: the request's binding (manifest digest, signature,
  policy digest) is re-checked and the policy re-evaluated with its approvals counted; an admin
  break-glass passes (it is audited where it is made).
* A direct move (no request): the policies in force for the model and target are evaluated, and
  on a protected target (the protected aliases, the Production stage) a policy's ``approvals``
  rule fails, since a direct move has no approvals; with or without ``--promotion-gate``. No
  policy in scope, nothing is checked, so stock MLflow clients keep working on unprotected
  aliases (an ``approvals`` rule is skipped there: there is no request to count).
* With ``--promotion-gate`` a protected target moves only by a request, and is un-set (alias
  deleted, version moved out of Production, or the version or model holding it deleted) only by
  a break-glass.
* Un-setting a protected target by a delete needs ``promote`` on the model, as demoting it does.
* Renaming a model that holds a protected target is treated like deleting it: references
  (``models:/<name>@champion``), signatures (bound to name and version) and policy scopes all
  go by the name. It needs ``promote``; with the gate on it is refused until a break-glass has
  removed the target; without the gate it is refused when the new name leaves the scope of a
  policy in force for the target (renaming into a stricter scope is fine).
* Archiving a version that holds a protected alias demotes the champion: it needs ``promote``
  (the alias stays where it is, so no break-glass is needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from ledgerflow.errors import LedgerflowError, PermissionDenied
from ledgerflow.governance.policy.service import is_protected
from ledgerflow.registry.promotion import PromotionCommit
from ledgerflow.registry.validation import STAGE_ARCHIVED, STAGE_PRODUCTION
from ledgerflow.security.auth.identity import current_identity
from ledgerflow.security.authz import permissions as perm
from ledgerflow.store import registry as model_store
from ledgerflow.store import registry_versions as version_store

if TYPE_CHECKING:
    from ledgerflow.governance.approvals.requests import PromotionRequests
    from ledgerflow.tracking.services import Services


@dataclass(frozen=True)
class Execution:
    """What the current call is executing: an approved request, or an admin break-glass."""

    request_id: str | None = None
    break_glass_reason: str | None = None


_EXECUTING: ContextVar[Execution | None] = ContextVar("ledgerflow_promotion_execution", default=None)


@contextmanager
def executing(execution: Execution) -> Iterator[None]:
    token = _EXECUTING.set(execution)
    try:
        yield
    finally:
        _EXECUTING.reset(token)


def refusal_message(name: str, target: str) -> str:
    kind, _, value = target.partition(":")
    what = f"alias '{value}'" if kind == "alias" else f"stage '{value}'"
    return (
        f"The {what} of model '{name}' is protected: it moves only by executing an approved "
        f"promotion request. Request one with `ledgerflow gate request --model '{name}' --version <N> "
        f"--target {target}` (POST /api/2.0/ledgerflow/promotion-requests/create), have an approver "
        "approve it, then `ledgerflow gate promote --request-id <id>`."
    )


_REMOVALS = {
    "delete_alias": "deleting the alias",
    "delete_model_version": "deleting the version it points at",
    "delete_registered_model": "deleting the registered model",
    "transition_stage": "moving the version to another stage",
}
_STAGE_REMOVALS = {
    "delete_model_version": "deleting the version that holds it",
    "delete_registered_model": "deleting the registered model",
    "transition_stage": "moving the version to another stage",
}


def removal_refusal_message(name: str, target: str, operation: str, version: int | None = None) -> str:
    kind, _, value = target.partition(":")
    if kind == "stage":
        what = _STAGE_REMOVALS.get(operation, operation)
        replace = (
            "Replace it through an approved promotion request for another version (it archives this "
            "one), or take it out"
        )
        return (
            f"The stage '{value}' of model '{name}' (version {version}) is protected and would be removed "
            f"by {what}. {replace} with an administrator's break-glass, which needs a reason and is "
            "audited: POST /api/2.0/ledgerflow/promotions/break-glass with "
            f'{{"name": "{name}", "version": "{version}", "target": "{target}", "remove": true, '
            '"reason": "..."}.'
        )
    what = _REMOVALS.get(operation, operation)
    first = (
        "Delete it"
        if operation == "delete_alias"
        else "Move it first through an approved promotion request, or remove it"
    )
    return (
        f"The alias '{value}' of model '{name}' is protected and would be removed by {what}. "
        f"{first} with an administrator's break-glass, which needs a reason and is audited: "
        "POST /api/2.0/ledgerflow/promotions/break-glass with "
        f'{{"name": "{name}", "target": "{target}", "remove": true, "reason": "..."}}.'
    )


def _describe(target: str) -> str:
    kind, _, value = target.partition(":")
    return f"the alias '{value}'" if kind == "alias" else f"the stage '{value}'"


def _held_text(held: list[tuple[int, str]]) -> str:
    return ", ".join(f"{_describe(target)} (version {version})" for version, target in held)


def rename_refusal_message(name: str, new_name: str, held: list[tuple[int, str]]) -> str:
    version, target = held[0]
    body = f'{{"name": "{name}", "target": "{target}", "remove": true, "reason": "..."}}'
    if target.startswith("stage:"):
        body = f'{{"name": "{name}", "version": "{version}", "target": "{target}", "remove": true, "reason": "..."}}'
    return (
        f"Model '{name}' holds {_held_text(held)}, which is protected; renaming it to '{new_name}' "
        f"would move it from under the name that references (models:/{name}@<alias>), signatures "
        "and policy scopes use, as deleting the model would remove it. Remove the protected "
        "targets first with an administrator's break-glass, which needs a reason and is audited: "
        f"POST /api/2.0/ledgerflow/promotions/break-glass with {body}; then rename."
    )


class PromotionGate:
    def __init__(self, services: Services, requests: PromotionRequests) -> None:
        self.services = services
        self.requests = requests

    @property
    def four_eyes(self) -> bool:
        return bool(self.services.config.promotion_gate)

    def __call__(self, name: str, version: int, target: str) -> PromotionCommit | None:
        execution = _EXECUTING.get()
        if execution is not None and execution.break_glass_reason is not None:
            return None
        if execution is not None:
            assert execution.request_id is not None
            checked = self.requests.check_for_promotion(execution.request_id, name, version, target)

            def commit(conn: Connection) -> None:
                self.requests.mark_promoted(conn, checked)

            return commit
        if self.four_eyes and is_protected(self.services, target):
            self._refused(name, version, target, "outside an approved promotion request")
            raise PermissionDenied(refusal_message(name, target))
        if self.four_eyes and self._leaves_production(name, version, target):
            production = f"stage:{STAGE_PRODUCTION}"
            self._refused(
                name, version, production, "protected stage removal outside a break-glass", "transition_stage"
            )
            raise PermissionDenied(removal_refusal_message(name, production, "transition_stage", version))
        if target == f"stage:{STAGE_ARCHIVED}":
            self._archive_needs_promote(name, version)
        # A direct move: an uploaded policy is never silently ignored, and its approvals rule
        # fails on a protected target (the move has no approvals to count).
        self.requests.enforce_policies(name, version, target)
        return None

    def _leaves_production(self, name: str, version: int, target: str) -> bool:
        kind, _, stage = target.partition(":")
        if kind != "stage" or stage.lower() == STAGE_PRODUCTION.lower():
            return False
        try:
            current = self.services.registry.versions.get(name, version).get("current_stage")
        except LedgerflowError:
            return False  # the registry answers for a missing version
        return str(current) == STAGE_PRODUCTION

    def _refused(
        self,
        name: str,
        version: int,
        target: str,
        reason: str,
        operation: str | None = None,
        new_name: str | None = None,
    ) -> None:
        details = {"target": target, "reason": reason}
        if operation is not None:
            details["operation"] = operation
        if new_name is not None:
            details["new_name"] = new_name
        self.services.audit.record_event(
            "promotion.refused",
            "denied",
            resource_type="model_version",
            resource_id=f"{name}/{version}",
            details=details,
        )

    def check_removal(self, name: str, version: int, target: str, operation: str) -> None:
        """Before a delete un-sets *target* (an alias the version holds, or its Production
        stage). Unprotected aliases go as before. A protected target needs ``promote`` on the
        model (the permission demoting it needs) and, with the gate on, a break-glass: an
        approved request moves a target, it never un-sets one."""
        if not is_protected(self.services, target):
            return
        self._require_promote(name, version, target, operation)
        if not self.four_eyes:
            return
        execution = _EXECUTING.get()
        if execution is not None and execution.break_glass_reason is not None:
            return
        kind = target.partition(":")[0]
        self._refused(name, version, target, f"protected {kind} removal outside a break-glass", operation)
        raise PermissionDenied(removal_refusal_message(name, target, operation, version))

    def _held(self, name: str, version: int | None = None) -> list[tuple[int, str]]:
        """The protected targets the model (or one of its versions) holds: (version, target)."""
        with self.services.db.read() as conn:
            row = model_store.find_row(conn, name)
            if row is None:
                return []  # the registry answers for a missing model
            model_id = row.registered_model_id
            aliases = [
                (int(e.version), f"alias:{e.alias}") for e in model_store.open_history_rows(conn, model_id)
            ]
            production = version_store.versions_in_stage(conn, model_id, STAGE_PRODUCTION)
        held = aliases + [(int(n), f"stage:{STAGE_PRODUCTION}") for n in production]
        return [
            (number, target)
            for number, target in held
            if (version is None or number == version) and is_protected(self.services, target)
        ]

    def _archive_needs_promote(self, name: str, version: int) -> None:
        for _, target in self._held(name, version):
            if target.startswith("alias:"):
                self._require_promote(
                    name,
                    version,
                    target,
                    "archive_model_version",
                    f"Archiving version {version} of model '{name}', which holds {_describe(target)}, "
                    "demotes it; that needs 'promote' on the model, as moving the alias does.",
                )

    def check_rename(self, name: str, new_name: str) -> None:
        """Before *name* is renamed: see the module text. Nothing is renamed on a refusal (the
        registry asks before its write)."""
        if new_name == name:
            return
        held = self._held(name)
        if not held:
            return
        operation = "rename_registered_model"
        for version, target in held:
            self._require_promote(name, version, target, operation)
        version, target = held[0]
        if self.four_eyes:
            self._refused(name, version, target, "protected target moved by a rename", operation, new_name)
            raise PermissionDenied(rename_refusal_message(name, new_name, held))
        policies = self.requests.policies
        for version, target in held:
            staying = {doc.name for _, doc in policies.in_force_for(new_name, target)}
            left = sorted({doc.name for _, doc in policies.in_force_for(name, target)} - staying)
            if not left:
                continue
            self._refused(name, version, target, f"rename leaves the scope of {left}", operation, new_name)
            named = ", ".join(f"'{policy}'" for policy in left)
            raise PermissionDenied(
                f"Renaming model '{name}' to '{new_name}' would take {_describe(target)} (version "
                f"{version}) out of the scope of the policy {named} in force for it. Rename within "
                "the policy's scope, or first remove the target (delete the alias, or move the "
                "version out of Production: both need 'promote'), then rename."
            )

    def _require_promote(
        self, name: str, version: int, target: str, operation: str, message: str | None = None
    ) -> None:
        authz = self.services.authz
        identity = current_identity()
        if identity is None or authz.unrestricted(identity):
            return
        model_id = authz.model_by_name(name)
        held = authz.permissions(identity, perm.REGISTERED_MODEL, model_id) if model_id else frozenset()
        if perm.PROMOTE in held:
            return
        self._refused(name, version, target, "needs 'promote' on the model", operation)
        if message is not None:
            raise PermissionDenied(message)
        act = {
            "delete_alias": "Deleting the alias",
            "delete_registered_model": "Deleting the model",
            "rename_registered_model": "Renaming the model",
        }.get(operation, f"Deleting version {version}")
        raise PermissionDenied(
            f"{act} would remove {_describe(target)} of model '{name}' (held by version {version}); "
            "that needs 'promote' on the model, as demoting it does."
        )
