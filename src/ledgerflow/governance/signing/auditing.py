"""Audit records of the signing subsystem, naming the key each decision rests on.

Changes are recorded inside their own transaction (:meth:`SigningAudit.within`), so a stored
signature or attestation and its record commit together; refusals (a download, a load or a
promotion turned away) are recorded on their own (:meth:`SigningAudit.refused`), because the
refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from ledgerflow.security.audit import context as audit_context
from ledgerflow.security.audit.log import DENIED, SUCCESS, AuditLog, Event

RESOURCE_TYPE = "model_version"


def version_resource(name: str, version: int | str) -> str:
    return f"{name}/{version}"


class SigningAudit:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def within(
        self, conn: Connection, action: str, name: str, version: int | str, details: Mapping[str, Any]
    ) -> None:
        context = audit_context.current()
        self.audit.append(
            conn,
            Event(
                actor=context.actor if context else "system",
                action=action,
                outcome=SUCCESS,
                resource_type=RESOURCE_TYPE,
                resource_id=version_resource(name, version),
                source_address=context.source_address if context else audit_context.LOCAL_SOURCE,
                request_id=context.request_id if context else None,
                details=dict(details),
            ),
        )

    def refused(self, action: str, name: str, version: int | str, details: Mapping[str, Any]) -> None:
        self.audit.record_event(
            action,
            DENIED,
            resource_type=RESOURCE_TYPE,
            resource_id=version_resource(name, version),
            details=dict(details),
        )
