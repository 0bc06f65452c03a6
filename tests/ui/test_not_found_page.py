"""Unknown paths: a browser gets the UI's own styled 404 page, API paths keep MLflow's JSON."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.browser
def test_unknown_ui_paths_get_the_styled_not_found_page(
    page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    for path in ("/experiments", "/runs/", "/no/such/page"):
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 404, path
        expect(page.locator("main .error-page h1")).to_have_text("Not found")
        expect(page.locator(".error-message")).to_have_text(f"There is no page at {path}.")
        # The site's chrome and stylesheet are there: the top bar is laid out dark, not unstyled.
        expect(page.locator("header.topbar a.brand")).to_have_text("Ledgerflow")
        background = page.locator("header.topbar").evaluate("h => getComputedStyle(h).backgroundColor")
        assert background == "rgb(17, 24, 39)", background
        expect(page.locator("a", has_text="Back to experiments")).to_have_attribute("href", "/")
    page.screenshot(path=str(tmp_path / "not-found.png"))


def test_not_found_page_carries_the_ui_security_headers(live_server: LiveServer) -> None:
    response = httpx.get(live_server.url + "/experiments", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    # The path is echoed escaped, never as markup.
    crafted = httpx.get(live_server.url + "/<b>x</b>", headers=HTML)
    assert crafted.status_code == 404 and "<b>x</b>" not in crafted.text and "&lt;b&gt;" in crafted.text


@pytest.mark.parametrize(
    "path", ["/api/2.0/mlflow/no-such-endpoint", "/ajax-api/2.0/mlflow/no-such-endpoint", "/api/"]
)
def test_api_paths_keep_mlflow_json_even_for_a_browser(live_server: LiveServer, path: str) -> None:
    response = httpx.get(live_server.url + path, headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_clients_that_do_not_ask_for_html_get_json(live_server: LiveServer) -> None:
    # curl sends Accept: */*; it gets MLflow's error JSON, as before.
    response = httpx.get(live_server.url + "/experiments", headers={"accept": "*/*"})
    assert response.status_code == 404
    assert response.json() == {"error_code": "ENDPOINT_NOT_FOUND", "message": "Not Found"}
