"""Options and socket binding shared by every command that serves HTTP.

The listening socket is bound here, before uvicorn starts, so that a bad host or a port in
use is one clear line and a non-zero exit, and the "serving on" line is printed only once
the address really accepts connections (with the real port when ``--port 0`` was asked).
"""

from __future__ import annotations

import errno
import ipaddress
import socket

import click

from ledgerflow.errors import InvalidParameter, LedgerflowError


class _PortRange(click.IntRange):
    # click's IntRange calls itself "integer range" in its messages ("'x' is not a valid
    # integer range"); the value asked for is a plain integer, the range is shown in --help.
    name = "integer"


PORT = _PortRange(0, 65535)
LOG_LEVEL = click.Choice(["critical", "error", "warning", "info", "debug", "trace"], case_sensitive=False)
BACKLOG = 2048


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def check_host(host: str) -> str:
    """*host* without IPv6 brackets, once it is an IP literal or a name that resolves."""
    bare = _bare(host.strip())
    if not bare:
        raise InvalidParameter("--host must not be empty.")
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    # Dotted digits that are not an address (999.1.1.1) would go to the resolver as a name.
    if all(part.isdigit() for part in bare.split(".")):
        raise InvalidParameter(f"--host '{host}' is not a valid IP address.")
    try:
        socket.getaddrinfo(bare, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise InvalidParameter(
            f"--host '{host}' is neither an IP address nor a name that resolves ({reason})."
        ) from None
    return bare


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) and listening."""
    bare = check_host(host)
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise InvalidParameter(f"--host '{host}' cannot be bound: {error.strerror}.") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        hint = " Pass --port to use another one." if error.errno == errno.EADDRINUSE else ""
        raise LedgerflowError(f"Could not listen on {display_address(bare, port)}: {reason}.{hint}") from None
    # Worker processes inherit the socket.
    sock.set_inheritable(True)
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def display_address(host: str, port: int) -> str:
    bare = _bare(host)
    return f"[{bare}]:{port}" if ":" in bare else f"{bare}:{port}"
