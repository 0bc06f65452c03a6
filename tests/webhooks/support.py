"""A real HTTP receiver on 127.0.0.1 for webhook tests, and helpers to drive the API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig

HOOKS = "/api/2.0/mlflow/webhooks"


@dataclass
class Received:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; answers from ``script`` (status codes, or (status, headers)
    pairs) in order, then ``default`` once the script is used up."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    script: list[Any] = field(default_factory=list)
    default: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def answer(self, request: Received) -> tuple[int, dict[str, str]]:
        with self.lock:
            self.received.append(request)
            step = self.script.pop(0) if self.script else self.default
        return step if isinstance(step, tuple) else (step, {})

    def requests(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path is None or r.path == path]


def start_receiver() -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Received(self.path, self.command, {k.lower(): v for k, v in self.headers.items()}, body)
            status, headers = holder["r"].answer(request)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = _handle
        do_GET = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return holder["r"]


def receiver_fixture() -> Iterator[Receiver]:
    receiver = start_receiver()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def hook_config(base: ServerConfig, *, allow: tuple[str, ...] = ("127.0.0.1",), **extra: Any) -> ServerConfig:
    from dataclasses import replace

    fields: dict[str, Any] = {
        "webhook_allowed_hosts": allow,
        "webhook_backoff_seconds": 0.05,
        "webhook_timeout_seconds": 5.0,
        **extra,
    }
    return replace(base, **fields)


def expected_signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """Computed independently of the server: v1,<base64 HMAC-SHA256 of id.timestamp.body>."""
    mac = hmac.new(
        secret.encode(), delivery_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256
    )
    return "v1," + base64.b64encode(mac.digest()).decode()


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def create_hook(client: TestClient, url: str, events: list[Any], **fields: Any) -> dict[str, Any]:
    answer = client.post(HOOKS, json={"name": "hook", "url": url, "events": events, **fields})
    assert answer.status_code == 200, answer.text
    hook: dict[str, Any] = answer.json()["webhook"]
    return hook


def deliveries(client: TestClient, webhook_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"{HOOKS}/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json().get("deliveries", [])
    return found


def settled(client: TestClient, webhook_id: str, count: int) -> list[dict[str, Any]]:
    """Wait until ``count`` deliveries exist and none is pending any more."""

    def done() -> list[dict[str, Any]] | None:
        found = deliveries(client, webhook_id)
        if len(found) >= count and all(d["status"] != "PENDING" for d in found):
            return found
        return None

    result: list[dict[str, Any]] = wait_for(done, what=f"{count} settled deliveries")
    return result
