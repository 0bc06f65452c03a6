"""With authentication on, every route refuses anonymous callers, except the declared few."""

from __future__ import annotations

import re

from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from ledgerflow.security.auth.middleware import EXEMPT_PATHS
from tests.auth.conftest import ADMIN, basic


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_route_needs_credentials(secured: TestClient) -> None:
    checked = 0
    for route in secured.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        path = concrete(route.path)
        for method in sorted(route.methods or {"GET"}):
            if method == "HEAD":
                continue
            response = secured.request(method, path, follow_redirects=False)
            if route.path in EXEMPT_PATHS:
                assert response.status_code not in (401, 303), (method, path)
                continue
            checked += 1
            api = path.startswith(("/api/", "/ajax-api/", "/get-artifact", "/model-versions/get-artifact"))
            api = api or path == "/metrics"  # read by scrapers, not browsers
            if api or method != "GET":
                assert response.status_code == 401, (method, path, response.status_code)
                assert response.json()["error_code"] == "UNAUTHENTICATED"
                assert response.headers["www-authenticate"] == 'Basic realm="ledgerflow"'
            else:
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/login?next=")
    assert checked > 100


def test_exemptions_leak_nothing(secured: TestClient) -> None:
    assert secured.get("/health").text == "OK"
    assert re.fullmatch(r"\d+\.\d+\.\d+", secured.get("/version").text)
    assert secured.get("/static/ui.css").status_code == 200
    assert secured.get("/login").status_code == 200


def test_credentials_open_the_api(secured: TestClient) -> None:
    response = secured.get(
        "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, headers=basic(*ADMIN)
    )
    assert response.status_code == 200
    assert response.json()["experiment"]["name"] == "Default"
    who = secured.get("/api/2.0/ledgerflow/users/current", headers=basic(*ADMIN)).json()["user"]
    assert who["username"] == ADMIN[0] and who["is_admin"] is True
    assert who["scopes"] == ["admin", "read", "write"]
