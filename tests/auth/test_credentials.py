"""Passwords, lockout, tokens: what each credential opens and when it stops working."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.auth.conftest import ADMIN, ALICE, basic, bearer, make_token

GET_EXP = "/api/2.0/mlflow/experiments/get"
CREATE_EXP = "/api/2.0/mlflow/experiments/create"


def auth_of(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.services.auth  # type: ignore[attr-defined]


def test_wrong_password_and_unknown_user_answer_identically(secured: TestClient) -> None:
    passwords = auth_of(secured).passwords
    before = passwords.verifications
    wrong = secured.get(GET_EXP, params={"experiment_id": "0"}, headers=basic(ALICE[0], "not-her-password-x"))
    middle = passwords.verifications
    unknown = secured.get(
        GET_EXP, params={"experiment_id": "0"}, headers=basic("nobody-here", "whatever-pass-1")
    )
    after = passwords.verifications
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"]
    # Both paths paid exactly one Argon2 verification.
    assert middle - before == 1 and after - middle == 1


def test_lockout_after_failures_same_answer_then_unlocks(secured: TestClient) -> None:
    def attempt(password: str) -> tuple[int, bytes]:
        response = secured.get(GET_EXP, params={"experiment_id": "0"}, headers=basic(ALICE[0], password))
        return response.status_code, response.content

    failed = [attempt(f"wrong-password-{i}") for i in range(3)]
    locked = attempt(ALICE[1])  # the right password, but the name is locked
    assert locked == failed[0]
    # An unknown name locks the same way, so lockout does not reveal which names exist.
    ghost = [secured.get(GET_EXP, headers=basic("ghost-user", f"nope-{i}-xxxxxxx")).content for i in range(4)]
    assert set(ghost) == {failed[0][1]}
    time.sleep(2.2)
    assert attempt(ALICE[1])[0] == 200


def test_bearer_token_scopes(secured: TestClient) -> None:
    read = make_token(secured, ALICE, ["read"])["secret"]
    write = make_token(secured, ALICE, ["write"])["secret"]
    assert secured.get(GET_EXP, params={"experiment_id": "0"}, headers=bearer(read)).status_code == 200
    denied = secured.post(CREATE_EXP, json={"name": "by-read"}, headers=bearer(read))
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    # Searches are POSTs that only read.
    found = secured.post("/api/2.0/mlflow/experiments/search", json={}, headers=bearer(read))
    assert found.status_code == 200
    assert secured.post(CREATE_EXP, json={"name": "by-write"}, headers=bearer(write)).status_code == 200
    # A user who is not an admin cannot mint an admin token, nor reach admin endpoints.
    refused = secured.post(
        "/api/2.0/ledgerflow/tokens/create", json={"name": "x", "scopes": ["admin"]}, headers=basic(*ALICE)
    )
    assert refused.status_code == 403
    assert secured.get("/api/2.0/ledgerflow/users/list", headers=bearer(write)).status_code == 403
    # An admin's read-only token is not an admin credential.
    admin_read = make_token(secured, ADMIN, ["read"])["secret"]
    assert secured.get("/api/2.0/ledgerflow/users/list", headers=bearer(admin_read)).status_code == 403
    admin_full = make_token(secured, ADMIN, ["admin"])["secret"]
    assert secured.get("/api/2.0/ledgerflow/users/list", headers=bearer(admin_full)).status_code == 200


def test_token_expiry_and_revocation(secured: TestClient) -> None:
    short = make_token(secured, ALICE, ["read"], expires_in_days=1.5 / 86400)["secret"]
    assert secured.get(GET_EXP, params={"experiment_id": "0"}, headers=bearer(short)).status_code == 200
    time.sleep(1.7)
    assert secured.get(GET_EXP, params={"experiment_id": "0"}, headers=bearer(short)).status_code == 401
    made = make_token(secured, ALICE, ["read"])
    assert (
        secured.get(GET_EXP, params={"experiment_id": "0"}, headers=bearer(made["secret"])).status_code == 200
    )
    listed = secured.get("/api/2.0/ledgerflow/tokens/list", headers=basic(*ALICE)).json()["tokens"]
    assert made["token"]["token_id"] in {t["token_id"] for t in listed}
    assert all("secret" not in t and made["secret"] not in str(t) for t in listed)
    revoked = secured.post(
        "/api/2.0/ledgerflow/tokens/revoke",
        json={"token_id": made["token"]["token_id"]},
        headers=basic(*ALICE),
    )
    assert revoked.status_code == 200
    assert (
        secured.get(GET_EXP, params={"experiment_id": "0"}, headers=bearer(made["secret"])).status_code == 401
    )
    # Someone else's token id is "does not exist" for a non-admin.
    other = make_token(secured, ADMIN, ["read"])["token"]["token_id"]
    answer = secured.post(
        "/api/2.0/ledgerflow/tokens/revoke", json={"token_id": other}, headers=basic(*ALICE)
    )
    assert answer.status_code == 404


def test_password_policy_and_user_admin(secured: TestClient) -> None:
    for bad in ("short", "password1234", "aaaaaaaaaaaaaaaa", "xx-carol-xx-long-enough"):
        answer = secured.post(
            "/api/2.0/ledgerflow/users/create",
            json={"username": "carol", "password": bad},
            headers=basic(*ADMIN),
        )
        assert answer.status_code == 400, bad
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    ok = secured.post(
        "/api/2.0/ledgerflow/users/create",
        json={"username": "carol", "password": "Has-a-long-one-7-xyz"},
        headers=basic(*ADMIN),
    )
    assert ok.status_code == 200
    by_user = secured.post(
        "/api/2.0/ledgerflow/users/create",
        json={"username": "dave", "password": "Dave-long-passw0rd"},
        headers=basic(*ALICE),
    )
    assert by_user.status_code == 403
    names = [
        u["username"]
        for u in secured.get("/api/2.0/ledgerflow/users/list", headers=basic(*ADMIN)).json()["users"]
    ]
    assert names == sorted([ADMIN[0], ALICE[0], "carol"])
    carol = basic("carol", "Has-a-long-one-7-xyz")
    assert secured.get(GET_EXP, params={"experiment_id": "0"}, headers=carol).status_code == 200
    disabled = secured.post(
        "/api/2.0/ledgerflow/users/disable", json={"username": "carol"}, headers=basic(*ADMIN)
    )
    assert disabled.status_code == 200
    time.sleep(auth_of(secured).cache.recheck_seconds + 0.2)
    assert secured.get(GET_EXP, params={"experiment_id": "0"}, headers=carol).status_code == 401


def test_service_account_tokens(secured: TestClient) -> None:
    made = secured.post(
        "/api/2.0/ledgerflow/users/create",
        json={"username": "ci-bot", "kind": "service"},
        headers=basic(*ADMIN),
    )
    assert made.status_code == 200
    token = make_token(secured, ADMIN, ["write"], username="ci-bot")
    assert token["token"]["kind"] == "service" and token["token"]["username"] == "ci-bot"
    assert (
        secured.post(CREATE_EXP, json={"name": "from-ci"}, headers=bearer(token["secret"])).status_code == 200
    )
    who = secured.get("/api/2.0/ledgerflow/users/current", headers=bearer(token["secret"])).json()["user"]
    assert who["kind"] == "service" and who["scopes"] == ["read", "write"]


def test_no_admin_gives_clear_message(
    make_client: Callable[[ServerConfig], TestClient], auth_config: ServerConfig
) -> None:
    client = make_client(auth_config)
    answer = client.get(GET_EXP, params={"experiment_id": "0"})
    assert answer.status_code == 401
    assert "ledgerflow users create-admin" in answer.json()["message"]
    assert "LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD" in answer.json()["message"]
    assert client.get("/health").text == "OK"


def test_bootstrap_admin_from_environment(
    make_client: Callable[[ServerConfig], TestClient], auth_config: ServerConfig, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD", "Boot-strap-Secret-42")
    monkeypatch.setenv("LEDGERFLOW_BOOTSTRAP_ADMIN_USERNAME", "boss")
    client = make_client(auth_config)
    assert auth_of(client).bootstrap() == "boss"
    assert auth_of(client).bootstrap() is None  # only while no admin exists
    answer = client.get(GET_EXP, params={"experiment_id": "0"}, headers=basic("boss", "Boot-strap-Secret-42"))
    assert answer.status_code == 200


def test_secrets_are_stored_only_as_hashes(secured: TestClient) -> None:
    token = make_token(secured, ALICE, ["read"])["secret"]
    engine = sa.create_engine(auth_of(secured).db.uri)
    with engine.connect() as conn:
        dump = " ".join(
            str(row)
            for table in ("users", "api_tokens", "ui_sessions")
            for row in conn.execute(sa.text(f"SELECT * FROM {table}"))
        )
    engine.dispose()
    assert token not in dump and token.split("_")[-1] not in dump
    assert ALICE[1] not in dump
    assert "$argon2id$" in dump


def test_no_auth_app_serves_everyone(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig
) -> None:
    client = make_client(replace(server_config, auth_required=False))
    assert client.get(GET_EXP, params={"experiment_id": "0"}).status_code == 200


def test_a_run_belongs_to_its_authenticated_creator(secured: TestClient) -> None:
    """A client-sent user_id cannot file a run under a colleague's name when auth is on."""
    created = secured.post(
        "/api/2.0/mlflow/runs/create",
        json={"experiment_id": "0", "user_id": "root-admin", "tags": [{"key": "mlflow.user", "value": "x"}]},
        headers=basic(*ADMIN),
    )
    assert created.status_code == 200, created.text
    secured.app.state.services.authz.grant(  # type: ignore[attr-defined]
        "experiment", "0", "user", ALICE[0], "editor", actor=None
    )
    spoofed = secured.post(
        "/api/2.0/mlflow/runs/create",
        json={"experiment_id": "0", "user_id": "root-admin"},
        headers=basic(*ALICE),
    )
    assert spoofed.status_code == 200, spoofed.text
    run_id = spoofed.json()["run"]["info"]["run_id"]
    stored = secured.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}, headers=basic(*ALICE))
    assert stored.json()["run"]["info"]["user_id"] == "alice"
    assert created.json()["run"]["info"]["user_id"] == "root-admin"
