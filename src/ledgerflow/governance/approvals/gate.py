"""The promotion gate the registry calls before moving a protected alias or stage.

Installed on the registry's :class:`~ledgerflow.registry.promotion.PromotionHook`. For an
unprotected target it does nothing (stock MLflow clients keep working). For a protected one it
lets the change through only while an approved promotion request (or an admin break-glass) is
being executed in this context, and only after re-checking the request's binding (manifest
digest, signature, policy digest) and re-evaluating the policy at that moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from ledgerflow.errors import PermissionDenied
from ledgerflow.governance.policy.service import is_protected
from ledgerflow.registry.promotion import PromotionCommit

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
}


def removal_refusal_message(name: str, target: str, operation: str) -> str:
    alias = target.partition(":")[2]
    what = _REMOVALS.get(operation, operation)
    first = (
        "Delete it"
        if operation == "delete_alias"
        else "Move it first through an approved promotion request, or remove it"
    )
    return (
        f"The alias '{alias}' of model '{name}' is protected and would be removed by {what}. "
        f"{first} with an administrator's break-glass, which needs a reason and is audited: "
        "POST /api/2.0/ledgerflow/promotions/break-glass with "
        f'{{"name": "{name}", "target": "{target}", "remove": true, "reason": "..."}}.'
    )


class PromotionGate:
    def __init__(self, services: Services, requests: PromotionRequests) -> None:
        self.services = services
        self.requests = requests

    def __call__(self, name: str, version: int, target: str) -> PromotionCommit | None:
        if not self.services.config.promotion_gate:
            # Without four-eyes, a policy in force for this model and target still gates the
            # move: an uploaded policy is never silently ignored.
            self.requests.enforce_policies(name, version, target)
            return None
        if not is_protected(self.services, target):
            return None
        execution = _EXECUTING.get()
        if execution is None:
            self.services.audit.record_event(
                "promotion.refused",
                "denied",
                resource_type="model_version",
                resource_id=f"{name}/{version}",
                details={"target": target, "reason": "outside an approved promotion request"},
            )
            raise PermissionDenied(refusal_message(name, target))
        if execution.break_glass_reason is not None:
            return None
        assert execution.request_id is not None
        checked = self.requests.check_for_promotion(execution.request_id, name, version, target)

        def commit(conn: Connection) -> None:
            self.requests.mark_promoted(conn, checked)

        return commit

    def check_removal(self, name: str, version: int, target: str, operation: str) -> None:
        """A protected alias is removed only by a break-glass: an approved request moves an
        alias, it never un-sets one. Without the gate (four-eyes off) nothing changes here."""
        if not self.services.config.promotion_gate or not is_protected(self.services, target):
            return
        execution = _EXECUTING.get()
        if execution is not None and execution.break_glass_reason is not None:
            return
        self.services.audit.record_event(
            "promotion.refused",
            "denied",
            resource_type="model_version",
            resource_id=f"{name}/{version}",
            details={
                "target": target,
                "operation": operation,
                "reason": "protected alias removal outside a break-glass",
            },
        )
        raise PermissionDenied(removal_refusal_message(name, target, operation))
