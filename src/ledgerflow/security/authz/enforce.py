"""The single enforcement point: a guard the app factory wraps around every route.

Each route's requirement is looked up once, when the app is built, from
:mod:`ledgerflow.security.authz.route_permissions`; a route without an entry is refused for
everyone (default deny). Because the guard sits on the matched route itself, whatever path
spelling the router accepted, the requirement of the route that will run is the one checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerflow.errors import LedgerflowError, RequestTooLarge
from ledgerflow.security.auth.identity import Identity
from ledgerflow.security.authz import permissions as perm
from ledgerflow.security.authz import route_permissions as rp
from ledgerflow.server import jsonio
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.security.authz.service import AuthzService
    from ledgerflow.tracking.services import Services

DENIED = "Permission denied."
_UNKNOWN = "?"  # _check_from_cache could not decide without a query
_JSON_BODY_METHODS = ("POST", "PATCH", "DELETE", "PUT")
_PRODUCTION = "production"


def route_requirements(route: BaseRoute) -> dict[str, rp.Requirement | None]:
    """Method -> requirement for one route of the app (None: not declared, so refused)."""
    if isinstance(route, Mount):
        return {"GET": rp.requirement_for("GET", route.path)}
    if isinstance(route, Route):
        return {m: rp.requirement_for(m, route.path) for m in sorted(route.methods or ())}
    return {}


def install(routes: list[BaseRoute], services: Services) -> None:
    for route in routes:
        if isinstance(route, (Route, Mount)):
            route.app = Guard(route.app, route_requirements(route), services, rp.is_rest(route.path))


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        requirements: dict[str, rp.Requirement | None],
        services: Services,
        rest: bool = False,
    ) -> None:
        self.app = app
        self.rest = rest  # a REST endpoint: its fields come from a JSON body or the query string
        self.requirements = requirements
        self.services = services
        self.authz: AuthzService = services.authz

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.authz.enabled:
            await self.app(scope, receive, send)
            return
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        requirement = self.requirements.get(method, self.requirements.get("GET") if method == "GET" else None)
        if requirement is None:
            await self._deny(send, None, "route has no entry in the permission table")
            return
        if requirement.access == rp.PUBLIC:
            await self.app(scope, receive, send)
            return
        identity: Identity | None = scope.get("state", {}).get("identity")
        if identity is None:
            await _answer(send, 401, "UNAUTHENTICATED", "Authentication required.")
            return
        admin = identity.is_admin
        if requirement.access == rp.ADMIN and not admin:
            await self._deny(send, requirement, "admin only")
            return
        payload: Payload | None = None
        if requirement.access == rp.RESOURCE or requirement.admin_fields:
            try:
                payload, receive = await _request_payload(
                    scope, receive, self.rest, self.services.config.max_request_bytes
                )
            except RequestTooLarge as error:
                await _answer(send, error.http_status, error.error_code, error.message)
                return
        if requirement.admin_fields and not admin and payload is not None:
            for name in requirement.admin_fields:
                if payload.raw(name) not in (None, ""):
                    await self._deny(send, requirement, f"only an administrator may set '{name}'")
                    return
        if requirement.access == rp.RESOURCE and not admin:
            if payload is None:
                await self._deny(send, requirement, "the request could not be read")
                return
            refusal = self._check_from_cache(identity, requirement, payload)
            if refusal is _UNKNOWN:
                refusal = await run_in_threadpool(self._check, identity, requirement, payload)
            if refusal is not None:
                await self._deny(send, requirement, refusal)
                return
        if requirement.creates is not None:
            with self.authz.creating(requirement.creates, identity):
                await self.app(scope, receive, send)
            return
        await self.app(scope, receive, send)

    # -- the resource check -----------------------------------------------------------------

    def _check_from_cache(
        self, identity: Identity, requirement: rp.Requirement, payload: Payload
    ) -> str | None:
        """The answer of :meth:`_check` when it needs no query (the hot path: a run or an
        experiment id the caller's fresh grants cover), else ``_UNKNOWN``. Answered inline, it
        saves the thread-pool round trip a database lookup needs."""
        if requirement.promotion or requirement.locate not in (rp.RUN, rp.EXPERIMENT_ID):
            return _UNKNOWN
        held = self.authz.held_if_fresh(identity)
        value = _first(payload, requirement.fields)
        if held is None or value is None:
            return _UNKNOWN
        if requirement.locate == rp.RUN:
            experiment_id = self.authz.cached_experiment_of_run(value)
        else:
            experiment_id = int(value) if value.strip().isdigit() else None
        if experiment_id is None:
            return _UNKNOWN
        needed = requirement.permission or perm.READ
        if needed in held.on(perm.EXPERIMENT, experiment_id):
            return None
        return _UNKNOWN  # refusals take the full path, which also names the reason

    def _check(self, identity: Identity, requirement: rp.Requirement, payload: Payload) -> str | None:
        """None when allowed, else why not (for the audit record; the caller sees only 403)."""
        try:
            located = self._locate(requirement, payload)
        except LedgerflowError:
            located = None
        if located is None:
            return "the resource could not be identified"
        resource_type, resource_id = located
        if resource_id is None:
            # Names no existing resource: the handler answers RESOURCE_DOES_NOT_EXIST.
            return None
        needed = requirement.permission or perm.READ
        if requirement.promotion and self._promotes(payload, resource_id):
            needed = perm.PROMOTE
        held = self.authz.permissions(identity, resource_type, resource_id)
        if needed not in held:
            return f"needs '{needed}' on {resource_type} {resource_id}"
        if requirement.locate == rp.MODEL_SOURCE:
            return self._check_source(identity, payload)
        if needed == perm.PROMOTE:
            self.authz.record(
                "authz.promote", "allowed", resource_type, str(resource_id), **_promotion(payload)
            )
        return None

    def _locate(self, requirement: rp.Requirement, payload: Payload) -> tuple[str, int | None] | None:
        """(resource type, id or None if it does not exist), or None if the request names none."""
        value = _first(payload, requirement.fields)
        locate = requirement.locate
        if locate == rp.EXPERIMENT_ID:
            text = value if value is not None else ("0" if requirement.fields == ("experiment_id",) else None)
            if text is None or not text.strip().isdigit():
                return None
            return perm.EXPERIMENT, int(text)
        if value is None:
            return None
        if locate == rp.EXPERIMENT_NAME:
            return perm.EXPERIMENT, self.authz.experiment_by_name(value)
        if locate == rp.RUN:
            return perm.EXPERIMENT, self.authz.experiment_of_run(value)
        if locate == rp.LOGGED_MODEL:
            return perm.EXPERIMENT, self.authz.experiment_of_logged_model(value)
        if locate in (rp.MODEL_NAME, rp.MODEL_SOURCE):
            return perm.REGISTERED_MODEL, self.authz.model_by_name(value)
        if locate == rp.ARTIFACT_PATH:
            experiment_id = experiment_of_artifact_path(value)
            return None if experiment_id is None else (perm.EXPERIMENT, experiment_id)
        return None

    def _promotes(self, payload: Payload, model_id: int) -> bool:
        if payload.raw("alias") is not None:
            return self.authz.is_protected_alias(payload.string("alias"))
        stage = (payload.string("stage") or "").strip().lower()
        if stage == _PRODUCTION:
            return True
        # Moving a version out of Production is as much a promotion decision as moving it in.
        try:
            version = self.services.registry.versions.get(payload.req_string("name"), _version_of(payload))
        except LedgerflowError:
            return False
        return str(version.get("current_stage", "")).lower() == _PRODUCTION

    def _check_source(self, identity: Identity, payload: Payload) -> str | None:
        """A new version must not point at artifacts its registrant cannot read."""
        experiments: set[int] = set()
        run_id = payload.string("run_id")
        if run_id:
            found = self.authz.experiment_of_run(run_id)
            if found is not None:
                experiments.add(found)
        model_id = payload.string("model_id")
        if model_id:
            found = self.authz.experiment_of_logged_model(model_id)
            if found is not None:
                experiments.add(found)
        source = (payload.string("source") or "").strip()
        lowered = source.lower()
        if lowered.startswith("runs:/"):
            found = self.authz.experiment_of_run(source[6:].lstrip("/").split("/", 1)[0])
            if found is not None:
                experiments.add(found)
        elif lowered.startswith("models:/"):
            found = self.authz.experiment_of_logged_model(source[8:].lstrip("/").split("/", 1)[0])
            if found is not None:
                experiments.add(found)
        elif lowered.startswith("mlflow-artifacts:"):
            rest = source[len("mlflow-artifacts:") :].lstrip("/")
            if rest.startswith(("localhost", "127.")) or "@" in rest.split("/", 1)[0]:
                rest = rest.split("/", 1)[1] if "/" in rest else ""
            found = experiment_of_artifact_path(rest)
            if found is None:
                return "the version's source names no experiment the caller can read"
            experiments.add(found)
        for experiment_id in experiments:
            if perm.READ not in self.authz.permissions(identity, perm.EXPERIMENT, experiment_id):
                return f"the version's source is in experiment {experiment_id}, which the caller cannot read"
        return None

    async def _deny(self, send: Send, requirement: rp.Requirement | None, reason: str) -> None:
        await run_in_threadpool(
            self.authz.record,
            "authz.denied",
            "denied",
            requirement.resource_type if requirement else None,
            None,
            reason=reason,
            needed=(requirement.permission if requirement else None)
            or (requirement.access if requirement else "route"),
        )
        await _answer(send, 403, "PERMISSION_DENIED", DENIED)


def experiment_of_artifact_path(path: str | None) -> int | None:
    """The experiment a proxied artifact path belongs to: its first component, which must be an
    experiment id (ASCII digits). Nothing later in the path counts, so a file named ``123.txt``
    never decides whose artifact it is; odd spellings (``..``, ``.``, backslashes, encodings)
    name no experiment and are refused."""
    text = (path or "").lstrip("/")
    if not text or "\\" in text or "%" in text or "\x00" in text:
        return None
    parts = text.split("/")
    if any(part in ("..", ".") for part in parts):
        return None
    head = parts[0]
    if not (head.isascii() and head.isdigit()):
        return None
    return int(head)


def _first(payload: Payload, fields: tuple[str, ...]) -> str | None:
    for name in fields:
        value = payload.raw(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str) and value:
            return value
    return None


def _version_of(payload: Payload) -> str:
    value = payload.raw("version")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return payload.req_string("version")


def _promotion(payload: Payload) -> dict[str, Any]:
    return {
        key: payload.raw(key)
        for key in ("name", "alias", "version", "stage")
        if isinstance(payload.raw(key), (str, int)) and not isinstance(payload.raw(key), bool)
    }


async def _request_payload(
    scope: Scope, receive: Receive, rest: bool, limit: int
) -> tuple[Payload | None, Receive]:
    """The request's fields as the route will read them, and a receive that replays the body.

    The body is read only up to *limit* bytes (the route's own limit): a larger one is refused
    with RequestTooLarge before it is held in memory, declared or streamed."""
    path_params: dict[str, Any] = dict(scope.get("path_params") or {})
    if not rest:
        query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
        return Payload(dict(query) | path_params, from_query=True), receive
    from ledgerflow.server.app import read_payload

    if scope["method"] not in _JSON_BODY_METHODS:
        try:
            return await read_payload(Request(scope, receive), path_params), receive
        except LedgerflowError:
            return None, receive
    body, receive = await _buffer(scope, receive, limit)
    request = Request(scope, receive)
    try:
        payload = await read_payload(request, path_params)
    except LedgerflowError:
        payload = None
    return payload, _replay(body, receive)


def too_large(limit: int) -> RequestTooLarge:
    # Worded as the route's own limit check words it: the client sees one answer either way.
    return RequestTooLarge(
        f"The request body is larger than this server's limit of {limit} bytes (max_request_bytes)."
    )


async def _buffer(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, Receive]:
    for name, value in scope.get("headers") or ():
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    total = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), _replay(b"".join(chunks), receive)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = jsonio.dumps({"error_code": code, "message": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
