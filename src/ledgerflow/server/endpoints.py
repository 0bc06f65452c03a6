"""The REST endpoint table: one declared list of (method, path, handler).

Handlers are plain functions ``handler(services, payload) -> dict`` that know nothing of
HTTP, so the ASGI app and the in-process client transport dispatch through the same table
and give the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledgerflow.errors import EndpointNotFound
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

Handler = Callable[["Services", Payload], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # below the /api or /ajax-api prefix, e.g. "/2.0/mlflow/runs/create"
    handler: Handler
    ajax_only: bool = False
    # The audit trail's name for what this endpoint does, e.g. "runs.log_batch"; derived from
    # the route module and handler names unless given.
    action_name: str | None = None
    # What the caller must hold; None means the resource's own permissions apply. The auth
    # layer enforces it ("admin": admins only); until authentication exists it is served as-is.
    permission: str | None = None
    # Which requests may run on the event loop thread instead of a worker thread: a predicate
    # over the payload, for handlers whose whole work is a short SQLite write with no side
    # effect outside the database (the write is tried without waiting, and goes to a worker
    # thread when the database is busy). None: always a worker thread.
    inline: Callable[[Payload], bool] | None = None

    @property
    def action(self) -> str:
        if self.action_name:
            return self.action_name
        module = getattr(self.handler, "__module__", "") or ""
        group = module.rsplit(".", 1)[-1] or self.method.lower()
        return f"{group}.{getattr(self.handler, '__name__', self.path.strip('/').replace('/', '.'))}"

    @property
    def pattern(self) -> re.Pattern[str]:
        # ``{name}`` is one path segment; ``{name:path}`` (Starlette's convertor) may hold slashes.
        path = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", self.path)
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")


class EndpointTable:
    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []
        self._compiled: list[tuple[Endpoint, re.Pattern[str]]] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        ajax_only: bool = False,
        action: str | None = None,
        permission: str | None = None,
        inline: Callable[[Payload], bool] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            endpoint = Endpoint(method, path, handler, ajax_only, action, permission, inline)
            self.endpoints.append(endpoint)
            self._compiled.append((endpoint, endpoint.pattern))
            return handler

        return register

    def extend(self, other: EndpointTable) -> None:
        for endpoint in other.endpoints:
            self.endpoints.append(endpoint)
            self._compiled.append((endpoint, endpoint.pattern))

    def resolve(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
        """Find the endpoint for an API path (without /api prefix); used by in-process clients."""
        for endpoint, pattern in self._compiled:
            match = pattern.match(path)
            if match and endpoint.method == method:
                return endpoint, match.groupdict()
        raise EndpointNotFound(f"No endpoint {method} {path}")
