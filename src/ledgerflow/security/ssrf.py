"""The one guard for URLs the server itself connects to (webhooks today, more later).

A URL passes when its scheme is http or https and *every* address its host resolves to is a
public one. Loopback, private (RFC 1918, ULA), link-local, shared (CGNAT), multicast,
unspecified, reserved and cloud-metadata addresses are refused, also when they hide inside
an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address, unless the operator allow-lists the
host, the address or a network holding it. Metadata addresses pass only when named exactly
(a host or a single address, not a wider network): an operator who allows ``10.0.0.0/8``
has not thereby allowed instance credentials.

:class:`OutboundClient` sends the request to the address that was vetted, with the URL's
host in ``Host`` and in TLS SNI, so the host is looked up once: a DNS answer that changes
between the check and the connect (rebinding) cannot steer the request elsewhere. Redirects
are never followed by a library; each hop goes through the guard again, up to a hop limit.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from ledgerflow.errors import InvalidParameter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the host resolves to, as strings.
Resolver = Callable[[str, int], Sequence[str]]

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = (301, 302, 303, 307, 308)

# Cloud instance-metadata endpoints: AWS/GCP/Azure/OpenStack (169.254.169.254), AWS ECS task
# credentials, AWS IMDS over IPv6, Alibaba, Azure's wire server (a public address, so only
# this list catches it), and GCP's names for the same service.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedUrl(InvalidParameter):
    """A URL the guard refuses (a 400 INVALID_PARAMETER_VALUE on the REST API)."""


class OutboundError(Exception):
    """The request could not be completed: connection refused, timeout, broken response."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        if text not in found:
            found.append(text)
    return found


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a transition-mechanism IPv6 address carries, if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be connected to (None when it is a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = refusal(inner)
            return f"an IPv6 address wrapping {inner}, {reason}" if reason else None
    checks = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED, "a shared (CGNAT) address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "a non-public address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


def _normalize_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise BlockedUrl(f"Host '{host}' is not a valid host name.") from None


@dataclass(frozen=True)
class AllowList:
    """Hosts, addresses and networks an operator lets the server connect to regardless."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> AllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if "/" in entry or any(char.isspace() for char in entry):
                    raise InvalidParameter(
                        f"Allow-list entry '{raw}' is neither a host, an address nor a network."
                    ) from None
                hosts.add(_normalize_host(entry))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host in self.hosts

    def allows_address(self, address: IPAddress, *, exactly: bool = False) -> bool:
        for network in self.networks:
            if exactly and network.num_addresses != 1:
                continue
            if network.version == address.version and address in network:
                return True
        return False


@dataclass(frozen=True)
class Target:
    """A URL that passed the guard, with the addresses to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    request_target: str
    addresses: tuple[IPAddress, ...]


class UrlGuard:
    def __init__(self, allowed: Sequence[str] = (), resolver: Resolver | None = None) -> None:
        self.allow = AllowList.parse(allowed)
        self.resolver = resolver or system_resolver

    def check(self, url: str) -> Target:
        """The vetted target for ``url``, or :class:`BlockedUrl` saying why not."""
        if not isinstance(url, str) or not url.strip():
            raise BlockedUrl("URL must be a non-empty string.")
        if any(char.isspace() or char == "\\" or ord(char) < 0x20 for char in url):
            # Parsers disagree on these; refusing them keeps "what we checked" and "where we
            # connect" the same host.
            raise BlockedUrl(f"URL '{url}' contains whitespace, control characters or backslashes.")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise BlockedUrl(f"URL '{url}' is not valid: {error}.") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise BlockedUrl(f"URL scheme '{parts.scheme}' is not allowed: use http or https.")
        if not parts.hostname:
            raise BlockedUrl(f"URL '{url}' has no host.")
        host = _normalize_host(parts.hostname)
        port = port if port is not None else DEFAULT_PORTS[scheme]
        addresses = self._vet(url, host, port)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        return Target(url, scheme, host, port, target, addresses)

    def _vet(self, url: str, host: str, port: int) -> tuple[IPAddress, ...]:
        host_allowed = self.allow.allows_host(host)
        if host in METADATA_HOSTS and not host_allowed:
            raise self._blocked(url, f"host '{host}' is a cloud metadata service")
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = self._resolve(url, host, port)
        for address in addresses:
            reason = refusal(address)
            if reason is None or host_allowed:
                continue
            if self.allow.allows_address(address, exactly="metadata" in reason):
                continue
            if str(address) == host:
                raise self._blocked(url, f"{address} is {reason}")
            raise self._blocked(url, f"host '{host}' resolves to {address}, {reason}")
        return tuple(addresses)

    def _resolve(self, url: str, host: str, port: int) -> list[IPAddress]:
        try:
            found = [ipaddress.ip_address(text) for text in self.resolver(host, port)]
        except (OSError, UnicodeError, ValueError) as error:
            raise BlockedUrl(
                f"URL '{url}' is refused: host '{host}' could not be resolved ({error})."
            ) from None
        if not found:
            raise BlockedUrl(f"URL '{url}' is refused: host '{host}' has no addresses.")
        return found

    @staticmethod
    def _blocked(url: str, why: str) -> BlockedUrl:
        return BlockedUrl(
            f"URL '{url}' is refused: {why}. The server does not connect to internal addresses "
            "unless an operator allow-lists them."
        )


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    body: bytes
    url: str  # the URL that gave this answer (after any redirects)
    headers: Mapping[str, str] = field(default_factory=dict)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to one vetted address; ``Host`` still names the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        # SNI and certificate checks use the URL's host, not the address we dialled.
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class OutboundClient:
    """HTTP requests to guarded URLs only, redirects re-checked hop by hop."""

    def __init__(
        self,
        guard: UrlGuard,
        *,
        timeout: float = 10.0,
        max_redirects: int = 3,
        max_body: int = 64 * 1024,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.max_body = max_body
        self.tls = tls or ssl.create_default_context()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        """POST ``body``; :class:`BlockedUrl` when any hop is refused, :class:`OutboundError`
        when the exchange fails."""
        method, sent_headers = "POST", dict(headers)
        for _hop in range(self.max_redirects + 1):
            target = self.guard.check(url)
            response = self._send(target, method, body, sent_headers)
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            url = urljoin(url, location)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                # What browsers and HTTP libraries do: the follow-up is a body-less GET.
                method, body = "GET", b""
                sent_headers = {k: v for k, v in sent_headers.items() if k.lower() != "content-type"}
        raise BlockedUrl(
            f"Too many redirects (more than {self.max_redirects}); the last one pointed at '{url}'."
        )

    def _connection(self, target: Target, address: IPAddress) -> http.client.HTTPConnection:
        if target.scheme == "https":
            return _PinnedHTTPSConnection(target.host, target.port, str(address), self.timeout, self.tls)
        return _PinnedHTTPConnection(target.host, target.port, str(address), self.timeout)

    def _send(self, target: Target, method: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        failures: list[str] = []
        for address in target.addresses:
            conn = self._connection(target, address)
            try:
                try:
                    conn.connect()
                except OSError as error:
                    # Nothing was sent yet, so the next address is safe to try.
                    failures.append(f"{address}: {error}")
                    continue
                try:
                    conn.request(method, target.request_target, body=body or None, headers=dict(headers))
                    answer = conn.getresponse()
                    data = answer.read(self.max_body)
                except (OSError, http.client.HTTPException) as error:
                    raise OutboundError(
                        f"{target.host} ({address}): {error or type(error).__name__}"
                    ) from None
                return OutboundResponse(
                    answer.status, data, target.url, {k.lower(): v for k, v in answer.getheaders()}
                )
            finally:
                conn.close()
        raise OutboundError(f"could not connect to {target.host}: {'; '.join(failures)}")
