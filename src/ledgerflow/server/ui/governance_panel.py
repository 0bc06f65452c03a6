"""The model version page's governance panel: the latest policy evaluation (rules table with
observed value, threshold and result) and the version's promotion requests, with approve and
reject forms for approvers.

The forms post the request id to ``/models/{name}/versions/{version}/promotion-requests/approve``
(or ``/reject``) with the session's CSRF token (the auth middleware checks it, as for every cookie-authenticated
change); the handler runs the same four-eyes service the REST API does and redirects back to
the page with a notice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ledgerflow.errors import LedgerflowError
from ledgerflow.security.auth.identity import current_identity
from ledgerflow.security.auth.sessions import COOKIE, read_cookie
from ledgerflow.security.authz import permissions as perm
from ledgerflow.server.ui.models_pages import version_url

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

MAX_NOTICE = 500


def _csrf_token(services: Services, request: Request) -> str:
    secret = read_cookie(request.headers.get("cookie"), COOKIE)
    if not secret:
        return ""
    found = services.auth.session_cached(secret) or services.auth.authenticate_session(secret)
    return found[1] if found else ""


def _may_approve(services: Services, name: str) -> bool:
    identity = current_identity()
    if not services.authz.enabled:
        return True
    if identity is None:
        return False
    model_id = services.authz.model_by_name(name)
    if model_id is None:
        return False
    return perm.APPROVE in services.authz.permissions(identity, perm.REGISTERED_MODEL, model_id)


def governance_context(services: Services, request: Request, name: str, number: str) -> dict[str, Any]:
    try:
        version = int(number)
        evaluations = services.policies.evaluations_of(name, version, 1)
        requests = [r for r in services.promotions.search(name, None) if r["version"] == str(version)]
    except LedgerflowError:
        return {"evaluation": None, "requests": [], "csrf_token": "", "may_approve": False, "notice": ""}
    identity = current_identity()
    viewer = identity.username if identity is not None else ""
    for item in requests:
        item["can_decide"] = item["status"] == "REQUESTED" and item["requested_by"] != viewer
    return {
        "evaluation": evaluations[0] if evaluations else None,
        "requests": requests,
        "csrf_token": _csrf_token(services, request),
        "may_approve": _may_approve(services, name),
        "notice": request.query_params.get("governance_notice", "")[:MAX_NOTICE],
    }


def decision_route(services: Services, approve: bool) -> Any:
    async def decide(request: Request) -> Response:
        name = request.path_params["name"]
        version = request.path_params["version"]
        form = await request.form()
        request_id = str(form.get("request_id") or "")
        comment = str(form.get("comment") or "")
        try:
            found = await run_in_threadpool(services.promotions.get, request_id)
            if found["name"] != name or found["version"] != str(version):
                notice = "That promotion request is for another version."
            else:
                done = await run_in_threadpool(services.promotions.decide, request_id, approve, comment)
                notice = f"Request {request_id[:8]} is now {done['status']}."
        except LedgerflowError as error:
            notice = error.message
        query = urlencode({"governance_notice": notice[:MAX_NOTICE]})
        return RedirectResponse(f"{version_url(name, version)}?{query}#governance", status_code=303)

    return decide
