"""Forwarded headers, believed only from configured proxy addresses.

Behind a reverse proxy the socket peer is the proxy; the client's address and the original
scheme arrive in ``X-Forwarded-For`` / ``X-Forwarded-Proto``. Anyone can send those headers,
so they are applied only when the peer is one of ``trusted_proxies`` (addresses or CIDR
networks). The client address is the right-most entry not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip())


class ForwardedHeaders:
    def __init__(self, app: ASGIApp, trusted: tuple[str, ...]) -> None:
        self.app = app
        self.trusted = parse_networks(trusted)

    def _is_trusted(self, host: str | None) -> bool:
        if not host or not self.trusted:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            client = scope.get("client")
            if client and self._is_trusted(client[0]):
                scope = dict(scope)
                headers = {name: value for name, value in scope.get("headers", [])}
                proto = headers.get(b"x-forwarded-proto")
                if proto:
                    value = proto.decode("latin-1").split(",")[0].strip().lower()
                    if value in ("http", "https"):
                        scope["scheme"] = value
                forwarded = headers.get(b"x-forwarded-for")
                if forwarded:
                    hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
                    for hop in reversed(hops):
                        if not self._is_trusted(hop):
                            scope["client"] = (hop, 0)
                            break
        await self.app(scope, receive, send)
