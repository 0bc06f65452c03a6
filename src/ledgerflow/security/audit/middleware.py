"""The HTTP side of the audit context: one per request, and records for non-table writes.

Every request gets a request id (the client's ``X-Request-Id`` when it is a plain token, else
a fresh one), echoed in the response. The source address is the socket peer: forwarded-for
headers are not trusted until a trusted-proxy setting exists. The actor is "anonymous" until
authentication sets it on the context.

Artifact uploads and deletes change files, not rows, so no database transaction can carry
their record; they are recorded once the handler succeeded, before the response starts, so
the client never sees success for an unrecorded change.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import context as ctx

if TYPE_CHECKING:
    from .log import AuditLog

# (method, path pattern, action, resource type, where the resource id is)
_FILE_WRITES: tuple[tuple[str, re.Pattern[str], str, str, str], ...] = (
    (
        "PUT",
        re.compile(r"^/(?:ajax-)?api/2\.0/mlflow-artifacts/artifacts/(?P<id>.+)$"),
        "artifacts.upload",
        "artifact",
        "path",
    ),
    (
        "DELETE",
        re.compile(r"^/(?:ajax-)?api/2\.0/mlflow-artifacts/artifacts/(?P<id>.+)$"),
        "artifacts.delete",
        "artifact",
        "path",
    ),
    (
        "POST",
        re.compile(r"^/ajax-api/2\.0/mlflow/upload-artifact$"),
        "artifacts.upload_run_file",
        "run",
        "query",
    ),
)


def _file_write(method: str, path: str) -> tuple[str, str, str | None] | None:
    for wanted, pattern, action, resource_type, where in _FILE_WRITES:
        match = pattern.match(path)
        if method == wanted and match:
            return action, resource_type, match.group("id") if where == "path" else None
    return None


class AuditContextMiddleware:
    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = ctx.sane_request_id(headers.get(ctx.REQUEST_ID_HEADER)) or ctx.new_request_id()
        client = scope.get("client")
        context = ctx.AuditContext(request_id=request_id, source_address=client[0] if client else None)
        file_write = _file_write(scope["method"], scope["path"])

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
                if file_write is not None and message["status"] < 400:
                    await self._record_file_write(scope, file_write)
            await send(message)

        with ctx.bind(context):
            await self.app(scope, receive, send_with_id)

    async def _record_file_write(self, scope: Scope, file_write: tuple[str, str, str | None]) -> None:
        action, resource_type, resource_id = file_write
        if resource_id is None:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            resource_id = query.get("run_uuid") or query.get("run_id")
            details = {"path": query.get("path")}
        else:
            details = {"path": resource_id}
        await run_in_threadpool(
            self.audit.record_event,
            action,
            "success",
            resource_type=resource_type,
            resource_id=resource_id,
            details=details,
        )
