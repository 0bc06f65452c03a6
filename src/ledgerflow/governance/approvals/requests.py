"""PromotionRequest: the four-eyes state machine.

::

    REQUESTED --approve (enough approvals)--> APPROVED --promote--> PROMOTED
        |   \\--reject--> REJECTED               |  \\--gate now fails--> FAILED
        |                                      |
        +--- artifact, signature or policy changed ---> INVALIDATED
        +--- past expires_at -------------------------> EXPIRED
        +--- cancelled by the requester -------------> CANCELLED

A request is bound to the version's manifest digest and a *binding digest* over the manifest
digest, the signature facts and the digest of the policies in force; any change to one of them
after the request was made invalidates it. The approver must hold ``approve`` on the model
(the ``approver`` or ``manager`` role, or be an admin), and must be neither the requester nor
the owner of the version's run. Promotion re-evaluates the gate at that moment.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from ledgerflow.errors import (
    InvalidParameter,
    LedgerflowError,
    PermissionDenied,
    ResourceConflict,
    ResourceDoesNotExist,
)
from ledgerflow.governance.approvals import store
from ledgerflow.governance.approvals.gate import Execution, executing
from ledgerflow.governance.policy.document import digest_of
from ledgerflow.governance.policy.engine import Evaluation
from ledgerflow.governance.policy.service import (
    PolicyService,
    Subject,
    actor_name,
    is_protected,
    parse_target,
)
from ledgerflow.registry.validation import STAGE_ARCHIVED, STAGE_PRODUCTION
from ledgerflow.security.audit.log import SUCCESS, Event
from ledgerflow.security.auth.identity import current_identity
from ledgerflow.security.authz import permissions as perm
from ledgerflow.tracking.clock import now_ms

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

REQUESTED, APPROVED, REJECTED, PROMOTED = "REQUESTED", "APPROVED", "REJECTED", "PROMOTED"
INVALIDATED, FAILED, EXPIRED, CANCELLED = "INVALIDATED", "FAILED", "EXPIRED", "CANCELLED"
OPEN = (REQUESTED, APPROVED)
STATUSES = (REQUESTED, APPROVED, REJECTED, PROMOTED, INVALIDATED, FAILED, EXPIRED, CANCELLED)
EXPIRY_MS = 7 * 24 * 3600 * 1000
MAX_TEXT = 5000
LIST_LIMIT = 200


def gate_failure(evaluation: Evaluation, evaluation_id: str, what: str) -> ResourceConflict:
    failing = "; ".join(
        f"{r.policy}:{r.id} {r.result} (observed {r.observed!r}, threshold {r.threshold!r}"
        + (f", {r.message}" if r.message else "")
        + ")"
        for r in evaluation.failing()
    )
    subject = evaluation.subject
    return ResourceConflict(
        f"{what}: the promotion gate failed for model '{subject['name']}' version {subject['version']} "
        f"-> {subject['target']} (evaluation {evaluation_id}). Failing rules: {failing}"
    )


@dataclass(frozen=True)
class Checked:
    """A request that passed the promotion-time checks, to be marked promoted in the registry's
    transaction."""

    request_id: str
    evaluation_id: str


class PromotionRequests:
    def __init__(self, services: Services, policies: PolicyService) -> None:
        self.services = services
        self.db = services.db
        self.policies = policies

    # -- helpers ------------------------------------------------------------------------------

    def _binding(self, subject: Subject, target: str) -> str:
        signature = subject.facts.get("signature") or {}
        chosen = self.policies.in_force_for(subject.name, target)
        return digest_of(
            {
                "manifest_digest": subject.manifest_digest,
                "signature": {k: signature.get(k) for k in ("status", "key_id", "manifest_digest")},
                "policies": sorted(d.digest for _, d in chosen),
            }
        )

    def _min_approvals(self, name: str, target: str) -> int:
        return max([d.min_approvals() for _, d in self.policies.in_force_for(name, target)], default=1)

    def _row(self, request_id: str) -> Any:
        with self.db.read() as conn:
            row = store.get_request(conn, request_id)
        if row is None:
            raise ResourceDoesNotExist(f"Promotion request '{request_id}' not found.")
        return row

    def _json(self, row: Any) -> dict[str, Any]:
        with self.db.read() as conn:
            approvals = store.approvals_of(conn, row.request_id)
        return {
            "request_id": row.request_id,
            "name": row.model_name,
            "version": str(row.model_version),
            "target": row.target,
            "status": row.status,
            "status_reason": row.status_reason,
            "requested_by": row.requested_by,
            "justification": row.justification,
            "manifest_digest": row.manifest_digest,
            "policy_evaluation_id": row.policy_evaluation_id,
            "min_approvals": int(row.min_approvals),
            "creation_time": int(row.creation_time),
            "last_updated_time": int(row.last_updated_time),
            "expires_at": int(row.expires_at),
            "approvals": [
                {
                    "approver": a.approver,
                    "decision": a.decision,
                    "comment": a.comment,
                    "manifest_digest": a.manifest_digest,
                    "policy_evaluation_id": a.policy_evaluation_id,
                    "creation_time": int(a.creation_time),
                }
                for a in approvals
            ],
        }

    def _transition(self, row: Any, status: str, reason: str | None, action: str, **extra: Any) -> None:
        def change(conn: Connection) -> None:
            current = store.get_request(conn, row.request_id)
            if current is None or current.status != row.status:
                raise ResourceConflict(f"Promotion request '{row.request_id}' changed meanwhile; try again.")
            store.update_request(
                conn, row.request_id, status=status, status_reason=reason, last_updated_time=now_ms(), **extra
            )
            self._audit(conn, action, row, {"from": row.status, "to": status, "reason": reason})

        self.db.run_write(change, audit=False)

    def _emit(self, action: str, row: Any, **data: Any) -> None:
        self.services.registry.events.emit(
            "promotion_request",
            action,
            {
                "request_id": row.request_id,
                "name": row.model_name,
                "version": str(row.model_version),
                "target": row.target,
                **data,
            },
        )

    def _audit(self, conn: Connection, action: str, row: Any, details: dict[str, Any]) -> None:
        from ledgerflow.security.audit import context as audit_context

        context = audit_context.current()
        self.services.audit.append(
            conn,
            Event(
                actor=actor_name(),
                action=action,
                outcome=SUCCESS,
                resource_type="promotion_request",
                resource_id=row.request_id,
                source_address=context.source_address if context else None,
                request_id=context.request_id if context else None,
                details={
                    "name": row.model_name,
                    "version": int(row.model_version),
                    "target": row.target,
                    **details,
                },
            ),
        )

    def refresh(self, row: Any) -> Any:
        """Expire or invalidate an open request whose time ran out or whose binding changed."""
        if row.status not in OPEN:
            return row
        if now_ms() > int(row.expires_at):
            self._transition(row, EXPIRED, "the request expired", "promotion_request.expire")
            self._emit("expired", row)
            return self._row(row.request_id)
        subject = self.policies.subject(row.model_name, int(row.model_version))
        if self._binding(subject, row.target) != row.binding_digest:
            reason = self._what_changed(row, subject)
            self._transition(row, INVALIDATED, reason, "promotion_request.invalidate")
            self._emit("invalidated", row, reason=reason)
            return self._row(row.request_id)
        return row

    def _what_changed(self, row: Any, subject: Subject) -> str:
        if subject.manifest_digest != row.manifest_digest:
            return "the version's files changed after the request (manifest digest differs)"
        return "the signature or the policy in force changed after the request"

    def _require_approver(self, row: Any, identity_name: str) -> None:
        if identity_name == row.requested_by:
            raise PermissionDenied("The requester of a promotion cannot approve or reject it (four-eyes).")
        version = self.services.registry.versions.get(row.model_name, int(row.model_version))
        run_id = version.get("run_id")
        if run_id:
            try:
                owner = self.services.runs.get(run_id)["info"].get("user_id")
            except LedgerflowError:
                owner = None
            if owner and owner == identity_name:
                raise PermissionDenied(
                    "The owner of the version's run cannot approve its promotion (four-eyes)."
                )
        self._require_on_model(
            row.model_name, perm.APPROVE, f"Approving needs the approver role on model '{row.model_name}'."
        )

    def _require_on_model(self, model_name: str, permission: str, refusal: str) -> None:
        """Refuse (403 *refusal*) a caller without *permission* on the model, when authz is on."""
        identity = current_identity()
        if identity is None or not self.services.authz.enabled:
            return
        model_id = self.services.authz.model_by_name(model_name)
        held = (
            self.services.authz.permissions(identity, perm.REGISTERED_MODEL, model_id)
            if model_id
            else frozenset()
        )
        if permission not in held:
            raise PermissionDenied(refusal)

    # -- the API ------------------------------------------------------------------------------

    def create(
        self, name: str, version: int, target: str | None, justification: str | None
    ) -> dict[str, Any]:
        target = parse_target(target)
        if not is_protected(self.services, target):
            raise InvalidParameter(
                f"Target {target} is not protected: set it directly, no request is needed."
            )
        justification = (justification or "").strip()
        if len(justification) > MAX_TEXT:
            raise InvalidParameter(f"justification is longer than {MAX_TEXT} characters.")
        requester = actor_name()
        subject = self.policies.subject(name, version)
        evaluation, evaluation_id = self.policies.evaluate(
            subject.name, subject.version, target, requester=requester, subject=subject
        )
        if evaluation.decision != "pass":
            raise gate_failure(evaluation, evaluation_id, "Promotion request refused")
        now = now_ms()
        request_id = uuid.uuid4().hex
        values: dict[str, Any] = {
            "request_id": request_id,
            "model_name": subject.name,
            "model_version": subject.version,
            "target": target,
            "status": REQUESTED,
            "requested_by": requester,
            "justification": justification,
            "manifest_digest": subject.manifest_digest,
            "binding_digest": self._binding(subject, target),
            "policy_evaluation_id": evaluation_id,
            "min_approvals": self._min_approvals(subject.name, target),
            "status_reason": None,
            "creation_time": now,
            "last_updated_time": now,
            "expires_at": now + EXPIRY_MS,
        }

        def insert(conn: Connection) -> Any:
            store.insert_request(conn, values)
            row = store.get_request(conn, request_id)
            self._audit(conn, "promotion_request.create", row, {"evaluation_id": evaluation_id})
            return row

        row = self.db.run_write(insert, audit=False)
        self._emit("created", row, requested_by=requester, policy_evaluation_id=evaluation_id)
        return self._json(row)

    def get(self, request_id: str) -> dict[str, Any]:
        return self._json(self.refresh(self._row(request_id)))

    def search(self, name: str | None, status: str | None) -> list[dict[str, Any]]:
        if status and status.upper() not in STATUSES:
            raise InvalidParameter(f"Invalid status '{status}'; expected one of {', '.join(STATUSES)}.")
        with self.db.read() as conn:
            rows = store.list_requests(conn, name, status.upper() if status else None, LIST_LIMIT)
        return [self._json(row) for row in rows]

    def decide(self, request_id: str, approve: bool, comment: str | None) -> dict[str, Any]:
        comment = (comment or "").strip()
        if len(comment) > MAX_TEXT:
            raise InvalidParameter(f"comment is longer than {MAX_TEXT} characters.")
        row = self.refresh(self._row(request_id))
        approver = actor_name()
        self._require_approver(row, approver)
        if row.status != REQUESTED:
            raise ResourceConflict(
                f"Promotion request '{request_id}' is {row.status}; only a REQUESTED one can be decided."
            )
        with self.db.read() as conn:
            if any(a.approver == approver for a in store.approvals_of(conn, request_id)):
                raise ResourceConflict(f"{approver} has already decided on promotion request '{request_id}'.")
            approvers = [a.approver for a in store.approvals_of(conn, request_id) if a.decision == "approve"]
        evaluation_id = row.policy_evaluation_id
        if approve:
            # The approval is bound to an evaluation made now (approvals counted at promotion).
            evaluation, evaluation_id = self.policies.evaluate(
                row.model_name, int(row.model_version), row.target, requester=row.requested_by
            )
            if evaluation.decision != "pass":
                raise gate_failure(evaluation, evaluation_id, "Approval refused")
            approvers.append(approver)
        status = (
            (APPROVED if len(approvers) >= int(row.min_approvals) else REQUESTED) if approve else REJECTED
        )

        def decide(conn: Connection) -> Any:
            current = store.get_request(conn, request_id)
            if current is None or current.status != REQUESTED:
                raise ResourceConflict(f"Promotion request '{request_id}' changed meanwhile; try again.")
            store.insert_approval(
                conn,
                {
                    "request_id": request_id,
                    "approver": approver,
                    "decision": "approve" if approve else "reject",
                    "comment": comment,
                    "manifest_digest": row.manifest_digest,
                    "binding_digest": row.binding_digest,
                    "policy_evaluation_id": evaluation_id,
                    "creation_time": now_ms(),
                },
            )
            store.update_request(
                conn,
                request_id,
                status=status,
                status_reason=comment or None,
                last_updated_time=now_ms(),
                policy_evaluation_id=evaluation_id,
            )
            action = "promotion_request.approve" if approve else "promotion_request.reject"
            self._audit(conn, action, current, {"evaluation_id": evaluation_id, "status": status})
            return store.get_request(conn, request_id)

        updated = self.db.run_write(decide, audit=False)
        self._attest_decision(updated, approver, approve, comment, evaluation_id)
        self._emit("approved" if approve else "rejected", updated, by=approver, status=status)
        return self._json(updated)

    def _attest_decision(
        self, row: Any, approver: str, approve: bool, comment: str, evaluation_id: str
    ) -> None:
        """A signed statement of the decision, bound to the manifest digest it was made on (the
        signing subsystem's attestation API; skipped when the files are not on this server)."""
        attestations = getattr(self.services, "attestations", None)
        if attestations is None or row.manifest_digest is None:
            return
        from ledgerflow.governance.signing.attestations import PREDICATE_APPROVAL

        predicate = {
            "request_id": row.request_id,
            "target": row.target,
            "approver": approver,
            "decision": "approve" if approve else "reject",
            "comment": comment,
            "requested_by": row.requested_by,
            "policy_evaluation_id": evaluation_id,
            "status": row.status,
        }
        try:
            attestations.attest(
                PREDICATE_APPROVAL, row.model_name, int(row.model_version), row.manifest_digest, predicate
            )
        except LedgerflowError:
            # The files changed since the request: the request is invalidated on its next read.
            return

    def cancel(self, request_id: str) -> dict[str, Any]:
        row = self._row(request_id)
        if actor_name() != row.requested_by:
            raise PermissionDenied("Only the requester can cancel a promotion request.")
        if row.status not in OPEN:
            raise ResourceConflict(
                f"Promotion request '{request_id}' is {row.status}; it cannot be cancelled."
            )
        self._transition(row, CANCELLED, "cancelled by the requester", "promotion_request.cancel")
        return self.get(request_id)

    def promote(self, request_id: str) -> dict[str, Any]:
        """Execute an approved request: move the alias or stage through the registry, whose
        promotion gate re-checks and re-evaluates it."""
        row = self.refresh(self._row(request_id))
        self._require_on_model(
            row.model_name,
            perm.PROMOTE,
            f"Executing a promotion needs 'promote' on model '{row.model_name}'.",
        )
        if row.status != APPROVED:
            raise ResourceConflict(
                f"Promotion request '{request_id}' is {row.status}"
                + (f" ({row.status_reason})" if row.status_reason else "")
                + "; only an APPROVED request can be promoted."
            )
        kind, _, value = row.target.partition(":")
        with executing(Execution(request_id=request_id)):
            if kind == "alias":
                self.services.registry.aliases.set(row.model_name, value, str(row.model_version))
            else:
                self.services.registry.versions.transition_stage(
                    row.model_name, str(row.model_version), value, True
                )
        promoted = self._row(request_id)
        self._emit("promoted", promoted, by=actor_name(), policy_evaluation_id=promoted.policy_evaluation_id)
        return self._json(promoted)

    # -- called by the gate -------------------------------------------------------------------

    def enforce_policies(self, name: str, version: int, target: str) -> None:
        """Refuse a direct move to *target* when a policy in force for it fails (409 naming the
        failing rules). On a protected target a direct move counts no approvals, so a policy's
        ``approvals`` rule fails and only an approved request can make the move; on an
        unprotected one there is no request to count and the rule is skipped. With no policy in
        scope there is nothing to check, so stock MLflow clients keep working."""
        target = parse_target(target)
        if not self.policies.in_force_for(name, target):
            return
        approvers: list[str] | None = [] if is_protected(self.services, target) else None
        evaluation, evaluation_id = self.policies.evaluate(name, version, target, approvers=approvers)
        if evaluation.decision != "pass":
            raise gate_failure(evaluation, evaluation_id, "Promotion refused")

    def check_for_promotion(self, request_id: str, name: str, version: int, target: str) -> Checked:
        row = self.refresh(self._row(request_id))
        if (row.model_name, int(row.model_version), row.target) != (name, version, target):
            raise PermissionDenied(f"Promotion request '{request_id}' is for another version or target.")
        if row.status != APPROVED:
            raise ResourceConflict(
                f"Promotion request '{request_id}' is {row.status}"
                + (f": {row.status_reason}" if row.status_reason else "")
            )
        with self.db.read() as conn:
            approvers = [a.approver for a in store.approvals_of(conn, request_id) if a.decision == "approve"]
        evaluation, evaluation_id = self.policies.evaluate(
            name, version, target, approvers=approvers, requester=row.requested_by
        )
        if evaluation.decision != "pass":
            reason = "the gate failed at promotion: " + ", ".join(r.id for r in evaluation.failing())
            self._transition(
                row, FAILED, reason, "promotion_request.fail", policy_evaluation_id=evaluation_id
            )
            raise gate_failure(evaluation, evaluation_id, "Promotion refused")
        return Checked(request_id, evaluation_id)

    def mark_promoted(self, conn: Connection, checked: Checked) -> None:
        current = store.get_request(conn, checked.request_id)
        if current is None or current.status != APPROVED:
            raise ResourceConflict(f"Promotion request '{checked.request_id}' changed meanwhile; try again.")
        store.update_request(
            conn,
            checked.request_id,
            status=PROMOTED,
            status_reason=None,
            policy_evaluation_id=checked.evaluation_id,
            last_updated_time=now_ms(),
        )
        self._audit(conn, "promotion_request.promote", current, {"evaluation_id": checked.evaluation_id})

    # -- break-glass --------------------------------------------------------------------------

    @staticmethod
    def _break_glass_actor(reason: str | None) -> tuple[str, str]:
        identity = current_identity()
        if identity is None or not identity.is_admin:
            raise PermissionDenied("Break-glass promotion is for administrators only.")
        reason = (reason or "").strip()
        if not reason:
            raise InvalidParameter(
                "Missing value for required parameter 'reason': break-glass needs a reason."
            )
        return identity.username, reason

    def break_glass_removal(
        self, name: str, target: str | None, reason: str | None, version: int | None = None
    ) -> dict[str, Any]:
        """Un-set a protected alias, or take *version* out of Production (archived), the only
        way with the gate on: audited as high severity, announced by webhook."""
        username, reason = self._break_glass_actor(reason)
        target = parse_target(target)
        kind, _, value = target.partition(":")
        if kind == "alias":
            version = int(self.services.registry.aliases.get(name, value)["version"])
        elif value == STAGE_PRODUCTION:
            if version is None:
                raise InvalidParameter(
                    "Missing value for required parameter 'version': name the version to take out of "
                    "Production."
                )
            found = self.services.registry.versions.get(name, version)
            if found.get("current_stage") != STAGE_PRODUCTION:
                raise InvalidParameter(f"Version {version} of model '{name}' is not in Production.")
        else:
            raise InvalidParameter(
                f"Invalid value '{target}' for parameter 'target': only an alias or the Production "
                "stage can be removed."
            )
        details = {"severity": "high", "target": target, "reason": reason, "operation": "remove"}
        self.services.audit.record_event(
            "promotion.break_glass",
            SUCCESS,
            resource_type="model_version",
            resource_id=f"{name}/{version}",
            details=details,
        )
        with executing(Execution(break_glass_reason=reason)):
            if kind == "alias":
                self.services.registry.aliases.delete(name, value)
            else:
                self.services.registry.versions.transition_stage(name, str(version), STAGE_ARCHIVED, False)
        self.services.registry.events.emit(
            "promotion", "break_glass", {"name": name, "version": str(version), "by": username, **details}
        )
        return {"name": name, "version": str(version), **details}

    def break_glass(self, name: str, version: int, target: str | None, reason: str | None) -> dict[str, Any]:
        username, reason = self._break_glass_actor(reason)
        target = parse_target(target)
        evaluation, evaluation_id = self.policies.evaluate(name, version, target)
        details = {
            "severity": "high",
            "target": target,
            "reason": reason,
            "evaluation_id": evaluation_id,
            "decision": evaluation.decision,
            "failing": [r.id for r in evaluation.failing()],
        }
        self.services.audit.record_event(
            "promotion.break_glass",
            SUCCESS,
            resource_type="model_version",
            resource_id=f"{name}/{version}",
            details=details,
        )
        kind, _, value = target.partition(":")
        with executing(Execution(break_glass_reason=reason)):
            if kind == "alias":
                self.services.registry.aliases.set(name, value, str(version))
            else:
                self.services.registry.versions.transition_stage(name, str(version), value, True)
        self.services.registry.events.emit(
            "promotion",
            "break_glass",
            {"name": name, "version": str(version), "by": username, **details},
        )
        return {"name": name, "version": str(version), **details}
