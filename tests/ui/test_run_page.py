"""The run page in headless Chromium: info, params, metrics, charts, tags, artifacts."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.ui.conftest import Seeder

pytestmark = pytest.mark.browser

XSS_NAME = "<img src=x onerror=alert(1)>"
EVIL_HTML = b"<html><body><h1>hi</h1><script>window.pwned = 1; alert('pwned')</script></body></html>"
EVIL_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.pwned=2">'
    b"<script>window.pwned = 3</script><rect width='5' height='5'/></svg>"
)


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG, built by hand so the test needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes((200, 60, 60)) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def collect_dialogs(page: Page) -> list[str]:
    dialogs: list[str] = []

    def on_dialog(dialog: object) -> None:
        dialogs.append(str(getattr(dialog, "message", "")))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    return dialogs


def test_run_page_shows_info_params_metrics_tags_and_charts(
    page: Page, live_server: LiveServer, seed: Seeder
) -> None:
    eid = seed.experiment("run-page")
    run_id = seed.run(
        eid,
        "trained",
        params={"lr": "0.01", "model": "tree"},
        metrics={"loss": [1.0, 0.7, 0.5, 0.4, 0.35], "acc": [0.5, 0.8, 0.9]},
        tags={"team": "vision", "mlflow.source.name": "train.py", "mlflow.user": "ada"},
    )
    page.goto(f"{live_server.url}/runs/{run_id}")
    expect(page.locator("#run-name")).to_have_text("trained")
    expect(page.locator("#overview")).to_contain_text("FINISHED")
    expect(page.locator("#overview")).to_contain_text("train.py")
    expect(page.locator("#overview")).to_contain_text("0.8s")
    expect(page.locator("#overview a", has_text="run-page")).to_be_visible()

    params = page.locator("#params tbody tr")
    expect(params).to_have_count(2)
    expect(page.locator("#params")).to_contain_text("tree")
    expect(page.locator("#metrics tbody tr", has_text="loss")).to_contain_text("0.35")
    expect(page.locator("#metrics tbody tr", has_text="acc")).to_contain_text("0.9")
    loss = page.locator('#metrics tbody tr[data-key="loss"]')
    expect(loss.locator("td.min")).to_have_text("0.35")
    expect(loss.locator("td.max")).to_have_text("1")
    expect(page.locator("#tags table.kv").first).to_contain_text("vision")
    # System tags are tucked away, not mixed with the user's.
    assert "mlflow.source.name" not in page.locator("#tags table.kv").first.inner_text()

    charts = page.locator("#charts svg.chart")
    expect(charts).to_have_count(2)
    for key, steps in (("acc", 3), ("loss", 5)):
        chart = page.locator(f'#charts svg.chart[data-metric="{key}"]')
        expect(chart).to_have_attribute("data-points", str(steps))
        expect(chart.locator("circle.pt")).to_have_count(steps)
        assert chart.locator("polyline.line").count() == 1


def test_chart_value_labels_fit_whatever_their_length(
    page: Page, live_server: LiveServer, seed: Seeder
) -> None:
    """Every value-axis label lies inside its chart, for small and for huge magnitudes."""
    eid = seed.experiment("chart-labels")
    run_id = seed.run(
        eid, "wide", metrics={"huge": [-1.0e300, -1.05e300, -9.5e299], "small": [0.1, 0.2, 0.15]}
    )
    page.goto(f"{live_server.url}/runs/{run_id}")
    for key in ("huge", "small"):
        ticks = page.locator(f'#charts svg.chart[data-metric="{key}"] text.tick')
        expect(ticks.first).to_be_visible()
        lefts = ticks.evaluate_all("nodes => nodes.map(node => node.getBBox().x)")
        assert lefts and min(lefts) >= 0, (key, lefts)


def test_artifact_tree_expands_and_previews_text_json_csv_and_images(
    page: Page, live_server: LiveServer, seed: Seeder
) -> None:
    eid = seed.experiment("artifacts")
    run_id = seed.run(eid, "with-files")
    seed.artifact(eid, run_id, "notes.txt", b"first line\nsecond <b>line</b>\n")
    seed.artifact(eid, run_id, "config.json", json.dumps({"layers": [64, 32], "name": "net"}).encode())
    seed.artifact(eid, run_id, "data/table.csv", b"id,score\n1,0.5\n2,0.75\n3,0.9\n")
    seed.artifact(eid, run_id, "data/plots/curve.png", png(12, 7))
    page.goto(f"{live_server.url}/runs/{run_id}")

    tree = page.locator(".artifact-tree")
    expect(tree.locator("li.file", has_text="notes.txt")).to_be_visible()
    data_dir = tree.locator('details[data-path="data"]')
    expect(data_dir.locator('li.file[data-path="data/table.csv"]')).to_be_hidden()
    data_dir.locator("summary").first.click()
    expect(data_dir.locator('li.file[data-path="data/table.csv"]')).to_be_visible()
    plots = data_dir.locator('details[data-path="data/plots"]')
    plots.locator("summary").click()
    expect(plots.locator('li.file[data-path="data/plots/curve.png"]')).to_be_visible()

    tree.locator("a.preview-link", has_text="notes.txt").click()
    expect(page.locator("#preview-text")).to_have_text("first line\nsecond <b>line</b>\n")
    assert page.locator("#preview-text b").count() == 0

    tree.locator("a.preview-link", has_text="config.json").click()
    text = page.locator("#preview-text").inner_text()
    assert json.loads(text) == {"layers": [64, 32], "name": "net"}
    assert '\n  "layers": [' in text  # pretty-printed

    # A root-level file is selected, so the folder is closed again after navigating.
    page.locator('details[data-path="data"] > summary').click()
    page.locator('li.file[data-path="data/table.csv"] a.preview-link').click()
    # The tree stays open on the selected file's folder after navigation.
    expect(page.locator('li.file[data-path="data/table.csv"]')).to_be_visible()
    table = page.locator("#preview-table")
    expect(table.locator("thead th")).to_have_text(["id", "score"])
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").nth(1)).to_contain_text("0.75")

    assert page.locator('details[data-path="data/plots"]').get_attribute("open") is None
    page.locator('details[data-path="data/plots"] > summary').click()
    page.locator('li.file[data-path="data/plots/curve.png"] a.preview-link').click()
    expect(page.locator('details[data-path="data/plots"]')).to_have_attribute("open", "")
    image = page.locator("#preview-image")
    expect(image).to_be_visible()
    page.wait_for_function("document.getElementById('preview-image').complete")
    assert image.evaluate("img => img.naturalWidth") == 12
    assert image.evaluate("img => img.naturalHeight") == 7

    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename == "curve.png"

    # Each file in the tree has its own download link too.
    with page.expect_download() as download_info:
        page.locator('li.file[data-path="data/table.csv"] a.download-link').click()
    saved = download_info.value.path()
    assert saved is not None and saved.read_bytes() == b"id,score\n1,0.5\n2,0.75\n3,0.9\n"


def test_html_and_svg_artifacts_never_run_as_pages(page: Page, live_server: LiveServer, seed: Seeder) -> None:
    eid = seed.experiment("active-content")
    run_id = seed.run(eid, "evil-files")
    seed.artifact(eid, run_id, "report.html", EVIL_HTML)
    seed.artifact(eid, run_id, "drawing.svg", EVIL_SVG)
    dialogs = collect_dialogs(page)
    for name, marker in (
        ("report.html", "<script>window.pwned = 1"),
        ("drawing.svg", 'onload="window.pwned=2"'),
    ):
        page.goto(f"{live_server.url}/runs/{run_id}?artifact={name}")
        expect(page.locator("#preview-text")).to_contain_text(marker)
        assert page.locator("#preview script").count() == 0
        assert page.locator("#preview svg").count() == 0
        assert page.locator("#preview img").count() == 0
        assert page.evaluate("typeof window.pwned") == "undefined"
    # Asking for an SVG "inline" still does not get an image: only raster types are inline.
    page.goto(f"{live_server.url}/runs/{run_id}?artifact=drawing.svg")
    assert page.locator("#preview-image").count() == 0
    assert dialogs == []
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_user_strings_are_escaped_everywhere(page: Page, live_server: LiveServer, seed: Seeder) -> None:
    eid = seed.experiment(f"exp {XSS_NAME}")
    run_id = seed.run(
        eid,
        XSS_NAME,
        params={"odd key": XSS_NAME},
        metrics={"m": [1.0]},
        tags={"note": "<script>window.pwned=1</script>"},
    )
    seed.artifact(eid, run_id, "x.txt", b"hi")
    dialogs = collect_dialogs(page)

    page.goto(live_server.url + "/")
    expect(page.locator("#experiments")).to_contain_text(f"exp {XSS_NAME}")
    page.locator("a.experiment-link", has_text="exp").click()
    expect(page.locator("#runs td.run-name")).to_have_text(XSS_NAME)
    expect(page.locator('#runs td.param[data-key="odd key"]')).to_have_text(XSS_NAME)
    assert page.locator("#runs img").count() == 0

    page.locator("#runs td.run-name a").click()
    expect(page.locator("#run-name")).to_have_text(XSS_NAME)
    assert page.locator("main img").count() == 0
    expect(page.locator("#params")).to_contain_text(XSS_NAME)
    expect(page.locator("#tags")).to_contain_text("<script>window.pwned=1</script>")
    assert page.title().startswith(XSS_NAME)
    assert dialogs == []
    assert page.evaluate("typeof window.pwned") == "undefined"
