"""The policy service: stores policy documents, evaluates a model version against the ones in
force for a target, and records every evaluation (audit trail, attestation, webhook).

Inputs come only from ``services.facts.collect(name, version)`` (the governance subsystems'
fact sources) and the registry (the champion: the version the target points at now, and its
facts). The engine itself is pure (:mod:`ledgerflow.governance.policy.engine`).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from ledgerflow.errors import InvalidParameter, LedgerflowError, ResourceDoesNotExist
from ledgerflow.governance.policy import store
from ledgerflow.governance.policy.document import PolicyDocument, canonical_json, parse_document
from ledgerflow.governance.policy.engine import Champion, Evaluation, GateInputs, evaluate
from ledgerflow.governance.policy.subject import manifest_digest
from ledgerflow.registry.model_versions import require_version
from ledgerflow.registry.registered_models import require_model
from ledgerflow.registry.validation import STAGE_PRODUCTION, canonical_stage, validate_alias
from ledgerflow.security.audit import context as audit_context
from ledgerflow.security.audit.log import SUCCESS, Event
from ledgerflow.security.auth.identity import current_identity
from ledgerflow.store import registry as registry_store
from ledgerflow.tracking.clock import now_ms

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

_CACHE_LIMIT = 256
EVALUATIONS_PAGE = 50


def actor_name() -> str:
    """Who is acting: the authenticated caller, else the request's audit actor."""
    identity = current_identity()
    if identity is not None:
        return identity.username
    context = audit_context.current()
    return context.actor if context is not None else audit_context.local_actor()


def parse_target(text: str | None) -> str:
    """``alias:<name>`` or ``stage:<Stage>`` in canonical form."""
    kind, sep, value = (text or "").strip().partition(":")
    if not sep or not value:
        raise InvalidParameter(f"Invalid target '{text}': expected 'alias:<alias>' or 'stage:<stage>'.")
    if kind == "alias":
        return f"alias:{validate_alias(value)}"
    if kind == "stage":
        return f"stage:{canonical_stage(value)}"
    raise InvalidParameter(f"Invalid target '{text}': expected 'alias:<alias>' or 'stage:<stage>'.")


@dataclass(frozen=True)
class Subject:
    name: str
    version: int
    manifest_digest: str | None
    facts: dict[str, Any]


