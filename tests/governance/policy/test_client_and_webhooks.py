"""The Python GovernanceClient on a live server (two approvals required, a rejection ends a
request, cancel), and HMAC-signed webhook deliveries of promotion and gate-failure events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from ledgerflow.client.transport import HttpTransport
from ledgerflow.config import ServerConfig
from ledgerflow.errors import RestError
from ledgerflow.governance.client import GovernanceClient
from tests.conftest import LiveServer
from tests.governance.policy.support import ADMIN, PASSWORD, POLICY, World, basic, build_world, ok
from tests.webhooks.support import Receiver, expected_signature, receiver_fixture, wait_for


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiver_fixture()


def _client(live: LiveServer, user: str, monkeypatch: pytest.MonkeyPatch) -> GovernanceClient:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    transport = HttpTransport(live.url, max_retries=0)
    transport._http()  # binds this user's credentials now
    return GovernanceClient(transport=transport)


def test_client_two_approvals_rejection_and_signed_webhooks(
    make_live_server: Callable[[ServerConfig], LiveServer],
    governed_config: ServerConfig,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live = make_live_server(
        replace(governed_config, webhook_allowed_hosts=("127.0.0.1",), webhook_backoff_seconds=0.05)
    )
    world: World = build_world(TestClient(live.app))
    secret = "whsec-test-secret"
    events = [
        "promotion_request.created",
        "promotion_request.approved",
        "promotion_request.rejected",
        "promotion_request.promoted",
        "policy_evaluation.failed",
    ]
    ok(
        world.client.post(
            "/api/2.0/mlflow/webhooks",
            json={"name": "gov", "url": receiver.url + "/hook", "events": events, "secret": secret},
            headers=basic(ADMIN),
        )
    )
    admin, dave, bob, carol = (_client(live, u, monkeypatch) for u in (ADMIN, "dave", "bob", "carol"))
    admin.upload_policy(
        POLICY.replace("{id: 4eyes, type: approvals, min: 1}", "{id: 4eyes, type: approvals, min: 2}")
    )
    version = world.new_version()
    world.good_facts(version)

    request = dave.request_promotion(world.model, version, "alias:champion", "two approvals please")
    assert request["min_approvals"] == 2
    assert bob.approve(request["request_id"])["status"] == "REQUESTED"  # one of two
    with pytest.raises(RestError) as twice:
        bob.approve(request["request_id"])
    assert twice.value.error_code == "RESOURCE_CONFLICT"
    assert carol.approve(request["request_id"])["status"] == "APPROVED"
    promoted = dave.promote(request["request_id"])
    assert promoted["status"] == "PROMOTED" and [a["approver"] for a in promoted["approvals"]] == [
        "bob",
        "carol",
    ]

    second = dave.request_promotion(world.model, version, "stage:Production")
    assert bob.reject(second["request_id"], "not this week")["status"] == "REJECTED"
    with pytest.raises(RestError) as late:
        carol.approve(second["request_id"])
    assert late.value.error_code == "RESOURCE_CONFLICT"
    third = dave.request_promotion(world.model, version, "stage:Production")
    assert dave.cancel(third["request_id"])["status"] == "CANCELLED"
    assert {r["status"] for r in admin.list_promotion_requests(world.model)} == {
        "PROMOTED",
        "REJECTED",
        "CANCELLED",
    }

    failing = world.new_version()
    world.good_facts(failing, accuracy=0.1)
    with pytest.raises(RestError) as refused:
        dave.request_promotion(world.model, failing, "alias:champion")
    assert refused.value.error_code == "RESOURCE_CONFLICT" and "credit-prod:acc" in refused.value.message

    wanted = {"promotion_request.created", "promotion_request.approved", "promotion_request.rejected"}
    wanted |= {"promotion_request.promoted", "policy_evaluation.failed"}

    def seen() -> set[str]:
        return {f"{r.json()['entity']}.{r.json()['action']}" for r in receiver.requests("/hook")}

    wait_for(lambda: wanted <= seen(), what="promotion webhooks")
    for delivery in receiver.requests("/hook"):
        headers = delivery.headers
        assert headers["x-mlflow-signature"] == expected_signature(
            secret, headers["x-mlflow-delivery-id"], headers["x-mlflow-timestamp"], delivery.body
        )
    failed = next(r.json() for r in receiver.requests("/hook") if r.json()["entity"] == "policy_evaluation")
    assert failed["data"]["failing_rules"] == ["acc"]
