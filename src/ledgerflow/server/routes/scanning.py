"""Model-file scan results of model versions: read, rescan, and the admin override.

``GET  /2.0/ledgerflow/model-versions/scan``           (name, version) -> {"scan": {...}}
``POST /2.0/ledgerflow/model-versions/scan/rescan``    (name, version) -> {"scan": {...}}
``POST /2.0/ledgerflow/model-versions/scan/override``  (name, version, reason, expires_at)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.governance.scanning.service import RESCAN
from ledgerflow.security.audit.export import parse_time
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_SCAN = "/2.0/ledgerflow/model-versions/scan"


def _version(payload: Payload) -> str:
    value = payload.raw("version")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return payload.req_string("version")


@TABLE.route("GET", _SCAN, action="registry.get_scan_result")
def get_scan_result(services: Services, payload: Payload) -> dict[str, Any]:
    return {"scan": services.scanning.result(payload.req_string("name"), _version(payload))}


@TABLE.route("POST", f"{_SCAN}/rescan", action="registry.rescan_model_version")
def rescan_model_version(services: Services, payload: Payload) -> dict[str, Any]:
    return {"scan": services.scanning.scan_version(payload.req_string("name"), _version(payload), RESCAN)}


@TABLE.route("POST", f"{_SCAN}/override", action="registry.override_scan_result", permission="admin")
def override_scan_result(services: Services, payload: Payload) -> dict[str, Any]:
    expires = payload.raw("expires_at")
    expires_at = expires if isinstance(expires, int) and not isinstance(expires, bool) else None
    if expires_at is None:
        expires_at = parse_time(payload.string("expires_at"), "expires_at")
    scan = services.scanning.override(
        payload.req_string("name"), _version(payload), payload.string("reason"), expires_at
    )
    return {"scan": scan}
