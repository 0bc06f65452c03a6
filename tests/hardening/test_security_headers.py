"""Security headers on every response (API, errors, pages, refusals), HSTS on TLS, and
user-uploaded active content (HTML, SVG, XHTML, scripts) served so it can never run in the
server's origin: the stored-XSS class of security-classes.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.auth.conftest import ADMIN, basic
from tests.conftest import Api, LiveServer

SCRIPT = b"<html><body><script>fetch('/api/2.0/ledgerflow/tokens/create')</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


def _assert_base(headers: httpx.Headers) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy or "sandbox" in policy


@pytest.fixture
def secured(make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig) -> TestClient:
    client = make_client(replace(server_config, auth_required=True))
    client.app.state.services.auth.create_user(*ADMIN, is_admin=True)  # type: ignore[attr-defined]
    client.headers.update(basic(*ADMIN))
    return client


def test_authenticated_api_answers_carry_headers_and_no_store(secured: TestClient) -> None:
    for response in (
        secured.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}),
        secured.post("/api/2.0/mlflow/experiments/create", json={"name": "h"}),
        secured.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "999"}),  # error JSON
        secured.get("/api/2.0/mlflow/no-such-endpoint"),
    ):
        _assert_base(response.headers)
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in response.headers


def test_refusals_carry_headers_too(secured: TestClient) -> None:
    anonymous = secured.get(
        "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401
    _assert_base(anonymous.headers)
    assert anonymous.headers["cache-control"] == "no-store"
    wrong = secured.get("/api/2.0/mlflow/experiments/get", headers=basic(ADMIN[0], "not-the-password-1"))
    assert wrong.status_code == 401
    _assert_base(wrong.headers)


def test_html_pages_get_the_page_policy(secured: TestClient) -> None:
    for path in ("/", "/login", "/models", "/experiments/0"):
        response = secured.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 200, (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        _assert_base(response.headers)
        assert response.headers["cache-control"] == "no-store"


def test_static_assets_stay_cacheable(secured: TestClient) -> None:
    icon = secured.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["cache-control"] != "no-store"
    _assert_base(icon.headers)


def test_hsts_only_on_tls(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig
) -> None:
    app = make_client(server_config).app
    tls = TestClient(app, base_url="https://testserver")
    response = tls.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "strict-transport-security" not in TestClient(app).get("/health").headers


def test_hsts_behind_a_trusted_tls_proxy(
    make_live_server: Callable[[ServerConfig], LiveServer],
    make_client: Callable[[ServerConfig], TestClient],
    server_config: ServerConfig,
    tmp_path: Path,
) -> None:
    other = replace(server_config, backend_store_uri=f"sqlite:///{tmp_path / 'other.db'}")
    trusting = make_live_server(replace(other, trusted_proxies=("127.0.0.1",)))
    forwarded = {"X-Forwarded-Proto": "https"}
    assert "strict-transport-security" in httpx.get(trusting.url + "/health", headers=forwarded).headers
    assert "strict-transport-security" not in httpx.get(trusting.url + "/health").headers
    # Anyone can send the header: without a trusted proxy it is not believed.
    untrusting = TestClient(make_client(server_config).app)
    assert "strict-transport-security" not in untrusting.get("/health", headers=forwarded).headers


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("report.html", SCRIPT),
        ("chart.svg", SVG),
        ("page.xhtml", SCRIPT),
        ("code.js", b"alert(1)"),
        ("x.htm", SCRIPT),
    ],
)
def test_uploaded_active_content_is_served_as_an_inert_attachment(api: Api, name: str, body: bytes) -> None:
    client = api.client
    experiment = api.ok("post", "experiments/create", {"name": "xss"})["experiment_id"]
    run = api.ok("post", "runs/create", {"experiment_id": experiment})["run"]["info"]
    run_id = run["run_id"]
    assert run["artifact_uri"].startswith("mlflow-artifacts:")
    proxy_path = f"{experiment}/{run_id}/artifacts/{name}"
    assert client.put(f"/api/2.0/mlflow-artifacts/artifacts/{proxy_path}", content=body).status_code == 200
    downloads = [
        client.get(f"/api/2.0/mlflow-artifacts/artifacts/{proxy_path}"),
        client.get(f"/ajax-api/2.0/mlflow-artifacts/artifacts/{proxy_path}"),
        client.get("/get-artifact", params={"run_uuid": run_id, "path": name}),
        client.get("/ajax-api/2.0/mlflow/get-artifact", params={"run_id": run_id, "path": name}),
        client.get(f"/runs/{run_id}/artifact", params={"path": name}),
        client.get(f"/runs/{run_id}/artifact", params={"path": name, "inline": "1"}),
    ]
    for response in downloads:
        assert response.status_code == 200, response.text
        assert response.content == body
        assert response.headers["content-disposition"].startswith("attachment"), response.request.url
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in response.headers["content-security-policy"]
        assert "script-src" not in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
