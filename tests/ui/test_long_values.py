"""Very long values (a 6,000-character param, a 250-character key, a 1,000-character run
name) must not blow up the runs table or the run page: cells are clipped, the full text stays
available in a title attribute and on the run page, and the table stays near the viewport's width."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.conftest import LiveServer
from tests.ui.conftest import Seeder

pytestmark = pytest.mark.browser

VIEWPORT_WIDTH = 1360
LONG_VALUE = "0123456789abcdef" * 375  # 6,000: MLflow's longest param value, nowhere to wrap
LONG_PARAM = "p_" + "k" * 248  # the longest key MLflow accepts (250)
LONG_METRIC = "m_" + "x" * 248
LONG_NAME = "run-" + "n" * 246  # MLflow caps run names at 250
LONG_USER = "user-" + "u" * 251  # the 256 a user id may have
LONG_TAG = ("tag value " * 800)[:8000]


def seed_wide_experiment(seed: Seeder) -> tuple[str, str, str]:
    eid = seed.experiment("wide")
    short = seed.run(eid, "short-run", params={"lr": "0.1"}, metrics={"acc": [0.5]})
    created = seed.post(
        "runs/create",
        {"experiment_id": eid, "run_name": LONG_NAME, "user_id": LONG_USER, "start_time": seed.clock + 500},
    )
    wide = str(created["run"]["info"]["run_id"])
    seed.post(
        "runs/log-batch",
        {
            "run_id": wide,
            "params": [
                {"key": "lr", "value": "0.2"},
                {"key": "blob", "value": LONG_VALUE},
                {"key": LONG_PARAM, "value": "v"},
            ],
            "metrics": [
                {"key": key, "value": 0.7, "timestamp": seed.clock, "step": 0} for key in ("acc", LONG_METRIC)
            ],
            "tags": [{"key": "note", "value": LONG_TAG}, {"key": "blob_tag", "value": LONG_VALUE}],
        },
    )
    return eid, short, wide


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    # Kept next to the test's temporary files for a person to look at after a failure.
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=False)


def test_long_values_keep_the_runs_table_readable(
    page: Page, live_server: LiveServer, seed: Seeder, tmp_path: Path
) -> None:
    eid, short, wide = seed_wide_experiment(seed)
    page.goto(f"{live_server.url}/experiments/{eid}")
    screenshot(page, tmp_path, "runs-table")

    table_width = page.eval_on_selector("#runs", "t => t.scrollWidth")
    page_width = page.evaluate("() => document.documentElement.scrollWidth")
    # Ten columns of clipped cells fit in a couple of screens; unclipped, this was ~46,000 px.
    assert table_width <= 2 * VIEWPORT_WIDTH, table_width
    assert page_width <= VIEWPORT_WIDTH, page_width

    # The run-name column is wide enough to read, for the long name and the short one.
    for run_id in (short, wide):
        cell = page.locator(f'#runs tr[data-run-id="{run_id}"] td.run-name')
        width = cell.evaluate("c => c.getBoundingClientRect().width")
        assert 120 <= width <= 420, width
        # One line high: not squeezed into a column of three-letter lines.
        height = cell.evaluate("c => c.getBoundingClientRect().height")
        assert height <= 60, height

    # Every cell of the wide run keeps its full text in a title attribute.
    row = page.locator(f'#runs tr[data-run-id="{wide}"]')
    assert row.locator("td.run-name [title]").get_attribute("title") == LONG_NAME
    assert row.locator('td.param[data-key="blob"] [title]').get_attribute("title") == LONG_VALUE
    assert row.locator('td[data-key="user_id"] [title]').get_attribute("title") == LONG_USER

    # Header cells of long keys are clipped too, and keep the key in their title.
    for kind, key in (("param", LONG_PARAM), ("metric", LONG_METRIC)):
        header = page.locator(f'#runs th[data-column="{kind}:{key}"]')
        assert header.locator("[title]").first.get_attribute("title") == key
        assert header.evaluate("h => h.getBoundingClientRect().width") <= 320

    # The clipped cell's box is narrow and the value does not spill over its neighbours.
    blob = row.locator('td.param[data-key="blob"]')
    assert blob.evaluate("c => c.getBoundingClientRect().width") <= 320

    # The column chooser lists the long keys without running off the screen.
    page.locator("#column-chooser summary").click()
    box = page.locator("#column-chooser form").bounding_box()
    assert box is not None and box["x"] >= 0 and box["width"] <= VIEWPORT_WIDTH
    screenshot(page, tmp_path, "runs-chooser")


def test_long_values_on_the_run_page_stay_in_their_cards(
    page: Page, live_server: LiveServer, seed: Seeder, tmp_path: Path
) -> None:
    _eid, _short, wide = seed_wide_experiment(seed)
    page.goto(f"{live_server.url}/runs/{wide}")
    screenshot(page, tmp_path, "run-page")
    page_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert page_width <= VIEWPORT_WIDTH, page_width
    # The full value is on the run page, in a box that scrolls instead of filling the screen.
    value = page.locator("#params tr", has_text="blob").locator("td")
    assert value.inner_text().strip() == LONG_VALUE
    assert value.evaluate("c => c.getBoundingClientRect().height") <= 400
    tag = page.locator("#tags tr", has_text="blob_tag").locator("td")
    assert tag.inner_text().strip() == LONG_VALUE
    assert tag.evaluate("c => c.getBoundingClientRect().height") <= 400
    heading = page.locator("#run-name")
    assert heading.evaluate("h => h.getBoundingClientRect().height") <= 200
