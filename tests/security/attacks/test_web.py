"""Browser-side attacks: stored XSS through names, tags, descriptions and params rendered by the
UI; uploaded HTML/SVG served as attachments under a sandbox CSP; CSRF on UI forms and cookie
sessions; DNS rebinding (a foreign Host) and cross-site Origins on state-changing requests."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from tests.authz.support import ADMIN, PASSWORD, basic
from tests.security.attacks.conftest import Target, refused, start_target

PAYLOADS = {
    "script-tag": "<script>alert('lf-xss')</script>",
    "attribute-break": '"><img src=x onerror=alert(1)>',
    "single-quote-break": "'><svg onload=alert(1)>",
    "javascript-url": "javascript:alert(document.cookie)//<b>",
}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    made, live = start_target(
        tmp_path_factory.mktemp("web"), allowed_hosts=("127.0.0.1", "localhost"), cors_allowed_origins=()
    )
    try:
        yield made
    finally:
        live.stop()


def _browser(t: Target) -> TestClient:
    return TestClient(t.live.app, base_url=t.live.url, raise_server_exceptions=False)


def _ok(response: object) -> None:
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]


def _plant(t: Target, payload: str) -> dict[str, str]:
    """The payload in every user string the UI shows; returns the pages that show them."""
    w, c, admin = t.world, t.world.client, basic(ADMIN)
    _ok(
        c.post(
            "/api/2.0/mlflow/runs/log-parameter",
            json={"run_id": w.run_id, "key": f"p{len(payload)}", "value": payload},
            headers=admin,
        )
    )
    _ok(
        c.post(
            "/api/2.0/mlflow/runs/set-tag",
            json={"run_id": w.run_id, "key": "note", "value": payload},
            headers=admin,
        )
    )
    _ok(c.post("/api/2.0/mlflow/runs/update", json={"run_id": w.run_id, "run_name": payload}, headers=admin))
    _ok(
        c.post(
            "/api/2.0/mlflow/experiments/set-experiment-tag",
            json={"experiment_id": w.experiment_id, "key": "mlflow.note.content", "value": payload},
            headers=admin,
        )
    )
    _ok(
        c.patch(
            "/api/2.0/mlflow/registered-models/update",
            json={"name": w.model_name, "description": payload},
            headers=admin,
        )
    )
    _ok(
        c.post(
            "/api/2.0/mlflow/model-versions/set-tag",
            json={"name": w.model_name, "version": "1", "key": "k", "value": payload},
            headers=admin,
        )
    )
    _ok(
        c.patch(
            "/api/2.0/mlflow/model-versions/update",
            json={"name": w.model_name, "version": "1", "description": payload},
            headers=admin,
        )
    )
    return {
        "run-page": f"/runs/{w.run_id}",
        "experiment-page": f"/experiments/{w.experiment_id}",
        "model-page": f"/models/{w.model_name}",
        "version-page": f"/models/{w.model_name}/versions/1",
        "models-list": "/models",
    }


XSS_CASES = [
    pytest.param(payload, page, id=f"{page}-{payload}")
    for payload in PAYLOADS
    for page in ("run-page", "experiment-page", "model-page", "version-page")
]


@pytest.mark.parametrize(("payload", "page"), XSS_CASES)
def test_stored_xss_is_escaped_in_the_ui(target: Target, payload: str, page: str) -> None:
    text = PAYLOADS[payload]
    path = _plant(target, text)[page]
    with target.unchanged():
        answer = target.world.client.get(path, headers=basic(ADMIN))
    assert answer.status_code == 200, answer.text
    assert text not in answer.text
    # Shown, escaped: the page does render the planted field.
    assert str(escape(text)) in answer.text
    assert "<script>alert" not in answer.text and "<svg onload" not in answer.text
    assert "<img src=x" not in answer.text
    assert "default-src" in answer.headers["content-security-policy"]
    assert "frame-ancestors" in answer.headers["content-security-policy"]


ACTIVE_FILES = {
    "html": ("evil.html", b"<html><script>fetch('/api/2.0/mlflow/users/list')</script></html>"),
    "svg": ("evil.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    "xhtml": ("evil.xhtml", b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>'),
    "js": ("evil.js", b"alert(document.cookie)"),
    "html-named-txt": ("looks-like.txt", b"<html><script>alert(1)</script></html>"),
}


@pytest.mark.parametrize("kind", list(ACTIVE_FILES))
@pytest.mark.parametrize("route", ["proxy", "get-artifact", "ui-download"])
def test_uploaded_active_content_is_an_attachment_in_a_sandbox(target: Target, kind: str, route: str) -> None:
    name, content = ACTIVE_FILES[kind]
    w, c = target.world, target.world.client
    key = f"{w.experiment_id}/{w.run_id}/artifacts/{route}/{name}"
    _ok(c.put(f"/api/2.0/mlflow-artifacts/artifacts/{key}", content=content, headers=basic(ADMIN)))
    url = {
        "proxy": f"/api/2.0/mlflow-artifacts/artifacts/{key}",
        "get-artifact": f"/get-artifact?run_uuid={w.run_id}&path={route}/{name}",
        "ui-download": f"/ajax-api/2.0/mlflow/get-artifact?run_uuid={w.run_id}&path={route}/{name}",
    }[route]
    with target.unchanged():
        answer = c.get(url, headers=basic(ADMIN))
    assert answer.status_code == 200 and answer.content == content
    assert answer.headers["x-content-type-options"] == "nosniff"
    csp = answer.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    media = answer.headers["content-type"]
    if kind != "html-named-txt":
        assert answer.headers["content-disposition"].startswith("attachment")
    else:
        # Not active by name; nosniff keeps the browser from deciding it is HTML.
        assert "html" not in media


def _login(browser: TestClient) -> str:
    page = browser.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    done = browser.post(
        "/login",
        data={"csrf_token": match.group(1), "username": ADMIN, "password": PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return str(browser.cookies["lf_session"])


CSRF_CASES = {
    "no-token": {},
    "wrong-token": {"x-csrf-token": "forged-token"},
    "cross-site-origin": {"origin": "https://evil.example"},
    "cross-site-origin-with-null": {"origin": "null"},
    "cross-site-referer": {"referer": "https://evil.example/page"},
}


@pytest.mark.parametrize("case", list(CSRF_CASES))
def test_cookie_session_change_without_csrf_is_refused(target: Target, case: str) -> None:
    browser = _browser(target)
    _login(browser)
    headers = dict(CSRF_CASES[case])
    with target.unchanged():
        answer = browser.post(
            "/ajax-api/2.0/mlflow/experiments/create", json={"name": f"csrf-{case}"}, headers=headers
        )
        refused(answer, 403, "PERMISSION_DENIED")
        answer = browser.post(
            "/api/2.0/mlflow/runs/set-tag",
            json={"run_id": target.world.run_id, "key": "csrf", "value": case},
            headers=headers,
        )
        refused(answer, 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("case", ["no-token", "wrong-token", "cross-site-origin"])
def test_ui_forms_without_their_token_are_refused(target: Target, case: str) -> None:
    browser = _browser(target)
    session = _login(browser)
    form = {"csrf_token": "forged"} if case == "wrong-token" else {}
    headers = {"origin": "https://evil.example"} if case == "cross-site-origin" else {}
    if case == "cross-site-origin":
        form = {"csrf_token": target.services.auth.authenticate_session(session)[1]}
    with target.unchanged():
        answer = browser.post("/logout", data=form, headers=headers, follow_redirects=False)
        assert answer.status_code == 403
        # The session survives: logout did not happen.
        assert browser.get("/", follow_redirects=False).status_code == 200
        approve = browser.post(
            f"/models/{target.world.model_name}/versions/1/promotion-requests/1/approve",
            data=form,
            headers=headers,
            follow_redirects=False,
        )
        assert approve.status_code == 403


def test_login_form_with_a_forged_token_makes_no_session(target: Target) -> None:
    browser = _browser(target)
    browser.get("/login")
    with target.unchanged():
        answer = browser.post(
            "/login", data={"csrf_token": "forged", "username": ADMIN, "password": PASSWORD}
        )
    assert answer.status_code == 403 and "lf_session" not in browser.cookies


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_simple_post_with_a_non_json_body_is_refused(target: Target, content_type: str | None) -> None:
    """CVE-2023-43472: a JSON body sent as a 'simple' request (no preflight) must not be parsed,
    from a foreign page (Origin check) or from anywhere (strict Content-Type)."""
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"name": "simple-post"}'
    path = "/api/2.0/mlflow/experiments/create"
    with target.unchanged():
        foreign = target.request(
            "POST", path, body=body, headers={**headers, "Origin": "https://evil.example"}
        )
        refused(foreign, 403, "PERMISSION_DENIED")
        local = target.request("POST", path, body=body, headers=headers)
        assert "Content-Type" in refused(local, 400, "INVALID_PARAMETER_VALUE")["message"]


REBIND_HOSTS = [
    "rebind.attacker.example",
    "127.0.0.1.nip.io",
    "localhost.attacker.example:5000",
    "attacker.example.",
]


@pytest.mark.parametrize("host", REBIND_HOSTS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_dns_rebinding_host_is_refused(target: Target, host: str, method: str) -> None:
    body = {"name": "rebound"} if method == "POST" else None
    path = (
        "/api/2.0/mlflow/experiments/create"
        if method == "POST"
        else "/api/2.0/mlflow/experiments/search?max_results=5"
    )
    with target.unchanged():
        answer = target.request(method, path, body=body, headers={"Host": host})
        refused(answer, 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1.evil.example", "null"])
def test_cross_origin_state_change_with_credentials_is_refused(target: Target, origin: str) -> None:
    with target.unchanged():
        answer = target.request(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            body={"name": "cross-origin"},
            headers={"Origin": origin},
        )
        refused(answer, 403, "PERMISSION_DENIED")
        preflight = target.request(
            "OPTIONS",
            "/api/2.0/mlflow/experiments/create",
            who=None,
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("page", ["home-page", "experiment-page", "audit-page"])
def test_stored_xss_in_an_experiment_name_is_escaped(target: Target, payload: str, page: str) -> None:
    """An experiment name is shown on the home page, its own page, and, to admins, in the audit
    trail: the page an attacker most wants to run script in."""
    text = PAYLOADS[payload]
    c, admin = target.world.client, basic(ADMIN)
    name = f"{page}-{payload}-{text}"
    made = c.post("/api/2.0/mlflow/experiments/create", json={"name": name}, headers=admin)
    assert made.status_code == 200, made.text
    path = {
        "home-page": "/",
        "experiment-page": f"/experiments/{made.json()['experiment_id']}",
        "audit-page": "/audit",
    }[page]
    with target.unchanged():
        answer = c.get(path, headers=admin)
    assert answer.status_code == 200, answer.text
    assert text not in answer.text
    assert (
        "<script>alert" not in answer.text
        and "<svg onload" not in answer.text
        and "<img src=x" not in answer.text
    )
    if page != "audit-page":
        assert str(escape(name)) in answer.text


PREVIEWED = {
    "html": ("page.html", b"<html><body><script>alert('lf-xss')</script></body></html>"),
    "svg": ("pic.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    "csv-cells": ("table.csv", b'a,b\n<script>alert(1)</script>,"<img src=x onerror=alert(1)>"\n'),
    "json-values": ("data.json", b'{"k": "<script>alert(1)</script>"}'),
    "notebook": (
        "nb.ipynb",
        b'{"cells": [{"outputs": [{"data": {"text/html": "<script>alert(1)</script>"}}]}]}',
    ),
    "svg-named-png": ("fake.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
}


@pytest.mark.parametrize("kind", list(PREVIEWED))
def test_artifact_preview_never_renders_uploaded_markup(target: Target, kind: str) -> None:
    name, content = PREVIEWED[kind]
    w, c, admin = target.world, target.world.client, basic(ADMIN)
    key = f"preview/{name}"
    _ok(
        c.put(
            f"/api/2.0/mlflow-artifacts/artifacts/{w.experiment_id}/{w.run_id}/artifacts/{key}",
            content=content,
            headers=admin,
        )
    )
    with target.unchanged():
        page = c.get(f"/runs/{w.run_id}", params={"artifact": key}, headers=admin)
        served = c.get(f"/runs/{w.run_id}/artifact", params={"path": key, "inline": "1"}, headers=admin)
    assert page.status_code == 200, page.text
    assert (
        "<script>alert" not in page.text
        and "<img src=x" not in page.text
        and 'onload="alert' not in page.text
    )
    assert served.status_code == 200 and served.content == content
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["x-content-type-options"] == "nosniff"
    if kind == "svg-named-png":
        assert served.headers["content-type"] == "image/png"
    else:
        assert served.headers["content-type"] == "application/octet-stream"
        assert served.headers["content-disposition"].startswith("attachment")