class PolicyService:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db
        self._parsed: dict[str, PolicyDocument] = {}
        self._lock = threading.Lock()

    # -- documents ----------------------------------------------------------------------------

    def _document(self, row: Any) -> PolicyDocument:
        with self._lock:
            found = self._parsed.get(row.digest)
        if found is None:
            found = parse_document(json.loads(row.document), stored=True)
            with self._lock:
                if len(self._parsed) >= _CACHE_LIMIT:
                    self._parsed.clear()
                self._parsed[row.digest] = found
        return found

    @staticmethod
    def _policy_json(row: Any, document: PolicyDocument | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "name": row.name,
            "version": int(row.version),
            "digest": row.digest,
            "created_by": row.created_by,
            "creation_time": int(row.creation_time),
            "retired": bool(row.retired),
            "source": row.source,
        }
        if document is not None:
            answer["scope"] = {"models": list(document.models), "targets": list(document.targets)}
            answer["rules"] = [{"id": r.id, "type": r.type, "severity": r.severity} for r in document.rules]
        return answer

    def validate(self, source: str) -> dict[str, Any]:
        document = parse_document(source)
        return {"valid": True, "name": document.name, "digest": document.digest, "rules": len(document.rules)}

    def upload(self, source: str) -> dict[str, Any]:
        """Store ``source`` as the next version of its policy (validated first: a bad document
        is refused with the path of the error and nothing is stored)."""
        document = parse_document(source)
        actor = actor_name()

        def put(conn: Connection) -> Any:
            latest = store.latest_version(conn, document.name)
            next_version = 1 if latest is None else int(latest.version) + 1
            if document.declared_version is not None:
                if latest is not None and document.declared_version <= int(latest.version):
                    raise InvalidParameter(
                        f"Invalid policy document at metadata.version: {document.declared_version} is not "
                        f"above the stored version {latest.version} of policy '{document.name}'."
                    )
                next_version = document.declared_version
            values = {
                "name": document.name,
                "version": next_version,
                "digest": document.digest,
                "source": source,
                "document": document.canonical,
                "created_by": actor,
                "creation_time": now_ms(),
                "retired": False,
            }
            store.insert_policy(conn, values)
            self._audit(
                conn,
                "policy.upload",
                "policy",
                f"{document.name}/{next_version}",
                {"digest": document.digest},
            )
            return store.get_version(conn, document.name, next_version)

        row = self.db.run_write(put, audit=False)
        return self._policy_json(row, document)

    def get(self, name: str, version: int | None = None) -> dict[str, Any]:
        with self.db.read() as conn:
            row = (
                store.latest_version(conn, name)
                if version is None
                else store.get_version(conn, name, version)
            )
        if row is None:
            suffix = "" if version is None else f" version {version}"
            raise ResourceDoesNotExist(f"Policy '{name}'{suffix} not found.")
        return self._policy_json(row, self._document(row))

    def list_in_force(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = store.in_force(conn)
        return [self._policy_json(row, self._document(row)) for row in rows]

    def retire(self, name: str) -> dict[str, Any]:
        def retire(conn: Connection) -> Any:
            row = store.latest_version(conn, name)
            if row is None:
                raise ResourceDoesNotExist(f"Policy '{name}' not found.")
            store.retire(conn, name, int(row.version))
            self._audit(conn, "policy.retire", "policy", f"{name}/{row.version}", {"digest": row.digest})
            return store.get_version(conn, name, int(row.version))

        return self._policy_json(self.db.run_write(retire, audit=False))

    def in_force_for(self, name: str, target: str | None) -> list[tuple[int, PolicyDocument]]:
        with self.db.read() as conn:
            rows = store.in_force(conn)
        chosen = []
        for row in rows:
            document = self._document(row)
            if document.applies_to(name, target):
                chosen.append((int(row.version), document))
        return chosen

    # -- evaluation ---------------------------------------------------------------------------

    def subject(self, name: str, version: int) -> Subject:
        # Only the key columns: loading the full version (tags, aliases) costs several queries.
        with self.db.read() as conn:
            model = require_model(conn, name)
            number = int(require_version(conn, model, version).version)
            name = str(model.name)
        facts = {k: dict(v) for k, v in self.services.facts.collect(name, number).items()}
        return Subject(name, number, manifest_digest(self.services, name, number), facts)

    def champion(self, name: str, target: str | None) -> Champion | None:
        if target is None:
            return None
        kind, _, value = target.partition(":")
        version: int | None = None
        if kind == "alias":
            with self.db.read() as conn:
                model = require_model(conn, name)
                found = registry_store.alias_version(conn, model.registered_model_id, value)
            version = None if found is None else int(found)
        elif kind == "stage":
            staged = self.services.registry.models.latest_versions(name, [value])
            version = int(staged[0]["version"]) if staged else None
        if version is None:
            return None
        # Rules read only the champion's evaluation (metric_vs_champion, champion.metrics in CEL).
        return Champion(version, {"evaluation": self.services.facts.facts_of("evaluation", name, version)})

    def evaluate(
        self,
        name: str,
        version: int,
        target: str | None,
        *,
        approvers: list[str] | None = None,
        requester: str | None = None,
        subject: Subject | None = None,
        record: bool = True,
        documents: list[PolicyDocument] | None = None,
    ) -> tuple[Evaluation, str]:
        """Evaluate and record; returns the evaluation and its id. ``documents`` replaces the
        policies in force (a CI check of a policy file before it is uploaded)."""
        target = parse_target(target) if target else None
        subject = subject or self.subject(name, version)
        if documents is None:
            chosen = self.in_force_for(subject.name, target)
        else:
            chosen = [(d.declared_version or 0, d) for d in documents]
        inputs = GateInputs(
            name=subject.name,
            version=subject.version,
            target=target,
            facts=subject.facts,
            manifest_digest=subject.manifest_digest,
            champion=self.champion(subject.name, target),
            approvers=approvers,
            requester=requester,
            now_ms=now_ms(),
        )
        result = evaluate([d for _, d in chosen], inputs, [v for v, _ in chosen])
        evaluation_id = uuid.uuid4().hex
        if record:
            self._record(evaluation_id, result)
        return result, evaluation_id

    def _record(self, evaluation_id: str, result: Evaluation) -> None:
        body = {"evaluation_id": evaluation_id, **result.to_json()}
        attestation = self._attest(body)
        actor = actor_name()

        def put(conn: Connection) -> None:
            store.insert_evaluation(
                conn,
                {
                    "evaluation_id": evaluation_id,
                    "model_name": result.subject["name"],
                    "model_version": result.subject["version"],
                    "target": result.subject["target"],
                    "manifest_digest": result.subject["manifest_digest"],
                    "policy_digest": result.policy_digest,
                    "decision": result.decision,
                    "record": canonical_json(result.to_json()),
                    "attestation": None if attestation is None else canonical_json(attestation),
                    "created_by": actor,
                    "creation_time": result.evaluated_at,
                },
            )
            self._audit(
                conn,
                "policy.evaluate",
                "model_version",
                f"{result.subject['name']}/{result.subject['version']}",
                {
                    "evaluation_id": evaluation_id,
                    "decision": result.decision,
                    "policy_digest": result.policy_digest,
                    "target": result.subject["target"],
                    "failing": [f"{r.policy}:{r.id}" for r in result.failing()],
                },
            )

        self.db.run_write(put, audit=False)
        if result.decision != "pass":
            self.services.registry.events.emit(
                "policy_evaluation",
                "failed",
                {
                    "evaluation_id": evaluation_id,
                    "name": result.subject["name"],
                    "version": str(result.subject["version"]),
                    "target": result.subject["target"],
                    "failing_rules": [r.id for r in result.failing()],
                },
            )

    def _attest(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Sign the evaluation record as an attestation (``services.attestations``, the signing
        subsystem) bound to the version's manifest digest; None when it cannot be signed (no
        signing subsystem, or files not stored here), noted in the record."""
        attestations = getattr(self.services, "attestations", None)
        if attestations is None:
            return None
        from ledgerflow.governance.signing.attestations import PREDICATE_POLICY_EVALUATION

        subject = body["subject"]
        try:
            attestation_id = attestations.attest(
                PREDICATE_POLICY_EVALUATION,
                subject["name"],
                subject["version"],
                subject["manifest_digest"],
                body,
            )
        except LedgerflowError as error:
            return {"error": error.message}
        return {"attestation_id": attestation_id, "predicate_type": PREDICATE_POLICY_EVALUATION}

    def get_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = store.get_evaluation(conn, evaluation_id)
        if row is None:
            raise ResourceDoesNotExist(f"Policy evaluation '{evaluation_id}' not found.")
        return store.evaluation_json(row)

    def evaluations_of(self, name: str, version: int, limit: int = EVALUATIONS_PAGE) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = store.evaluations_of(conn, name, version, limit)
        return [store.evaluation_json(row) for row in rows]

    # -- audit --------------------------------------------------------------------------------

    def _audit(
        self, conn: Connection, action: str, resource_type: str, resource_id: str, details: dict[str, Any]
    ) -> None:
        context = audit_context.current()
        self.services.audit.append(
            conn,
            Event(
                actor=actor_name(),
                action=action,
                outcome=SUCCESS,
                resource_type=resource_type,
                resource_id=resource_id,
                source_address=context.source_address if context else None,
                request_id=context.request_id if context else None,
                details=details,
            ),
        )


def is_protected(services: Services, target: str) -> bool:
    kind, _, value = target.partition(":")
    if kind == "stage":
        return value.lower() == STAGE_PRODUCTION.lower()
    return services.authz.is_protected_alias(value)
