"""Wire the policy service, the promotion requests and the promotion gate into a server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledgerflow.governance.approvals.gate import PromotionGate
from ledgerflow.governance.approvals.requests import PromotionRequests
from ledgerflow.governance.policy.service import PolicyService
from ledgerflow.registry.promotion import PromotionHook

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services


def install_promotion_governance(services: Services) -> tuple[PolicyService, PromotionRequests]:
    policies = PolicyService(services)
    # With authentication, gates count only evaluation results an authenticated evaluator or
    # admin recorded (not ones from before, or from while authentication was off).
    services.monitoring.evaluations.authenticated_only = services.authz.enabled
    requests = PromotionRequests(services, policies)
    # One gate, asked by both the alias service and the stage-transition code.
    hook = PromotionHook()
    gate = PromotionGate(services, requests)
    hook.install(gate, gate.check_removal, gate.check_rename)
    services.registry.aliases.promotion = hook
    services.registry.versions.promotion = hook
    services.registry.models.promotion = hook
    return policies, requests
