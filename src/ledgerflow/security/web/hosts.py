"""Which Host headers and which browser origins a server answers.

DNS rebinding: a page on ``attacker.example`` re-points its own name at 127.0.0.1 (or at a
server inside the network) and then talks to our server *as its own origin*, so the browser's
same-origin policy no longer protects anything. The one thing it cannot change is the name
in the ``Host`` header, so the server answers only names it was told about: the bound host,
``localhost``, and whatever ``--allowed-hosts`` lists. A Host that is an IP literal can never
come from a rebinding (there is no name to re-point), so IP literals are always accepted.

Cross-site requests: a browser names the page that started a request in ``Origin`` (or, on
old browsers, ``Referer``). A state-changing request carrying one must come from this
server's own origin or from one listed in ``--cors-allowed-origins``. Non-browser clients
(the mlflow client, curl) send neither header and are not affected.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from ledgerflow.errors import InvalidParameter

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_WILDCARD_BINDS = ("0.0.0.0", "::", "")


def split_host(value: str) -> tuple[str, str | None] | None:
    """(host, port or None) of a Host header value, lower-cased; None if it is malformed."""
    text = value.strip().lower()
    if not text or any(c in text for c in "/\\@?#% \t"):
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:] or None
    else:
        host, sep, port_text = text.partition(":")
        if ":" in port_text:
            return None
        port = port_text if sep else None
    if port is not None and not (port.isdigit() and len(port) <= 5):
        return None
    host = host.rstrip(".")
    return (host, port) if host else None


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostRule:
    """One allow-list entry: ``name``, ``name:port``, ``*.domain`` or ``*`` (anything)."""

    host: str
    port: str | None

    def matches(self, host: str, port: str | None) -> bool:
        if self.port is not None:
            # A Host without a port means the scheme's default one.
            given = port if port is not None else (self.port if self.port in ("80", "443") else None)
            if given != self.port:
                return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return host == self.host


def parse_host_rules(values: tuple[str, ...]) -> tuple[HostRule, ...]:
    rules: list[HostRule] = []
    for raw in values:
        for item in raw.split(","):
            entry = item.strip().lower()
            if not entry:
                continue
            if entry == "*" or is_ip_literal(entry.strip("[]")):
                # An address (bare IPv6 included) needs no rule: IP literals always pass.
                rules.append(HostRule(entry.strip("[]"), None))
                continue
            wildcard = entry.startswith("*.")
            parsed = split_host(entry[2:] if wildcard else entry)
            if parsed is None or "*" in parsed[0]:
                raise InvalidParameter(
                    f"Invalid allowed host {item.strip()!r}: expected name[:port] or *.domain."
                )
            rules.append(HostRule(("*." if wildcard else "") + parsed[0], parsed[1]))
    return tuple(rules)


def default_allowed_hosts(bind_host: str) -> tuple[str, ...]:
    """The bound host (when it is a name or a specific address) plus the localhost names."""
    bound = bind_host.strip().strip("[]").lower()
    extra = () if bound in _WILDCARD_BINDS or bound in LOCAL_NAMES else (bound,)
    return (*LOCAL_NAMES, *extra)


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` of an Origin or Referer value (default port dropped), or None."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def parse_cors_origins(values: tuple[str, ...]) -> frozenset[str]:
    """Validated ``--cors-allowed-origins``: exact origins only, never a wildcard."""
    found: set[str] = set()
    for raw in values:
        for item in raw.split(","):
            entry = item.strip()
            if not entry:
                continue
            if "*" in entry:
                raise InvalidParameter(
                    "--cors-allowed-origins takes exact origins (https://app.example.com); a wildcard "
                    "would let any web page drive this server."
                )
            origin = normalise_origin(entry)
            if origin is None or entry.rstrip("/").count("/") > 2:
                raise InvalidParameter(f"Invalid CORS origin {entry!r}: expected scheme://host[:port].")
            found.add(origin)
    return frozenset(found)


class HostPolicy:
    """The allow-list of one server (None rules: every Host is accepted)."""

    def __init__(self, allowed_hosts: tuple[str, ...] | None, cors_origins: tuple[str, ...] = ()) -> None:
        self.rules = None if allowed_hosts is None else parse_host_rules(allowed_hosts)
        self.cors_origins = parse_cors_origins(cors_origins)
        self._seen: dict[bytes, bool] = {}

    def host_allowed(self, header: bytes) -> bool | None:
        """True/False for an allowed/refused Host, None when the header is malformed."""
        if self.rules is None:
            return True
        cached = self._seen.get(header)
        if cached is not None:
            return cached
        parsed = split_host(header.decode("latin-1"))
        if parsed is None:
            return None
        host, port = parsed
        allowed = is_ip_literal(host) or any(rule.matches(host, port) for rule in self.rules)
        # Bounded: a flood of distinct Host values must not grow memory without limit.
        if len(self._seen) < 1024:
            self._seen[header] = allowed
        return allowed

    def own_origin(self, scheme: str, host_header: bytes | None) -> str | None:
        if not host_header:
            return None
        return normalise_origin(f"{scheme}://{host_header.decode('latin-1')}")
