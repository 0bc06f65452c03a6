"""Exact-path dispatch in front of Starlette's router.

Starlette tries every route in order, and this app has a few hundred (each endpoint under
/api and /ajax-api, plus artifact and UI routes): a log-metric request was matched against
about thirty patterns first. Routes without path parameters are found here by a dict lookup;
everything else (and every non-match) goes through the router unchanged, so behaviour,
including 404 and 405 answers, stays Starlette's.
"""

from __future__ import annotations

from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send


def install_fast_dispatch(router: Router) -> None:
    exact: dict[str, list[Route]] = {}
    for route in router.routes:
        if isinstance(route, Route) and not route.param_convertors:
            exact.setdefault(route.path, []).append(route)
    fallback: ASGIApp = router.middleware_stack

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            for route in exact.get(scope["path"], ()):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", router)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await fallback(scope, receive, send)

    router.middleware_stack = dispatch
