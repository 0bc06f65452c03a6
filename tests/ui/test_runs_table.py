"""The experiments list and an experiment's runs table, driven in headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.ui.conftest import Seeder

pytestmark = pytest.mark.browser


def run_names(page: Page) -> list[str]:
    return [name.strip() for name in page.locator("#runs tbody td.run-name").all_inner_texts()]


def header_keys(page: Page) -> list[str]:
    return [str(h.get_attribute("data-column")) for h in page.locator("#runs thead th").all()]


def test_experiments_list_shows_experiments_and_navigates(
    page: Page, live_server: LiveServer, seed: Seeder
) -> None:
    alpha = seed.experiment("alpha")
    seed.experiment("beta")
    seed.run(alpha, "first-run")
    page.goto(live_server.url + "/")
    links = page.locator("#experiments a.experiment-link")
    expect(links.filter(has_text="alpha")).to_be_visible()
    expect(links.filter(has_text="beta")).to_be_visible()
    expect(links.filter(has_text="Default")).to_be_visible()
    page.locator("#experiments tr", has_text="alpha").locator("a.experiment-link").click()
    expect(page).to_have_url(f"{live_server.url}/experiments/{alpha}")
    expect(page.locator("#experiment-name")).to_have_text("alpha")
    assert run_names(page) == ["first-run"]


def test_sorting_by_a_metric_changes_the_order(page: Page, live_server: LiveServer, seed: Seeder) -> None:
    eid = seed.experiment("sorting")
    for name, acc in (("low", 0.3), ("high", 0.9), ("mid", 0.6)):
        seed.run(eid, name, metrics={"acc": [acc]})
    page.goto(f"{live_server.url}/experiments/{eid}")
    # Default order: newest first.
    assert run_names(page) == ["mid", "high", "low"]
    page.locator('#runs th[data-column="metric:acc"] a.sort').click()
    expect(page.locator('#runs th[data-column="metric:acc"]')).to_have_attribute("aria-sort", "descending")
    assert run_names(page) == ["high", "mid", "low"]
    page.locator('#runs th[data-column="metric:acc"] a.sort').click()
    expect(page.locator('#runs th[data-column="metric:acc"]')).to_have_attribute("aria-sort", "ascending")
    assert run_names(page) == ["low", "mid", "high"]
    assert "order_by=metrics.%60acc%60+ASC" in page.url


def test_filter_narrows_rows_and_a_bad_filter_shows_the_message(
    page: Page, live_server: LiveServer, seed: Seeder
) -> None:
    eid = seed.experiment("filtering")
    for name, acc in (("a", 0.2), ("b", 0.7), ("c", 0.95)):
        seed.run(eid, name, metrics={"acc": [acc]})
    page.goto(f"{live_server.url}/experiments/{eid}")
    assert sorted(run_names(page)) == ["a", "b", "c"]

    page.fill("#filter", "metrics.acc > 0.5")
    page.press("#filter", "Enter")
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    assert sorted(run_names(page)) == ["b", "c"]
    expect(page.locator("#filter")).to_have_value("metrics.acc > 0.5")

    page.fill("#filter", "metrics.acc >> banana")
    page.press("#filter", "Enter")
    alert = page.locator("#filter-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Invalid filter")
    assert page.locator("#runs").count() == 0
    # The rest of the page still works: the filter box keeps the text to fix.
    expect(page.locator("#filter")).to_have_value("metrics.acc >> banana")
    expect(page.locator("#experiment-name")).to_have_text("filtering")


def test_paging_walks_through_more_runs_than_one_page(
    page: Page, live_server: LiveServer, seed: Seeder
) -> None:
    eid = seed.experiment("paging")
    names = [f"run-{i:02d}" for i in range(30)]
    for name in names:
        seed.run(eid, name, finished=False)
    newest_first = list(reversed(names))
    page.goto(f"{live_server.url}/experiments/{eid}")
    first = run_names(page)
    assert first == newest_first[:25]
    assert page.locator("#prev-page").count() == 0

    page.click("#next-page")
    second = run_names(page)
    assert second == newest_first[25:]
    assert page.locator("#next-page").count() == 0
    expect(page.locator(".pager")).to_contain_text("Page 2")

    page.click("#prev-page")
    assert run_names(page) == first

    # A smaller page size pages by that size, keeping the order.
    page.goto(f"{live_server.url}/experiments/{eid}?per_page=10")
    seen: list[str] = []
    for _ in range(3):
        seen.extend(run_names(page))
        if page.locator("#next-page").count():
            page.click("#next-page")
    assert seen == newest_first


def test_column_chooser_toggles_columns(page: Page, live_server: LiveServer, seed: Seeder) -> None:
    eid = seed.experiment("columns")
    seed.run(eid, "r1", params={"lr": "0.1", "depth": "3"}, metrics={"acc": [0.8], "loss": [0.4]})
    page.goto(f"{live_server.url}/experiments/{eid}")
    assert "metric:loss" in header_keys(page)
    assert "param:lr" in header_keys(page)

    page.click("#column-chooser summary")
    page.locator('#column-chooser input[name="m"][value="loss"]').uncheck()
    page.locator('#column-chooser input[name="p"][value="depth"]').uncheck()
    page.click("#apply-columns")
    keys = header_keys(page)
    assert "metric:loss" not in keys and "param:depth" not in keys
    assert "metric:acc" in keys and "param:lr" in keys
    assert re.search(r"[?&]cols=1", page.url)
    expect(page.locator('#runs td.metric[data-key="acc"]')).to_have_text("0.8")

    # The choice survives sorting (it lives in the query string).
    page.locator('#runs th[data-column="metric:acc"] a.sort').click()
    assert "metric:loss" not in header_keys(page)
    page.click("#column-chooser summary")
    page.locator('#column-chooser input[name="m"][value="loss"]').check()
    page.click("#apply-columns")
    assert "metric:loss" in header_keys(page)
    expect(page.locator('#runs td.metric[data-key="loss"]')).to_have_text("0.4")
