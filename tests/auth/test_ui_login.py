"""The web UI's login: form with a CSRF token, session cookie flags, CSRF on changes, logout."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.auth.conftest import ALICE


def login_form(client: TestClient) -> str:
    page = client.get("/login?next=/models")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_login_sets_session_and_logout_needs_csrf(secured: TestClient) -> None:
    assert secured.get("/", follow_redirects=False).headers["location"] == "/login?next=%2F"
    token = login_form(secured)
    done = secured.post(
        "/login",
        data={"csrf_token": token, "username": ALICE[0], "password": ALICE[1], "next": "/models"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/models"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("lf_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert secured.get("/", follow_redirects=False).status_code == 200
    # A cookie-authenticated change without the session's CSRF token is refused.
    refused = secured.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    api = secured.post("/ajax-api/2.0/mlflow/experiments/create", json={"name": "from-page"})
    assert api.status_code == 403
    cross = secured.post("/logout", data={"csrf_token": "x"}, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    assert secured.get("/", follow_redirects=False).status_code == 200


def test_login_form_without_its_csrf_token_is_refused(secured: TestClient) -> None:
    login_form(secured)
    answer = secured.post("/login", data={"csrf_token": "forged", "username": ALICE[0], "password": ALICE[1]})
    assert answer.status_code == 403
    assert "lf_session" not in secured.cookies


def test_wrong_login_and_open_redirect(secured: TestClient) -> None:
    token = login_form(secured)
    bad = secured.post(
        "/login", data={"csrf_token": token, "username": ALICE[0], "password": "nope-nope-nope"}
    )
    assert bad.status_code == 401
    token = login_form(secured)
    done = secured.post(
        "/login",
        data={"csrf_token": token, "username": ALICE[0], "password": ALICE[1], "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/"


def test_logout_with_token_ends_session(secured: TestClient) -> None:
    token = login_form(secured)
    secured.post("/login", data={"csrf_token": token, "username": ALICE[0], "password": ALICE[1]})
    services = secured.app.state.services  # type: ignore[attr-defined]
    secret = secured.cookies["lf_session"]
    _, csrf_token = services.auth.authenticate_session(secret)
    out = secured.post("/logout", data={"csrf_token": csrf_token}, follow_redirects=False)
    assert out.status_code == 303
    # Replaying the old cookie does not work: the session is revoked server-side.
    replay = secured.get("/", headers={"cookie": f"lf_session={secret}"}, follow_redirects=False)
    assert replay.status_code == 303
    secured.cookies.clear()
    # With the header, scripts can change state too.
    token = login_form(secured)
    secured.post("/login", data={"csrf_token": token, "username": ALICE[0], "password": ALICE[1]})
    _, csrf_token = services.auth.authenticate_session(secured.cookies["lf_session"])
    made = secured.post(
        "/ajax-api/2.0/mlflow/experiments/create",
        json={"name": "scripted"},
        headers={"x-csrf-token": csrf_token},
    )
    assert made.status_code == 200
