"""SSRF through webhooks, the one place the server dials a client-named URL: loopback, private,
link-local, metadata, IPv6-mapped, numeric-encoded and redirected targets are refused (at
creation, at update, and at delivery for redirects), and nothing is stored or sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.security.attacks.conftest import Target, refused, start_target
from tests.webhooks.support import Receiver, receiver_fixture

HOOKS = "/api/2.0/mlflow/webhooks"
EVENTS = [{"entity": "registered_model", "action": "created"}]

INTERNAL_URLS = {
    "loopback": "http://127.0.0.1:5000/hook",
    "loopback-other": "http://127.1.2.3/hook",
    "localhost-name": "http://localhost:8080/hook",
    "ipv6-loopback": "http://[::1]:8080/hook",
    "private-10": "http://10.0.0.5/hook",
    "private-192": "https://192.168.1.1/hook",
    "private-172": "http://172.16.5.4/hook",
    "link-local": "http://169.254.1.1/hook",
    "aws-metadata": "http://169.254.169.254/latest/meta-data/iam/",
    "gcp-metadata-name": "http://metadata.google.internal/computeMetadata/v1/",
    "azure-wire": "http://168.63.129.16/",
    "ipv6-mapped-loopback": "http://[::ffff:127.0.0.1]/hook",
    "ipv6-mapped-metadata": "http://[::ffff:a9fe:a9fe]/latest",
    "decimal-ip": "http://2130706433/hook",
    "octal-ip": "http://0177.0.0.1/hook",
    "hex-ip": "http://0x7f000001/hook",
    "short-ip": "http://127.1/hook",
    "unspecified": "http://0.0.0.0:5000/hook",
    "userinfo-trick": "http://public.example@127.0.0.1/hook",
    "backslash-trick": "http://public.example\\@127.0.0.1/hook",
    "file-scheme": "file:///etc/passwd",
    "gopher-scheme": "gopher://127.0.0.1:6379/_INFO",
    "ftp-scheme": "ftp://10.0.0.1/x",
}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    made, live = start_target(tmp_path_factory.mktemp("ssrf"))
    try:
        yield made
    finally:
        live.stop()


def _hook(url: str) -> dict[str, Any]:
    return {"name": "probe", "url": url, "events": EVENTS}


@pytest.mark.parametrize("case", list(INTERNAL_URLS))
def test_webhook_to_an_internal_address_is_refused(target: Target, case: str) -> None:
    with target.unchanged():
        refused(
            target.request("POST", HOOKS, body=_hook(INTERNAL_URLS[case])), 400, "INVALID_PARAMETER_VALUE"
        )
    listed = target.request("GET", HOOKS)
    assert listed.status == 200 and not listed.json().get("webhooks")


@pytest.mark.parametrize("case", ["aws-metadata", "ipv6-mapped-loopback", "decimal-ip"])
def test_updating_a_webhook_to_an_internal_address_is_refused(target: Target, case: str) -> None:
    made = target.request("POST", HOOKS, body=_hook("https://8.8.8.8/hook"))
    assert made.status == 200, made.text
    hook_id = made.json()["webhook"]["webhook_id"]
    try:
        with target.unchanged():
            refused(
                target.request("PATCH", f"{HOOKS}/{hook_id}", body={"url": INTERNAL_URLS[case]}),
                400,
                "INVALID_PARAMETER_VALUE",
            )
        assert target.request("GET", f"{HOOKS}/{hook_id}").json()["webhook"]["url"] == "https://8.8.8.8/hook"
    finally:
        assert target.request("DELETE", f"{HOOKS}/{hook_id}").status == 200


receiver = pytest.fixture(receiver_fixture)


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A server that lets webhooks reach exactly 127.0.0.1 (where the test receiver listens)."""
    made, live = start_target(
        tmp_path_factory.mktemp("ssrf-allow"),
        webhook_allowed_hosts=("127.0.0.1",),
        webhook_backoff_seconds=0.05,
        webhook_timeout_seconds=5.0,
        webhook_max_attempts=1,
    )
    try:
        yield made
    finally:
        live.stop()


REDIRECTS = {
    "302-to-metadata": (302, "http://169.254.169.254/latest/meta-data/"),
    "307-to-other-loopback": (307, "http://127.0.0.2:{port}/stolen"),
    "308-to-ipv6-mapped": (308, "http://[::ffff:127.0.0.2]:{port}/stolen"),
    "301-to-file": (301, "file:///etc/passwd"),
    "302-to-decimal": (302, "http://2852039166/latest"),
}


@pytest.mark.parametrize("case", list(REDIRECTS))
def test_redirect_from_an_allowed_hook_to_an_internal_address_is_not_followed(
    allowing: Target, receiver: Receiver, case: str
) -> None:
    status, location = REDIRECTS[case]
    port = receiver.server.server_port
    made = allowing.request("POST", HOOKS, body=_hook(f"{receiver.url}/start"))
    assert made.status == 200, made.text
    hook_id = made.json()["webhook"]["webhook_id"]
    receiver.script = [(status, {"Location": location.format(port=port)})]
    try:
        with allowing.unchanged():
            tested = allowing.request("POST", f"{HOOKS}/{hook_id}/test", body={})
        assert tested.status == 200, tested.text
        result = tested.json()["result"]
        assert result["success"] is False, result
        assert "guard" in str(result) or "refused" in str(result), result
        assert "meta-data" not in str(result.get("response_body", ""))
        # Only the first hop was ever requested.
        assert [r.path for r in receiver.requests()] == ["/start"]
    finally:
        assert allowing.request("DELETE", f"{HOOKS}/{hook_id}").status == 200


def test_allow_list_of_one_address_does_not_open_its_neighbours(allowing: Target) -> None:
    with allowing.unchanged():
        for url in ("http://127.0.0.2/x", "http://[::ffff:127.0.0.2]/x", "http://127.0.0.1.nip.io.invalid/x"):
            refused(allowing.request("POST", HOOKS, body=_hook(url)), 400, "INVALID_PARAMETER_VALUE")
