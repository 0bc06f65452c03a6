"""The monitoring page of a model version in headless Chromium: latest evaluation, reference
profile, windows table and SVG drift charts (one point per window), reached from the
version page; a hostile feature name stays text."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

import ledgerflow
from ledgerflow.client.client import Client
from ledgerflow.governance.monitoring import client as monitoring
from tests.conftest import LiveServer
from tests.governance.evaluation.support import SOURCE, ThresholdModel, selection_frame
from tests.ui.test_run_page import collect_dialogs

pytestmark = pytest.mark.browser
HOSTILE = "<img src=x onerror=alert(1)>"
SHOTS = os.environ.get("LEDGERFLOW_UI_SHOTS", "")


def _batch(seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(40 + 10 * shift, 10, 1500), HOSTILE: rng.choice(["a", "b"], 1500)})


def test_monitoring_page_shows_evaluation_windows_and_charts(page: Page, live_server: LiveServer) -> None:
    client = Client(live_server.url)
    client.transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "churn"})
    client.transport.call("POST", "/2.0/mlflow/model-versions/create", {"name": "churn", "source": SOURCE})
    dialogs = collect_dialogs(page)

    page.goto(live_server.url + "/models/churn/versions/1/monitoring")
    expect(page.locator("#evaluation")).to_contain_text("No evaluation yet")
    expect(page.locator("#reference")).to_contain_text("No reference profile")

    ledgerflow.evaluate(
        ThresholdModel(),
        selection_frame(0.7),
        "y",
        sensitive="sex",
        name="churn",
        version=1,
        n_boot=0,
        tracking_uri=live_server.url,
    )
    monitoring.set_reference("churn", 1, _batch(1, 0.0), tracking_uri=live_server.url)
    for window, shift in enumerate((0.0, 0.2, 0.6)):
        monitoring.log_batch("churn", 1, _batch(10 + window, shift), tracking_uri=live_server.url)

    page.goto(live_server.url + "/models/churn/versions/1")
    page.click("#monitoring-link")
    expect(page).to_have_url(live_server.url + "/models/churn/versions/1/monitoring")
    expect(page.locator('[data-key="fairness.demographic_parity_ratio.sex"] td')).to_have_text("0.7")
    expect(page.locator("#window-table tbody tr")).to_have_count(3)
    expect(page.locator('#window-table tr[data-window="2"]')).to_contain_text("age")
    chart = page.locator('svg[data-metric="drift.wasserstein_normed.age"]')
    expect(chart).to_have_attribute("data-points", "3")
    expect(page.locator('svg[data-metric="drift.share_drifted"] circle.pt')).to_have_count(3)
    expect(page.locator("#reference")).to_contain_text(HOSTILE)
    assert page.locator("img[src=x]").count() == 0 and dialogs == []
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/monitoring.png", full_page=True)
    # The same scores are the monitoring run's metric history.
    page.click("#monitoring-run")
    expect(page.locator('svg[data-metric="drift.share_drifted"]')).to_have_attribute("data-points", "3")


def test_unknown_version_is_a_404_page(page: Page, live_server: LiveServer) -> None:
    response = page.goto(live_server.url + "/models/nope/versions/1/monitoring")
    assert response is not None and response.status == 404
