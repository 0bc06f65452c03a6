"""In a real browser, with the Host allow-list `ledgerflow server` sets: the UI logs in and
works, while a page of another origin (the same server under another name counts as one)
cannot change anything with the user's session."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from playwright.sync_api import Page

from ledgerflow.config import ServerConfig
from ledgerflow.security.web.hosts import default_allowed_hosts
from tests.conftest import LiveServer

USER = ("hanako", "Chromium-Browser-Passw0rd-3")


def test_ui_works_and_cross_origin_pages_cannot_act(
    page: Page, make_live_server: Callable[[ServerConfig], LiveServer], tmp_path: Path
) -> None:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'ui.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        auth_required=True,
    )
    live = make_live_server(replace(config, allowed_hosts=default_allowed_hosts("127.0.0.1")))
    services = live.app.state.services
    services.auth.create_user(*USER, is_admin=True)

    page.goto(f"{live.url}/login")
    page.fill("#username", USER[0])
    page.fill("#password", USER[1])
    page.click("#login-submit")
    page.wait_for_url(f"{live.url}/")
    assert page.locator("body").inner_text()
    headers = page.request.get(f"{live.url}/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"

    # localhost:<port> is another origin than 127.0.0.1:<port>; the session cookie is for the
    # latter. A script there posting to the API with credentials is refused and sees nothing.
    other = live.url.replace("127.0.0.1", "localhost")
    page.goto(f"{other}/login")
    outcome = page.evaluate(
        """async (target) => {
            try {
                const r = await fetch(target + "/ajax-api/2.0/mlflow/experiments/create", {
                    method: "POST", credentials: "include",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({name: "cross-origin"})});
                return "status " + r.status;
            } catch (e) { return "blocked"; }
        }""",
        live.url,
    )
    assert outcome == "blocked"
    found = page.request.post(
        f"{live.url}/ajax-api/2.0/mlflow/experiments/search",
        data={"max_results": 100},
        headers={"Authorization": "Basic " + base64.b64encode(":".join(USER).encode()).decode()},
    )
    assert found.status == 200
    names = [e["name"] for e in found.json().get("experiments", [])]
    assert "cross-origin" not in names
