"""Webhook CRUD over MLflow's WebhookService paths, on every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.webhooks.support import HOOKS, Receiver, create_hook, hook_config, receiver_fixture

receiver = pytest.fixture(receiver_fixture)
MV_CREATED = {"entity": "MODEL_VERSION", "action": "CREATED"}


@pytest.fixture
def hooks(make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig) -> TestClient:
    return make_client(hook_config(server_config))


def fails(answer: object, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text  # type: ignore[attr-defined]
    body = answer.json()  # type: ignore[attr-defined]
    assert body["error_code"] == code, body
    return str(body["message"])


def test_create_get_list_update_delete(hooks: TestClient, receiver: Receiver) -> None:
    created = create_hook(
        hooks,
        receiver.url + "/in",
        [MV_CREATED, "registered_model.created"],
        description="d",
        secret="s3cr3t",
    )
    assert created["secret"] == "s3cr3t"
    assert created["status"] == "ACTIVE" and created["description"] == "d"
    assert created["events"] == [MV_CREATED, {"entity": "REGISTERED_MODEL", "action": "CREATED"}]
    assert created["creation_timestamp"] == created["last_updated_timestamp"] > 0
    hook_id = created["webhook_id"]

    got = hooks.get(f"{HOOKS}/{hook_id}")
    assert got.status_code == 200
    expected = {k: v for k, v in created.items() if k != "secret"}
    assert got.json()["webhook"] == expected

    second = create_hook(hooks, receiver.url, ["model_version_tag.set"])
    assert "secret" not in second
    listed = hooks.get(HOOKS, params={"max_results": 1})
    assert listed.status_code == 200
    page = listed.json()
    assert [h["webhook_id"] for h in page["webhooks"]] == [second["webhook_id"]] and page["next_page_token"]
    rest = hooks.get(HOOKS, params={"max_results": 1, "page_token": page["next_page_token"]}).json()
    assert [h["webhook_id"] for h in rest["webhooks"]] == [hook_id] and "next_page_token" not in rest

    updated = hooks.patch(
        f"{HOOKS}/{hook_id}",
        json={
            "name": "renamed",
            "status": "DISABLED",
            "events": [{"entity": "model_version_alias", "action": "deleted"}],
        },
    )
    assert updated.status_code == 200, updated.text
    hook = updated.json()["webhook"]
    assert hook["name"] == "renamed" and hook["status"] == "DISABLED"
    assert hook["events"] == [{"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"}]
    assert hook["url"] == receiver.url + "/in" and hook["description"] == "d"
    assert hook["last_updated_timestamp"] >= created["last_updated_timestamp"]

    assert hooks.delete(f"{HOOKS}/{hook_id}").status_code == 200
    fails(hooks.get(f"{HOOKS}/{hook_id}"), 404, "RESOURCE_DOES_NOT_EXIST")
    fails(hooks.delete(f"{HOOKS}/{hook_id}"), 404, "RESOURCE_DOES_NOT_EXIST")
    fails(hooks.patch(f"{HOOKS}/{hook_id}", json={"name": "x"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert [h["webhook_id"] for h in hooks.get(HOOKS).json()["webhooks"]] == [second["webhook_id"]]


def test_secret_is_never_echoed_after_creation(hooks: TestClient, receiver: Receiver) -> None:
    secret = "only-once-0123456789"
    hook_id = create_hook(hooks, receiver.url, [MV_CREATED], secret=secret)["webhook_id"]
    answers = [
        hooks.get(f"{HOOKS}/{hook_id}"),
        hooks.get(HOOKS),
        hooks.patch(f"{HOOKS}/{hook_id}", json={"description": "new"}),
        hooks.patch(f"{HOOKS}/{hook_id}", json={"secret": secret + "-rotated"}),
        hooks.get(f"{HOOKS}/{hook_id}/deliveries"),
        hooks.post(f"{HOOKS}/{hook_id}/test", json={}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text and "secret" not in answer.text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"url": "http://127.0.0.1:1/", "events": [MV_CREATED]}, "name"),
        ({"name": "n", "events": [MV_CREATED]}, "url"),
        ({"name": "n", "url": "http://127.0.0.1:1/"}, "events"),
        ({"name": "n", "url": "http://127.0.0.1:1/", "events": []}, "events"),
        ({"name": "n", "url": "not a url", "events": [MV_CREATED]}, "URL"),
        ({"name": "n", "url": "ftp://127.0.0.1/", "events": [MV_CREATED]}, "scheme"),
        (
            {
                "name": "n",
                "url": "http://127.0.0.1:1/",
                "events": [{"entity": "MODEL_VERSION", "action": "SET"}],
            },
            "SET",
        ),
        (
            {
                "name": "n",
                "url": "http://127.0.0.1:1/",
                "events": [{"entity": "EXPERIMENT", "action": "CREATED"}],
            },
            "entity",
        ),
        ({"name": "n", "url": "http://127.0.0.1:1/", "events": ["model_version"]}, "entity.action"),
        ({"name": "n", "url": "http://127.0.0.1:1/", "events": [{"entity": "MODEL_VERSION"}]}, "action"),
        ({"name": "n", "url": "http://127.0.0.1:1/", "events": "model_version.created"}, "list"),
        ({"name": "n", "url": "http://127.0.0.1:1/", "events": [MV_CREATED], "status": "ON"}, "status"),
        ({"name": "n", "url": "http://10.0.0.1/", "events": [MV_CREATED]}, "private"),
        ({"name": 5, "url": "http://127.0.0.1:1/", "events": [MV_CREATED]}, "name"),
    ],
)
def test_bad_create_requests_are_400(hooks: TestClient, body: dict[str, object], needle: str) -> None:
    message = fails(hooks.post(HOOKS, json=body), 400, "INVALID_PARAMETER_VALUE")
    assert needle.lower() in message.lower()
    assert hooks.get(HOOKS).json() == {}


def test_loopback_is_refused_without_the_allow_list(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, receiver: Receiver
) -> None:
    strict = make_client(hook_config(server_config, allow=()))
    message = fails(
        strict.post(HOOKS, json={"name": "n", "url": receiver.url, "events": [MV_CREATED]}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "loopback" in message and "allow-list" in message
    for url in ("http://localhost:9/", "http://[::1]:9/", "http://169.254.169.254/latest/meta-data/"):
        fails(
            strict.post(HOOKS, json={"name": "n", "url": url, "events": [MV_CREATED]}),
            400,
            "INVALID_PARAMETER_VALUE",
        )
    assert strict.get(HOOKS).json() == {}


def test_update_rechecks_the_url(hooks: TestClient, receiver: Receiver) -> None:
    hook_id = create_hook(hooks, receiver.url, [MV_CREATED])["webhook_id"]
    message = fails(
        hooks.patch(f"{HOOKS}/{hook_id}", json={"url": "http://192.168.0.10/"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "private" in message
    assert hooks.get(f"{HOOKS}/{hook_id}").json()["webhook"]["url"] == receiver.url


def test_bad_paging_is_400(hooks: TestClient) -> None:
    fails(hooks.get(HOOKS, params={"page_token": "###"}), 400, "INVALID_PARAMETER_VALUE")
    fails(hooks.get(HOOKS, params={"max_results": 0}), 400, "INVALID_PARAMETER_VALUE")
    fails(hooks.get(f"{HOOKS}/nope/deliveries"), 404, "RESOURCE_DOES_NOT_EXIST")
