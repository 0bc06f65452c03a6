"""``ledgerflow listen``: a small receiver for the server's signed webhook deliveries.

For trying webhooks out and for CI jobs that wait on an event. Every delivery is checked the
way a production receiver should check it: ``X-MLflow-Signature: v1,<base64 HMAC-SHA256>`` over
``<X-MLflow-Delivery-Id>.<X-MLflow-Timestamp>.<body bytes>`` with the shared secret, and the
timestamp within ``--max-age`` seconds of now (the server signs each attempt afresh, so a
captured delivery cannot be replayed later). A verified event is answered 200 and printed as
one line on stdout; anything else is answered 401 (400/405/413 for malformed requests) and
reported on stderr. A delivery id seen before (a retry whose first answer was lost) is
acknowledged again but not printed twice.

The secret is read from an environment variable (``--secret-env``), never from the command
line, where other local users could read it. The listener binds 127.0.0.1 unless ``--host``
says otherwise.

Exit codes: 0 the awaited event arrived (``--once``) or the listener was stopped (Ctrl-C,
SIGTERM); 124 ``--timeout`` passed first; 2 bad usage (no secret, bad host); 1 the port cannot
be bound.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click

from ledgerflow.cli.listen import PORT, bind_listener, bound_port, display_address
from ledgerflow.errors import InvalidParameter

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
DEFAULT_SECRET_ENV = "LEDGERFLOW_WEBHOOK_SECRET"
EXIT_TIMEOUT = 124
MAX_BODY_BYTES = 1024 * 1024
_REMEMBERED_IDS = 10_000


def expected_signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signature_problem(secret: str, headers: Any, body: bytes, now: float, max_age: float) -> str | None:
    """Why a delivery must be refused, or None when its signature and timestamp hold."""
    delivery_id = headers.get(DELIVERY_ID_HEADER) or ""
    timestamp = headers.get(TIMESTAMP_HEADER) or ""
    signature = headers.get(SIGNATURE_HEADER) or ""
    if not delivery_id or not timestamp:
        return f"missing {DELIVERY_ID_HEADER} or {TIMESTAMP_HEADER}"
    if not signature:
        return f"no {SIGNATURE_HEADER} header (is the webhook's secret set?)"
    if not timestamp.isdigit():
        return f"{TIMESTAMP_HEADER} is not Unix seconds"
    expected = expected_signature(secret, delivery_id, timestamp, body)
    # A header may carry several space-separated signatures (e.g. during a secret rotation).
    if not any(hmac.compare_digest(candidate, expected) for candidate in signature.split()):
        return "bad signature (wrong secret, or the body was changed)"
    age = now - int(timestamp)
    if abs(age) > max_age:
        return f"timestamp {timestamp} is {abs(age):.0f} s {'old' if age > 0 else 'ahead'} (window {max_age:g} s)"
    return None


@dataclass
class Listener:
    """What the request handlers share: the checks, the output and the --once signal."""

    secret: str
    max_age: float
    events: tuple[str, ...]
    output: str
    once: bool
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def wanted(self, event: str) -> bool:
        return not self.events or any(fnmatch.fnmatchcase(event, pattern) for pattern in self.events)

    def first_time(self, delivery_id: str) -> bool:
        with self.lock:
            if delivery_id in self.seen:
                return False
            self.seen[delivery_id] = None
            if len(self.seen) > _REMEMBERED_IDS:
                self.seen.popitem(last=False)
            return True

    def emit(self, delivery_id: str, envelope: dict[str, Any]) -> None:
        event = f"{envelope.get('entity')}.{envelope.get('action')}"
        if self.output == "jsonl":
            line = json.dumps({"delivery_id": delivery_id, "event": event, **envelope}, sort_keys=True)
        else:
            data = json.dumps(envelope.get("data"), sort_keys=True, ensure_ascii=False)
            line = f"{envelope.get('timestamp', '-')} {event} {delivery_id} {data}"
        with self.lock:
            click.echo(line)
            sys.stdout.flush()

    def refuse(self, client: str, delivery_id: str, status: int, reason: str) -> None:
        shown = delivery_id or "(no id)"
        with self.lock:
            click.echo(f"Rejected delivery {shown} from {client}: {reason} (HTTP {status})", err=True)


def _handler(listener: Listener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "ledgerflow-listen"
        sys_version = ""

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _refuse(self, status: int, code: str, reason: str) -> None:
            listener.refuse(
                self.client_address[0], self.headers.get(DELIVERY_ID_HEADER) or "", status, reason
            )
            self._answer(status, {"error_code": code, "message": reason})

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or "")
            except ValueError:
                self._refuse(411, "BAD_REQUEST", "a delivery needs a Content-Length")
                return
            if length < 0 or length > MAX_BODY_BYTES:
                self.close_connection = True
                self._refuse(413, "REQUEST_LIMIT_EXCEEDED", f"body larger than {MAX_BODY_BYTES} bytes")
                return
            body = self.rfile.read(length)
            problem = signature_problem(listener.secret, self.headers, body, time.time(), listener.max_age)
            if problem is not None:
                self._refuse(401, "UNAUTHENTICATED", problem)
                return
            try:
                envelope = json.loads(body)
            except ValueError:
                envelope = None
            if not isinstance(envelope, dict) or "entity" not in envelope or "action" not in envelope:
                self._refuse(400, "BAD_REQUEST", "the body is not a webhook envelope (entity, action, data)")
                return
            delivery_id = str(self.headers.get(DELIVERY_ID_HEADER))
            self._answer(200, {})
            event = f"{envelope['entity']}.{envelope['action']}"
            if listener.wanted(event) and listener.first_time(delivery_id):
                listener.emit(delivery_id, envelope)
                if listener.once:
                    listener.done.set()

        def _not_allowed(self) -> None:
            self._refuse(405, "METHOD_NOT_ALLOWED", f"{self.command} is not a delivery (POST)")

        do_GET = do_PUT = do_DELETE = do_PATCH = _not_allowed

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per event on stdout, refusals on stderr: nothing else

    return Handler


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", "-p", default=8099, type=PORT, show_default=True, help="Port (0: any free port).")
@click.option(
    "--secret-env",
    default=DEFAULT_SECRET_ENV,
    show_default=True,
    metavar="VAR",
    help="Environment variable holding the webhook's secret.",
)
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="EVENT",
    help="Only print (and, with --once, only stop on) these events, e.g. drift.alert or "
    "'model_version.*' (repeatable; others are acknowledged silently).",
)
@click.option("--once", is_flag=True, help="Exit 0 after the first verified matching event.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help=f"Give up after this many seconds without a matching event (exit {EXIT_TIMEOUT}).",
)
@click.option(
    "--output",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    show_default=True,
    help="text: timestamp, event, delivery id, data; jsonl: the envelope with delivery_id and event.",
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Refuse deliveries whose signed timestamp is further than this from now (seconds).",
)
def listen(
    host: str,
    port: int,
    secret_env: str,
    events: tuple[str, ...],
    once: bool,
    timeout: float | None,
    output: str,
    max_age: float,
) -> None:
    """Receive the server's webhook deliveries, verify their HMAC signatures and print each
    event on one line (exit 0 on --once, 124 on --timeout)."""
    secret = os.environ.get(secret_env, "")
    if not secret:
        raise InvalidParameter(
            f"Set {secret_env} to the webhook's secret (the 'secret' it was created with); "
            "deliveries are verified with it."
        )
    listener = Listener(secret, max_age, events, output, once)
    sock = bind_listener(host, port)
    server = ThreadingHTTPServer(sock.getsockname()[:2], _handler(listener), bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.daemon_threads = True
    serving = threading.Thread(target=server.serve_forever, name="ledgerflow-listen", daemon=True)
    serving.start()
    stop = threading.Event()
    # SIGTERM (kill, a CI job ending) stops the listener like Ctrl-C; only the main thread may
    # install a handler (an embedding caller on another thread keeps its own).
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main else None
    wanted = f" for {', '.join(events)}" if events else ""
    click.echo(
        f"Listening on http://{display_address(host, bound_port(sock))}{wanted} "
        f"(signatures checked with ${secret_env}, max age {max_age:g} s)",
        err=True,
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    try:
        while not (listener.done.is_set() or stop.is_set()):
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if left <= 0:
                timed_out = True
                break
            listener.done.wait(left)
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        server.shutdown()
        server.server_close()
    if timed_out:
        click.echo(f"Error: no matching event within {timeout:g} s.", err=True)
        sys.exit(EXIT_TIMEOUT)
