"""Model-file scan results of model versions: read, rescan, and the admin override.

``GET  /2.0/ledgerflow/model-versions/scan``           (name, version) -> {"scan": {...}}
``POST /2.0/ledgerflow/model-versions/scan/rescan``    (name, version) -> {"scan": {...}}
``POST /2.0/ledgerflow/model-versions/scan/override``  (name, version, reason, expires_at)

Files outside the registry, judged file by file since their upload (the worst file decides):

``GET  /2.0/ledgerflow/logged-models/scan``              (model_id) -> {"scan": {...}}
``GET  /2.0/ledgerflow/runs/artifacts/scan``             (run_id, path) -> {"scan": {...}}
``GET  /2.0/ledgerflow/artifacts/scan``                  (path: an artifact proxy path)
``POST .../scan/override`` of each                      (+ reason, expires_at; admins)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.artifacts.service import ArtifactService, Target
from ledgerflow.governance.scanning.service import RESCAN
from ledgerflow.security.audit.export import parse_time
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_SCAN = "/2.0/ledgerflow/model-versions/scan"
_LOGGED = "/2.0/ledgerflow/logged-models/scan"
_RUN = "/2.0/ledgerflow/runs/artifacts/scan"
_PROXY = "/2.0/ledgerflow/artifacts/scan"


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


def _expires_at(payload: Payload) -> int | None:
    expires = payload.raw("expires_at")
    if isinstance(expires, int) and not isinstance(expires, bool):
        return expires
    return parse_time(payload.string("expires_at"), "expires_at")


@TABLE.route("POST", f"{_SCAN}/override", action="registry.override_scan_result", permission="admin")
def override_scan_result(services: Services, payload: Payload) -> dict[str, Any]:
    scan = services.scanning.override(
        payload.req_string("name"), _version(payload), payload.string("reason"), _expires_at(payload)
    )
    return {"scan": scan}


def _logged_model(services: Services, payload: Payload) -> Target:
    return services.artifacts.logged_model_root(payload.req_string("model_id"))[1]


def _run_path(services: Services, payload: Payload) -> Target:
    root = services.artifacts.run_root(payload.string("run_id") or payload.req_string("run_uuid"))[1]
    return ArtifactService.below(root, payload.string("path"))


def _proxy_path(services: Services, payload: Payload) -> Target:
    return services.artifacts.proxy_target(payload.req_string("path"))


def _with_scope(scan: dict[str, Any], **scope: str) -> dict[str, Any]:
    return {**scope, **scan}


@TABLE.route("GET", _LOGGED, action="scans.get_logged_model_scan")
def get_logged_model_scan(services: Services, payload: Payload) -> dict[str, Any]:
    scan = services.scanning.files_result(_logged_model(services, payload))
    return {"scan": _with_scope(scan, model_id=payload.req_string("model_id"))}


@TABLE.route("POST", f"{_LOGGED}/override", action="scans.override_logged_model_scan", permission="admin")
def override_logged_model_scan(services: Services, payload: Payload) -> dict[str, Any]:
    target = _logged_model(services, payload)
    scan = services.scanning.override_files(target, payload.string("reason"), _expires_at(payload))
    return {"scan": _with_scope(scan, model_id=payload.req_string("model_id"))}


@TABLE.route("GET", _RUN, action="scans.get_run_artifacts_scan")
def get_run_artifacts_scan(services: Services, payload: Payload) -> dict[str, Any]:
    return {"scan": services.scanning.files_result(_run_path(services, payload))}


@TABLE.route("POST", f"{_RUN}/override", action="scans.override_run_artifacts_scan", permission="admin")
def override_run_artifacts_scan(services: Services, payload: Payload) -> dict[str, Any]:
    target = _run_path(services, payload)
    return {"scan": services.scanning.override_files(target, payload.string("reason"), _expires_at(payload))}


@TABLE.route("GET", _PROXY, action="scans.get_artifacts_scan")
def get_artifacts_scan(services: Services, payload: Payload) -> dict[str, Any]:
    return {"scan": services.scanning.files_result(_proxy_path(services, payload))}


@TABLE.route("POST", f"{_PROXY}/override", action="scans.override_artifacts_scan", permission="admin")
def override_artifacts_scan(services: Services, payload: Payload) -> dict[str, Any]:
    target = _proxy_path(services, payload)
    return {"scan": services.scanning.override_files(target, payload.string("reason"), _expires_at(payload))}
