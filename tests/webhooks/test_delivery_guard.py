"""The SSRF guard at delivery time (redirects, a tightened allow-list) and the /test endpoint."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app
from tests.webhooks.support import (
    HOOKS,
    Receiver,
    create_hook,
    deliveries,
    expected_signature,
    hook_config,
    receiver_fixture,
    settled,
)

receiver = pytest.fixture(receiver_fixture)


@pytest.fixture
def hooks(make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig) -> TestClient:
    return make_client(hook_config(server_config))


def new_model(client: TestClient, name: str) -> None:
    answer = client.post("/api/2.0/mlflow/registered-models/create", json={"name": name})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_to_a_forbidden_address_is_not_followed(
    hooks: TestClient, receiver: Receiver, status: int
) -> None:
    port = receiver.server.server_port
    # 127.0.0.2 is loopback but not allow-listed; nothing of ours listens there either.
    receiver.script = [(status, {"Location": f"http://127.0.0.2:{port}/stolen"})]
    hook_id = create_hook(hooks, receiver.url + "/start", ["registered_model.created"])["webhook_id"]
    new_model(hooks, "m")
    (delivery,) = settled(hooks, hook_id, 1)
    assert delivery["status"] == "FAILED" and delivery["attempts"] == 1
    assert "outbound URL guard" in delivery["last_error_message"]
    assert "127.0.0.2" in delivery["last_error_message"]
    assert [r.path for r in receiver.requests()] == ["/start"]


def test_an_allowed_redirect_is_followed_after_a_fresh_check(hooks: TestClient, receiver: Receiver) -> None:
    receiver.script = [(307, {"Location": "/moved"}), 200]
    hook_id = create_hook(hooks, receiver.url + "/start", ["registered_model.created"], secret="k")[
        "webhook_id"
    ]
    new_model(hooks, "m")
    (delivery,) = settled(hooks, hook_id, 1)
    assert delivery["status"] == "SUCCEEDED"
    first, second = receiver.requests()
    assert (first.path, second.path) == ("/start", "/moved")
    assert second.method == "POST" and second.body == first.body


def test_redirect_loops_stop_at_the_hop_limit(hooks: TestClient, receiver: Receiver) -> None:
    receiver.default = 200
    receiver.script = [(302, {"Location": "/again"})] * 10
    hook_id = create_hook(hooks, receiver.url + "/loop", ["registered_model.created"])["webhook_id"]
    new_model(hooks, "m")
    (delivery,) = settled(hooks, hook_id, 1)
    assert delivery["status"] == "FAILED" and "Too many redirects" in delivery["last_error_message"]
    assert len(receiver.requests()) == 4  # the first request and three redirect hops


def test_a_webhook_whose_address_is_no_longer_allowed_is_refused_at_delivery(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, receiver: Receiver
) -> None:
    allowed = hook_config(server_config)
    # Created while the operator allowed loopback; the app's worker is not running.
    before = TestClient(create_app(allowed), raise_server_exceptions=False)
    hook_id = create_hook(before, receiver.url, ["registered_model.created"])["webhook_id"]
    new_model(before, "m")
    before.app.state.services.close()  # type: ignore[attr-defined]

    strict = make_client(hook_config(server_config, allow=()))
    (delivery,) = settled(strict, hook_id, 1)
    assert delivery["status"] == "FAILED" and delivery["attempts"] == 1
    assert "loopback" in delivery["last_error_message"]
    assert receiver.requests() == []
    tested = strict.post(f"{HOOKS}/{hook_id}/test", json={}).json()["result"]
    assert tested["success"] is False and "loopback" in tested["error_message"]
    assert receiver.requests() == []


def test_the_test_endpoint_sends_a_signed_example(hooks: TestClient, receiver: Receiver) -> None:
    hook = create_hook(
        hooks,
        receiver.url + "/t",
        [{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}, "model_version.created"],
        secret="abc",
    )
    answer = hooks.post(f"{HOOKS}/{hook['webhook_id']}/test", json={})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["success"] is True and result["response_status"] == 200
    assert "response_body" not in result and "error_message" not in result
    (request,) = receiver.requests()
    body = request.json()
    # Events are kept sorted, so the first is model_version.created.
    assert (body["entity"], body["action"]) == ("model_version", "created")
    assert body["data"]["name"] == "example_model"
    headers = request.headers
    assert headers["x-mlflow-signature"] == expected_signature(
        "abc", headers["x-mlflow-delivery-id"], headers["x-mlflow-timestamp"], request.body
    )

    chosen = hooks.post(
        f"{HOOKS}/{hook['webhook_id']}/test",
        json={"event": {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}},
    )
    assert chosen.json()["result"]["success"] is True
    assert receiver.requests()[-1].json()["entity"] == "model_version_alias"
    # /test is not a registry event: nothing lands in the delivery log.
    assert deliveries(hooks, hook["webhook_id"]) == []


def test_the_test_endpoint_reports_failures(hooks: TestClient, receiver: Receiver) -> None:
    receiver.default = 500
    hook_id = create_hook(hooks, receiver.url, ["registered_model.created"])["webhook_id"]
    result = hooks.post(f"{HOOKS}/{hook_id}/test", json={}).json()["result"]
    assert result == {**result, "success": False, "response_status": 500}
    bad = hooks.post(f"{HOOKS}/{hook_id}/test", json={"event": {"entity": "PROMPT", "action": "CREATED"}})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = hooks.post(f"{HOOKS}/0123/test", json={})
    assert missing.status_code == 404
