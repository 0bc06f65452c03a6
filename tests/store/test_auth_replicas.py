"""Authentication state in the shared database, on every backend: two server replicas over one
database agree on revocation and lockout within the revocation bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import httpx
import sqlalchemy as sa

from ledgerflow.config import ServerConfig
from ledgerflow.store.database import normalize_db_uri
from tests.auth.conftest import ADMIN, ALICE, basic, bearer
from tests.conftest import LiveServer

GET_EXP = "/api/2.0/mlflow/experiments/get"


def test_revocation_on_one_replica_is_enforced_on_the_other(
    make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig
) -> None:
    config = replace(server_config, auth_required=True, revocation_check_seconds=1.0)
    first = make_live_server(config)
    second = make_live_server(config)
    first.app.state.services.auth.create_user(*ADMIN, is_admin=True)
    # A read-only token is not an admin credential, so it reads through a grant.
    first.app.state.services.authz.grant("experiment", "0", "all", "*", "viewer", actor=None)
    made = httpx.post(
        f"{first.url}/api/2.0/ledgerflow/tokens/create",
        json={"name": "ci", "scopes": ["read"]},
        headers=basic(*ADMIN),
    ).json()
    token = made["secret"]
    params = {"experiment_id": "0"}
    assert httpx.get(second.url + GET_EXP, params=params, headers=bearer(token)).status_code == 200
    revoked = httpx.post(
        f"{first.url}/api/2.0/ledgerflow/tokens/revoke",
        json={"token_id": made["token"]["token_id"]},
        headers=basic(*ADMIN),
    )
    assert revoked.status_code == 200
    assert httpx.get(first.url + GET_EXP, params=params, headers=bearer(token)).status_code == 401
    deadline = time.monotonic() + 1.0 + 0.5
    while httpx.get(second.url + GET_EXP, params=params, headers=bearer(token)).status_code == 200:
        assert time.monotonic() < deadline, "the other replica still accepts a revoked token"
        time.sleep(0.1)

    # Lockout counts live in the database: failures on one replica lock the name on both.
    first.app.state.services.auth.create_user(*ALICE)
    for i in range(config.lockout_threshold):
        target = (first, second)[i % 2]
        assert (
            httpx.get(target.url + GET_EXP, params=params, headers=basic(ALICE[0], f"bad-{i}")).status_code
            == 401
        )
    assert httpx.get(second.url + GET_EXP, params=params, headers=basic(*ALICE)).status_code == 401


def test_token_rows_hold_only_hashes(
    make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig
) -> None:
    live = make_live_server(replace(server_config, auth_required=True))
    live.app.state.services.auth.create_user(*ADMIN, is_admin=True)
    secret = httpx.post(
        f"{live.url}/api/2.0/ledgerflow/tokens/create",
        json={"name": "x", "scopes": "read"},
        headers=basic(*ADMIN),
    ).json()["secret"]
    engine = sa.create_engine(normalize_db_uri(server_config.backend_store_uri))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM api_tokens"))]
        users = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM users"))]
    engine.dispose()
    assert len(rows) == 1 and secret not in str(rows) and len(rows[0]["token_hash"]) == 64
    assert ADMIN[1] not in str(users) and users[0]["password_hash"].startswith("$argon2id$")
