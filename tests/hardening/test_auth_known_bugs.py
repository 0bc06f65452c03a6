"""Known bugs of the auth layer, fixed: the permission guard read a whole request body before
the size limit applied (memory DoS), /favicon.ico needed credentials, and secrets must never
reach the server log or the audit trail."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app
from ledgerflow.store import schema
from tests.auth.conftest import ADMIN, basic, bearer
from tests.conftest import LiveServer

LIMIT = 4096
CHUNK = 1024


def _auth_app(server_config: ServerConfig) -> Any:
    app = create_app(replace(server_config, auth_required=True, max_request_bytes=LIMIT))
    app.state.services.auth.create_user(*ADMIN, is_admin=False)
    return app


def _call(app: Any, body_chunks: int, declared: int | None) -> tuple[int, dict[str, Any], int]:
    """Drive the ASGI app with a streamed log-batch body; returns (status, json, bytes consumed)."""
    sent: list[dict[str, Any]] = []
    consumed = 0
    chunk = b" " * CHUNK

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        if consumed // CHUNK >= body_chunks:
            return {"type": "http.disconnect"}
        consumed += CHUNK
        return {"type": "http.request", "body": chunk, "more_body": consumed // CHUNK < body_chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/json"),
        (b"authorization", basic(*ADMIN)["Authorization"].encode()),
    ]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/2.0/mlflow/runs/log-batch",
        "raw_path": b"/api/2.0/mlflow/runs/log-batch",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "root_path": "",
    }

    async def run() -> None:
        # The lifespan is not needed for one request; the services are built already.
        await app(scope, receive, send)

    # In a thread of its own: another suite (Playwright's sync API) may leave an event loop
    # running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    import json

    return start["status"], json.loads(body), consumed


def test_streamed_oversized_body_is_refused_before_it_is_read(server_config: ServerConfig) -> None:
    app = _auth_app(server_config)
    # 100 MiB would be streamed without a declared length; the guard stops after the limit.
    status, body, consumed = _call(app, body_chunks=100 * 1024, declared=None)
    assert status == 413
    assert body["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert consumed <= LIMIT + CHUNK


def test_declared_oversized_body_is_refused_without_reading(server_config: ServerConfig) -> None:
    app = _auth_app(server_config)
    status, body, consumed = _call(app, body_chunks=100 * 1024, declared=100 * 1024 * CHUNK)
    assert status == 413
    assert body["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert consumed == 0


def test_body_within_the_limit_still_reaches_the_route(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig
) -> None:
    client = make_client(replace(server_config, auth_required=True, max_request_bytes=LIMIT))
    client.app.state.services.auth.create_user(*ADMIN, is_admin=True)  # type: ignore[attr-defined]
    client.headers.update(basic(*ADMIN))
    run = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    small = client.post(
        "/api/2.0/mlflow/runs/log-batch", json={"run_id": run, "params": [{"key": "a", "value": "1"}]}
    )
    assert small.status_code == 200, small.text
    big = client.post(
        "/api/2.0/mlflow/runs/log-batch",
        json={"run_id": run, "params": [{"key": f"k{i}", "value": "v" * 100} for i in range(60)]},
    )
    assert big.status_code == 413
    assert big.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    params = client.get("/api/2.0/mlflow/runs/get", params={"run_id": run}).json()["run"]["data"]["params"]
    assert params == [{"key": "a", "value": "1"}]


def test_favicon_needs_no_credentials(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig
) -> None:
    client = make_client(replace(server_config, auth_required=True))
    client.app.state.services.auth.create_user(*ADMIN, is_admin=True)  # type: ignore[attr-defined]
    icon = client.get("/favicon.ico", follow_redirects=False)
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    # Pages still need a login.
    assert client.get("/", follow_redirects=False).status_code == 303


def test_secrets_never_reach_logs_or_audit(
    make_live_server: Callable[[ServerConfig], LiveServer],
    server_config: ServerConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    live = make_live_server(replace(server_config, auth_required=True, lockout_threshold=50))
    services = live.app.state.services
    services.auth.create_user(*ADMIN, is_admin=True)
    new_password = "Fresh-Secret-Passw0rd-77"
    wrong_password = "Wrong-Guess-Passw0rd-31"
    secrets: list[str] = [ADMIN[1], new_password, wrong_password]
    caplog.set_level(logging.DEBUG)
    with httpx.Client(base_url=live.url) as http:
        # Basic with a wrong password, and with the right one.
        assert (
            http.get(
                "/api/2.0/mlflow/experiments/search", headers=basic(ADMIN[0], wrong_password)
            ).status_code
            == 401
        )
        assert (
            http.get(
                "/api/2.0/mlflow/experiments/search", headers=basic("nobody", wrong_password)
            ).status_code
            == 401
        )
        assert http.get("/api/2.0/mlflow/experiments/search", headers=basic(*ADMIN)).status_code == 200
        # A user created with a password over the API (MLflow's route and ours).
        made = http.post(
            "/api/2.0/ledgerflow/users/create",
            json={"username": "carol", "password": new_password},
            headers=basic(*ADMIN),
        )
        assert made.status_code == 200, made.text
        # MLflow's admin API: a self-service password change carries two secrets.
        changed = "Changed-Secret-Passw0rd-55"
        secrets.append(changed)
        assert (
            http.patch(
                "/api/2.0/mlflow/users/update-password",
                json={"username": "carol", "password": changed, "current_password": new_password},
                headers=basic("carol", new_password),
            ).status_code
            == 200
        )
        # Token creation and use, and a garbage token.
        token = http.post(
            "/api/2.0/ledgerflow/tokens/create",
            json={"name": "ci", "scopes": ["read"]},
            headers=basic(*ADMIN),
        ).json()["secret"]
        secrets.append(token)
        assert http.get("/api/2.0/mlflow/experiments/search", headers=bearer(token)).status_code == 200
        assert http.get("/api/2.0/mlflow/experiments/search", headers=bearer(token + "x")).status_code == 401
        # The login form, right and wrong.
        page = http.get("/login")
        csrf = page.cookies.get("lf_login_csrf")
        for password in (wrong_password, ADMIN[1]):
            http.post(
                "/login",
                data={"username": ADMIN[0], "password": password, "csrf_token": csrf or "", "next": "/"},
                cookies={"lf_login_csrf": csrf or ""},
                follow_redirects=False,
            )
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    with services.db.read() as conn:
        audit_rows = [str(tuple(row)) for row in conn.execute(sa.select(schema.audit_log))]
    assert len(audit_rows) >= 5
    audit_text = "\n".join(audit_rows)
    encoded = [base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()]
    for secret in secrets + encoded:
        assert secret not in logged
        assert secret not in audit_text
