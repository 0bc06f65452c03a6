"""Secret-scan findings for security review (``GET /api/2.0/ledgerflow/secret-findings/list``,
admins only: a finding says where a credential was attempted across every experiment)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.secrets.facts import list_findings
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
MAX_RESULTS = 1000


@TABLE.route("GET", "/2.0/ledgerflow/secret-findings/list")
def list_secret_findings(services: Services, payload: Payload) -> dict[str, Any]:
    limit = payload.int64("max_results", default=100)
    if limit is None or not 1 <= limit <= MAX_RESULTS:
        raise InvalidParameter(f"max_results must be between 1 and {MAX_RESULTS}, got {limit}.")
    found = list_findings(services.db, payload.string("resource_type"), payload.string("resource_id"), limit)
    return {"findings": found}
