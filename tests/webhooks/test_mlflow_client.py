"""The stock MLflow 3 client's webhook API against a live Ledgerflow server, with a real
registry event delivered to a loopback receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ledgerflow.config import ServerConfig
from tests.conftest import LiveServer
from tests.webhooks.support import Receiver, expected_signature, hook_config, receiver_fixture, wait_for

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("mlflow.entities.webhook")

pytestmark = pytest.mark.compat
receiver = pytest.fixture(receiver_fixture)


@pytest.fixture
def client(
    make_live_server: Callable[[ServerConfig], LiveServer],
    server_config: ServerConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    server = make_live_server(hook_config(server_config))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    from mlflow import MlflowClient

    yield MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def test_mlflow_client_manages_webhooks_and_receives_events(client: Any, receiver: Receiver) -> None:
    from mlflow.entities.webhook import WebhookEvent, WebhookStatus
    from mlflow.exceptions import MlflowException

    hook = client.create_webhook(
        name="ci",
        url=receiver.url + "/mlflow",
        events=["model_version.created"],
        secret="shh",
        description="d",
    )
    assert hook.name == "ci" and hook.status == WebhookStatus.ACTIVE
    assert [str(e) for e in hook.events] == ["model_version.created"]
    assert client.get_webhook(hook.webhook_id).url == receiver.url + "/mlflow"
    assert [h.webhook_id for h in client.list_webhooks()] == [hook.webhook_id]

    client.create_registered_model("m")
    client.create_model_version("m", "mlflow-artifacts:/0/models/m-0/artifacts")
    (request,) = wait_for(lambda: receiver.requests("/mlflow"), what="a delivery")
    headers = request.headers
    assert headers["x-mlflow-signature"] == expected_signature(
        "shh", headers["x-mlflow-delivery-id"], headers["x-mlflow-timestamp"], request.body
    )
    assert request.json()["data"]["version"] == "1"

    updated = client.update_webhook(
        hook.webhook_id,
        status=WebhookStatus.DISABLED,
        events=[WebhookEvent("model_version_alias", "created")],
    )
    assert updated.status == WebhookStatus.DISABLED
    assert [str(e) for e in updated.events] == ["model_version_alias.created"]
    result = client.test_webhook(hook.webhook_id)
    assert result.success and result.response_status == 200

    client.delete_webhook(hook.webhook_id)
    with pytest.raises(MlflowException) as raised:
        client.get_webhook(hook.webhook_id)
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as refused:
        client.create_webhook(name="x", url="http://10.1.2.3/", events=["model_version.created"])
    assert "private" in refused.value.message
