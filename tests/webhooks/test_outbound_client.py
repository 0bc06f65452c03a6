"""The pinned client: one lookup per hop, the vetted address dialled, the URL's host sent."""

from __future__ import annotations

import pytest

from ledgerflow.security.ssrf import BlockedUrl, OutboundClient, UrlGuard
from tests.webhooks.support import Receiver, receiver_fixture

receiver = pytest.fixture(receiver_fixture)


def test_the_vetted_address_is_dialled_with_the_urls_host(receiver: Receiver) -> None:
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        # Answers loopback once, then an address the guard refuses: a second lookup at
        # connect time would be a rebinding hole.
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["10.9.9.9"]

    port = receiver.server.server_port
    client = OutboundClient(UrlGuard(["127.0.0.1"], rebinding), timeout=5)
    response = client.post(f"http://hooks.test:{port}/p?q=1", b"{}", {"Content-Type": "application/json"})
    assert response.status == 200 and response.body == b"ok"
    assert lookups == ["hooks.test"]
    (request,) = receiver.requests()
    assert request.headers["host"] == f"hooks.test:{port}" and request.path == "/p?q=1"
    with pytest.raises(BlockedUrl):
        client.post(f"http://hooks.test:{port}/p", b"{}", {})
    assert len(receiver.requests()) == 1
