"""Governance queries: the audit trail (admin only) and registry alias history.

``GET /2.0/ledgerflow/audit/records`` is declared ``permission="admin"``: the auth layer must
refuse everyone but admins. Until authentication exists the server has no users and it is
served as-is, like every other endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.errors import InvalidParameter
from ledgerflow.security.audit.export import Filters, parse_time, search
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
MAX_RESULTS_DEFAULT = 100
MAX_RESULTS_LIMIT = 1000


def _time(payload: Payload, key: str) -> int | None:
    return parse_time(payload.string(key), key)


@TABLE.route("GET", "/2.0/ledgerflow/audit/records", action="audit.search_records", permission="admin")
def search_records(services: Services, payload: Payload) -> dict[str, Any]:
    max_results = payload.int64("max_results")
    if max_results is None:
        max_results = MAX_RESULTS_DEFAULT
    if not 0 < max_results <= MAX_RESULTS_LIMIT:
        raise InvalidParameter(
            f"Invalid value {max_results} for parameter 'max_results': it must be between 1 and "
            f"{MAX_RESULTS_LIMIT}."
        )
    filters = Filters(
        since_ms=_time(payload, "since"),
        until_ms=_time(payload, "until"),
        actor=payload.string("actor"),
        action=payload.string("action"),
        resource=payload.string("resource"),
        outcome=payload.string("outcome"),
    )
    with services.db.read() as conn:
        return search(conn, filters, max_results, payload.string("page_token"))


@TABLE.route("GET", "/2.0/ledgerflow/registry/alias-history", action="registry.alias_history")
def alias_history(services: Services, payload: Payload) -> dict[str, Any]:
    """Which version held alias ``alias`` of model ``name`` at time ``at`` (ms or ISO date)."""
    name, alias = payload.req_string("name"), payload.req_string("alias")
    at = _time(payload, "at")
    if at is None:
        raise InvalidParameter("Missing value for required parameter 'at'.")
    version = services.registry.aliases.version_at(name, alias, at)
    answer: dict[str, Any] = {"name": name, "alias": alias, "at": at}
    if version is not None:
        answer["version"] = str(version)
    return answer
