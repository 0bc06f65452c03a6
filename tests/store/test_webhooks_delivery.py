"""Real deliveries to a loopback receiver: payloads per event, signatures, retries, the log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.webhooks.support import (
    HOOKS,
    Receiver,
    create_hook,
    deliveries,
    expected_signature,
    hook_config,
    receiver_fixture,
    settled,
    wait_for,
)

receiver = pytest.fixture(receiver_fixture)
SOURCE = "mlflow-artifacts:/0/models/m-0/artifacts"
ALL_EVENTS = [
    "registered_model.created",
    "model_version.created",
    "model_version.stage_transitioned",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
    "registered_model_tag.set",
    "registered_model_tag.deleted",
]


@pytest.fixture
def hooks(make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig) -> TestClient:
    return make_client(hook_config(server_config))


def call(client: TestClient, method: str, path: str, body: dict[str, Any]) -> Any:
    url = f"/api/2.0/mlflow/{path}"
    answer = client.get(url, params=body) if method == "GET" else client.request(method, url, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_every_event_is_delivered_with_its_payload_and_a_valid_signature(
    hooks: TestClient, receiver: Receiver
) -> None:
    secret = "hunter2-webhook-secret"
    events = [{"entity": e.split(".")[0].upper(), "action": e.split(".")[1].upper()} for e in ALL_EVENTS]
    hook_id = create_hook(hooks, receiver.url + "/hook", events, secret=secret)["webhook_id"]

    call(
        hooks,
        "POST",
        "registered-models/create",
        {"name": "m", "tags": [{"key": "team", "value": "a"}], "description": "md"},
    )
    call(
        hooks,
        "POST",
        "model-versions/create",
        {"name": "m", "source": SOURCE, "tags": [{"key": "k", "value": "v"}], "description": "vd"},
    )
    call(hooks, "POST", "model-versions/set-tag", {"name": "m", "version": "1", "key": "vk", "value": "vv"})
    call(hooks, "DELETE", "model-versions/delete-tag", {"name": "m", "version": "1", "key": "vk"})
    call(hooks, "POST", "registered-models/alias", {"name": "m", "alias": "champ", "version": "1"})
    call(hooks, "DELETE", "registered-models/alias", {"name": "m", "alias": "champ"})
    call(
        hooks,
        "POST",
        "model-versions/transition-stage",
        {"name": "m", "version": "1", "stage": "staging", "archive_existing_versions": False},
    )
    call(hooks, "POST", "registered-models/set-tag", {"name": "m", "key": "mk", "value": "mv"})
    call(hooks, "DELETE", "registered-models/delete-tag", {"name": "m", "key": "mk"})

    log = settled(hooks, hook_id, len(ALL_EVENTS))
    assert all(d["status"] == "SUCCEEDED" and d["attempts"] == 1 for d in log)
    got = {}
    for request in wait_for(lambda: len(receiver.requests()) >= len(ALL_EVENTS) and receiver.requests()):
        assert request.method == "POST" and request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        delivery_id, timestamp = (
            request.headers["x-mlflow-delivery-id"],
            request.headers["x-mlflow-timestamp"],
        )
        assert request.headers["x-mlflow-signature"] == expected_signature(
            secret, delivery_id, timestamp, request.body
        )
        assert abs(int(timestamp) - time.time()) < 300
        body = request.json()
        assert set(body) == {"entity", "action", "timestamp", "data"}
        assert body["timestamp"].endswith("+00:00")
        got[f"{body['entity']}.{body['action']}"] = body["data"]
    run_id = got["model_version.created"].pop("run_id", None)
    assert run_id is None
    assert got == {
        "registered_model.created": {"name": "m", "tags": {"team": "a"}, "description": "md"},
        "model_version.created": {
            "name": "m",
            "version": "1",
            "source": SOURCE,
            "tags": {"k": "v"},
            "description": "vd",
        },
        "model_version_tag.set": {"name": "m", "version": "1", "key": "vk", "value": "vv"},
        "model_version_tag.deleted": {"name": "m", "version": "1", "key": "vk"},
        "model_version_alias.created": {"name": "m", "alias": "champ", "version": "1"},
        "model_version_alias.deleted": {"name": "m", "alias": "champ"},
        "model_version.stage_transitioned": {
            "name": "m",
            "version": "1",
            "from_stage": "None",
            "to_stage": "Staging",
            "archive_existing_versions": False,
            "archived_versions": [],
        },
        "registered_model_tag.set": {"name": "m", "key": "mk", "value": "mv"},
        "registered_model_tag.deleted": {"name": "m", "key": "mk"},
    }
    # The log's digest is of the exact bytes sent.
    import hashlib

    digests = {hashlib.sha256(r.body).hexdigest() for r in receiver.requests()}
    assert {d["payload_sha256"] for d in log} == digests


def test_only_subscribed_active_webhooks_receive(hooks: TestClient, receiver: Receiver) -> None:
    wanted = create_hook(hooks, receiver.url + "/a", ["registered_model.created"])["webhook_id"]
    other = create_hook(hooks, receiver.url + "/b", ["model_version.created"])["webhook_id"]
    off = create_hook(hooks, receiver.url + "/c", ["registered_model.created"], status="DISABLED")[
        "webhook_id"
    ]
    call(hooks, "POST", "registered-models/create", {"name": "m"})
    settled(hooks, wanted, 1)
    assert deliveries(hooks, other) == [] and deliveries(hooks, off) == []
    assert [r.path for r in receiver.requests()] == ["/a"]
    # Unsigned without a secret, as in MLflow.
    assert "x-mlflow-signature" not in receiver.requests()[0].headers

    hooks.patch(f"{HOOKS}/{wanted}", json={"status": "DISABLED"})
    hooks.patch(f"{HOOKS}/{off}", json={"status": "ACTIVE"})
    call(hooks, "POST", "registered-models/create", {"name": "m2"})
    settled(hooks, off, 1)
    assert len(deliveries(hooks, wanted)) == 1


def test_5xx_is_retried_with_backoff_until_success(hooks: TestClient, receiver: Receiver) -> None:
    receiver.script = [500, 503, 200]
    hook_id = create_hook(hooks, receiver.url, ["registered_model.created"])["webhook_id"]
    call(hooks, "POST", "registered-models/create", {"name": "m"})
    (delivery,) = settled(hooks, hook_id, 1)
    assert delivery["status"] == "SUCCEEDED" and delivery["attempts"] == 3
    log = delivery["attempt_log"]
    assert [a["attempt"] for a in log] == [1, 2, 3]
    assert [a.get("response_status") for a in log] == [500, 503, 200]
    assert "500" in log[0]["error_message"] and "error_message" not in log[2]
    # Base 0.05 s, doubling: at least 50 ms, then 100 ms between attempts.
    assert log[1]["timestamp"] - log[0]["timestamp"] >= 50
    assert log[2]["timestamp"] - log[1]["timestamp"] >= 100
    requests = receiver.requests()
    assert len(requests) == 3
    # One delivery id across retries, so a receiver can deduplicate.
    assert len({r.headers["x-mlflow-delivery-id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1


def test_attempts_are_bounded_and_4xx_is_not_retried(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, receiver: Receiver
) -> None:
    client = make_client(hook_config(server_config, webhook_max_attempts=3))
    receiver.default = 500
    failing = create_hook(client, receiver.url + "/down", ["registered_model.created"])["webhook_id"]
    call(client, "POST", "registered-models/create", {"name": "m"})
    (delivery,) = settled(client, failing, 1)
    assert delivery["status"] == "FAILED" and delivery["attempts"] == 3
    assert delivery["last_response_status"] == 500 and "next_attempt_timestamp" not in delivery

    receiver.default = 404
    gone = create_hook(client, receiver.url + "/gone", ["registered_model.created"])["webhook_id"]
    call(client, "POST", "registered-models/create", {"name": "m2"})
    (delivery,) = settled(client, gone, 1)
    assert delivery["status"] == "FAILED" and delivery["attempts"] == 1
    assert delivery["last_response_status"] == 404


def test_connection_errors_are_retried(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, receiver: Receiver
) -> None:
    client = make_client(hook_config(server_config, webhook_max_attempts=2))
    # Nothing listens on this port once the receiver is closed.
    url = receiver.url
    receiver.server.shutdown()
    receiver.server.server_close()
    hook_id = create_hook(client, url, ["registered_model.created"])["webhook_id"]
    call(client, "POST", "registered-models/create", {"name": "m"})
    (delivery,) = settled(client, hook_id, 1)
    assert delivery["status"] == "FAILED" and delivery["attempts"] == 2
    assert all("Connection failed" in a["error_message"] for a in delivery["attempt_log"])


def test_a_failing_webhook_never_fails_the_registry_call(hooks: TestClient, receiver: Receiver) -> None:
    receiver.default = 500
    create_hook(hooks, receiver.url, ["registered_model.created", "model_version_alias.created"])
    model = call(hooks, "POST", "registered-models/create", {"name": "m"})
    assert model["registered_model"]["name"] == "m"


def test_deleting_a_webhook_drops_its_log(hooks: TestClient, receiver: Receiver) -> None:
    hook_id = create_hook(hooks, receiver.url, ["registered_model.created"])["webhook_id"]
    call(hooks, "POST", "registered-models/create", {"name": "m"})
    settled(hooks, hook_id, 1)
    assert hooks.delete(f"{HOOKS}/{hook_id}").status_code == 200
    assert hooks.get(f"{HOOKS}/{hook_id}/deliveries").status_code == 404


def test_pending_deliveries_survive_a_restart(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, receiver: Receiver
) -> None:
    from ledgerflow.server.app import create_app

    config = hook_config(server_config)
    # Without entering the client the lifespan never runs, so no worker sends anything.
    stopped = TestClient(create_app(config), raise_server_exceptions=False)
    hook_id = create_hook(stopped, receiver.url, ["registered_model.created"])["webhook_id"]
    call(stopped, "POST", "registered-models/create", {"name": "m"})
    (pending,) = deliveries(stopped, hook_id)
    assert pending["status"] == "PENDING" and pending["attempts"] == 0
    stopped.app.state.services.close()  # type: ignore[attr-defined]
    assert receiver.requests() == []

    restarted = make_client(config)
    (done,) = settled(restarted, hook_id, 1)
    assert done["delivery_id"] == pending["delivery_id"] and done["status"] == "SUCCEEDED"
    (request,) = receiver.requests()
    assert request.headers["x-mlflow-delivery-id"] == pending["delivery_id"]
    assert json.loads(request.body)["data"]["name"] == "m"
