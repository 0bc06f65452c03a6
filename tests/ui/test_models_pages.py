"""The registry pages in headless Chromium: models list, a model's page and a version's page
(lineage, params and metrics, signature, files, alias history), with hostile names and text."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.ui.models_seed import MODEL_NAME, PICKLE, XSS, RegistrySeeder, Seeded
from tests.ui.test_run_page import collect_dialogs

pytestmark = pytest.mark.browser
# Set to a folder to keep full-page screenshots of every page the tests visit.
SHOTS = os.environ.get("LEDGERFLOW_UI_SHOTS", "")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def seeded(live_server: LiveServer) -> Iterator[Seeded]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield RegistrySeeder(http).seed()


def test_models_list_shows_models_and_navigates(page: Page, live_server: LiveServer, seeded: Seeded) -> None:
    dialogs = collect_dialogs(page)
    page.goto(live_server.url + "/")
    page.click("#nav-models")
    expect(page).to_have_url(live_server.url + "/models")
    row = page.locator("#models tbody tr").first
    expect(row.locator(".model-link")).to_have_text(MODEL_NAME)
    expect(row.locator("td.latest")).to_have_text("Version 2")
    expect(row.locator('.aliases [data-alias="champion"]')).to_have_text("@champion → v2")
    expect(row.locator("td.tags")).to_contain_text(f"note: {XSS}")
    shot(page, "models-list")
    row.locator(".model-link").click()
    expect(page.locator("#model-name")).to_have_text(MODEL_NAME)
    assert page.url == live_server.url + "/models/" + quote(MODEL_NAME, safe="")
    assert dialogs == []


def test_models_search_shows_bad_filter_inline(page: Page, live_server: LiveServer, seeded: Seeded) -> None:
    page.goto(live_server.url + "/models")
    page.fill("#model-search", "tags.team = 'growth'")
    page.press("#model-search", "Enter")
    expect(page.locator("#models tbody tr")).to_have_count(1)
    page.fill("#model-search", "tags.team = 'nobody'")
    page.press("#model-search", "Enter")
    expect(page.locator(".empty")).to_contain_text("No models match")
    page.fill("#model-search", "name = 'unclosed")
    page.press("#model-search", "Enter")
    expect(page.locator("#filter-error")).to_be_visible()
    expect(page.locator("#model-search")).to_have_value("name = 'unclosed")
    shot(page, "models-bad-filter")


def test_model_page_shows_versions_aliases_and_escaped_text(
    page: Page, live_server: LiveServer, seeded: Seeded
) -> None:
    dialogs = collect_dialogs(page)
    page.goto(live_server.url + "/models/" + quote(seeded.name, safe=""))
    expect(page.locator("#description pre")).to_have_text(f"Predicts churn. {XSS}")
    expect(page.locator("#description img")).to_have_count(0)
    expect(page.locator('#aliases tr[data-alias="champion"]')).to_contain_text("Version 2")
    expect(page.locator("#tags")).to_contain_text("growth")
    rows = page.locator("#versions-table tbody tr")
    expect(rows).to_have_count(2)
    v2 = page.locator('#versions-table tr[data-version="2"]')
    expect(v2).to_contain_text("Production")
    expect(v2.locator(".aliases")).to_have_text("@champion")
    expect(v2).to_contain_text(XSS)
    v1 = page.locator('#versions-table tr[data-version="1"]')
    expect(v1).to_contain_text("None")
    expect(v1.locator(".aliases")).to_have_text("")
    shot(page, "model-page")
    v1.locator(".run-link").click()
    expect(page.locator("#run-name")).to_have_text("baseline")
    page.go_back()
    v2.locator(".version-link").click()
    expect(page.locator("#version-title")).to_contain_text("Version 2")
    assert dialogs == []
    assert page.evaluate("document.querySelectorAll('img').length") == 0


def test_version_page_lineage_signature_files_and_alias_history(
    page: Page, live_server: LiveServer, seeded: Seeded
) -> None:
    dialogs = collect_dialogs(page)
    base = live_server.url + "/models/" + quote(seeded.name, safe="")
    page.goto(base + "/versions/2")
    expect(page.locator("#version-status")).to_have_text("READY")
    expect(page.locator(".page-head .stage-production")).to_have_text("Production")
    expect(page.locator("#tags")).to_contain_text(XSS)
    expect(page.locator("#description pre")).to_have_text(XSS)
    expect(page.locator("#source-uri")).to_have_text(f"runs:/{seeded.other_run_id}/model")
    expect(page.locator("#storage-location")).to_contain_text(f"{seeded.other_run_id}/artifacts/model")
    expect(page.locator("#lineage")).to_contain_text("python_function")
    expect(page.locator('#params tr[data-key="max_depth"]')).to_contain_text("4")
    expect(page.locator('#metrics tr[data-key="rmse"] td.latest')).to_have_text("0.33")
    expect(page.locator('#datasets tr[data-dataset="churn-train"]')).to_contain_text("training")
    inputs = page.locator("#signature-inputs")
    expect(inputs.locator('tr[data-name="tenure"]')).to_contain_text("double")
    expect(inputs.locator('tr[data-name="plan type"]')).to_contain_text("optional")
    expect(page.locator("#signature-outputs")).to_contain_text("tensor float32")
    expect(page.locator('#signature-params tr[data-name="threshold"]')).to_contain_text("0.5")

    champion = page.locator('#alias-history tr[data-alias="champion"]')
    expect(champion.locator("td.now")).to_contain_text("Version 2")
    expect(champion.locator("td.before li")).to_have_count(1)
    expect(champion.locator("td.before li")).to_contain_text("Version 1")
    challenger = page.locator('#alias-history tr[data-alias="challenger"]')
    expect(challenger.locator("td.now")).to_have_text("removed")
    expect(challenger.locator("td.before")).to_contain_text("Version 1")
    shot(page, "version-page")

    files = page.locator("#files")
    expect(files.locator('li.file[data-path="MLmodel"]')).to_be_visible()
    expect(files.locator('li.file[data-path="extra/requirements.txt"]')).to_be_visible()
    with page.expect_download() as info:
        files.locator('li.file[data-path="model.pkl"] a.download-link').click()
    download = info.value
    assert download.suggested_filename == "model.pkl"
    assert Path(download.path()).read_bytes() == PICKLE

    page.click("#source-run")
    expect(page.locator("#run-name")).to_have_text("tuned")
    assert page.url.endswith(f"/runs/{seeded.other_run_id}")
    page.go_back()
    champion.locator("td.before a").click()
    expect(page.locator("#version-title")).to_contain_text("Version 1")
    expect(page.locator('#alias-history tr[data-alias="champion"] td.before a.this-version')).to_have_text(
        "Version 1"
    )
    expect(page.locator("#source-run")).to_have_text("baseline")
    assert dialogs == []
