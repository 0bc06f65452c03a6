"""A logged model's own page (/logged-models/<id>): every MLflow 3 logged model has one, with or
without a source run; the experiment page and the run page link to it. Models are created
through the public REST API (plain HTTP tests) and reached through the browser."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.conftest import LiveServer
from tests.ui.conftest import Seeder
from tests.ui.test_ui_http import HTML, SCRIPT_TAG, assert_security_headers

# Logged model names may not hold '/', quotes, ':' or '.', so the name opens a tag it cannot
# close; values and the experiment name carry a whole script element.
SCRIPT = "<script>alert(1)</script>"
MODEL_NAME = "<script>alert(1)"


def tiny_png() -> bytes:
    """A valid 2x1 RGB PNG, so a browser that got the bytes reports its real width."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00" * 2)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG = tiny_png()
PASSWORD = "Logged-Model-Page-Passw0rd-7"


def api(http: httpx.Client, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.request(method, f"/api/2.0/mlflow/{path}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def experiment(http: httpx.Client, name: str) -> str:
    return str(api(http, "POST", "experiments/create", {"name": name})["experiment_id"])


def create_model(
    http: httpx.Client, experiment_id: str, name: str, *, run_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"experiment_id": experiment_id, "name": name, **extra}
    if run_id is not None:
        body["source_run_id"] = run_id
    info: dict[str, Any] = api(http, "POST", "logged-models", body)["model"]["info"]
    return info


def put_model_file(http: httpx.Client, info: dict[str, Any], path: str, data: bytes) -> None:
    location = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert location != info["artifact_uri"], info["artifact_uri"]
    response = http.put(f"/api/2.0/mlflow-artifacts/artifacts/{location}/{path}", content=data)
    assert response.status_code == 200, response.text


def finalize(http: httpx.Client, model_id: str) -> None:
    api(http, "PATCH", f"logged-models/{model_id}", {"model_id": model_id, "status": "LOGGED_MODEL_READY"})


def seed_runless_model(http: httpx.Client) -> tuple[str, dict[str, Any]]:
    """A hostile experiment holding a model created directly in it, with files, params, tags."""
    eid = experiment(http, f"exp {SCRIPT}")
    info = create_model(
        http,
        eid,
        MODEL_NAME,
        model_type="sklearn",
        params=[{"key": "alpha", "value": SCRIPT}],
        tags=[{"key": "owner", "value": SCRIPT}, {"key": "mlflow.user", "value": "ci"}],
    )
    mlmodel = f'flavors:\n  sklearn: {{}}\nnote: "{SCRIPT}"\n'
    put_model_file(http, info, "MLmodel", mlmodel.encode())
    put_model_file(http, info, "data/metrics.json", b'{"auc": 0.91}')
    put_model_file(http, info, "plot.png", PNG)
    return eid, info


def page_url(model_id: str) -> str:
    return f"/logged-models/{model_id}"


def test_a_model_outside_any_run_has_an_escaped_page(client: TestClient) -> None:
    eid, info = seed_runless_model(client)
    model_id = info["model_id"]
    response = client.get(page_url(model_id), headers=HTML)
    assert response.status_code == 200, response.text[:500]
    assert_security_headers(response)
    body = response.text
    # No user string arrives as markup: the one script element is the site's own file.
    assert re.findall(r"<script[^>]*>.*?</script>", body, re.S) == [SCRIPT_TAG]
    assert body.count("<script") == 1 and "alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # param, tag and experiment name
    assert f'<span class="mono" id="model-id">{model_id}</span>' in body
    assert f'href="/experiments/{eid}"' in body
    assert "pending" in body and "sklearn" in body
    assert "None: logged outside a run" in body
    # Params and user tags are shown; system tags sit in their own fold.
    assert "<th>alpha</th>" in body and "<th>owner</th>" in body and "System tags (1)" in body
    # The file tree lists every file with a preview and a download link of this page's own.
    for path in ("MLmodel", "data/metrics.json", "plot.png"):
        assert f'data-path="{path}"' in body
    assert f'href="/logged-models/{model_id}?artifact=MLmodel#artifacts"' in body
    assert f'href="/logged-models/{model_id}/artifact?path=data%2Fmetrics.json"' in body


def test_previews_and_downloads_of_a_models_files(client: TestClient) -> None:
    _, info = seed_runless_model(client)
    model_id = info["model_id"]
    text = client.get(page_url(model_id), params={"artifact": "MLmodel"}, headers=HTML).text
    assert 'id="preview-text"' in text and "flavors:" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "alert(1)</script>" not in text
    as_json = client.get(page_url(model_id), params={"artifact": "data/metrics.json"}, headers=HTML).text
    assert '"auc": 0.91' in as_json.replace("&#34;", '"')
    assert '<details open data-path="data">' in as_json
    image = client.get(page_url(model_id), params={"artifact": "plot.png"}, headers=HTML).text
    assert f'src="/logged-models/{model_id}/artifact?path=plot.png&amp;inline=1"' in image

    download = client.get(f"{page_url(model_id)}/artifact", params={"path": "data/metrics.json"})
    assert download.status_code == 200 and download.content == b'{"auc": 0.91}'
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")
    inline = client.get(f"{page_url(model_id)}/artifact", params={"path": "plot.png", "inline": "1"})
    assert inline.status_code == 200 and inline.headers["content-type"] == "image/png"
    assert inline.content == PNG


def test_model_page_shows_source_run_metrics_and_registry_versions(client: TestClient) -> None:
    eid = experiment(client, "trained")
    run = api(client, "POST", "runs/create", {"experiment_id": eid, "run_name": "trainer"})
    run_id = run["run"]["info"]["run_id"]
    info = create_model(client, eid, "churn-model", run_id=run_id)
    model_id = info["model_id"]
    finalize(client, model_id)
    api(
        client,
        "POST",
        "runs/log-metric",
        {"run_id": run_id, "key": "val_auc", "value": 0.875, "timestamp": 1, "step": 4, "model_id": model_id},
    )
    api(client, "POST", "registered-models/create", {"name": "churn"})
    for _ in range(2):
        api(
            client,
            "POST",
            "model-versions/create",
            {"name": "churn", "source": f"models:/{model_id}", "model_id": model_id, "run_id": run_id},
        )

    body = client.get(page_url(model_id), headers=HTML).text
    assert f'<a href="/runs/{run_id}">trainer</a>' in body
    assert re.search(r'<span class="badge model-status status-ready">ready</span>', body)
    metric = re.search(r'<tr data-key="val_auc">.*?</tr>', body, re.S)
    assert metric is not None and "0.875" in metric.group(0) and ">4<" in metric.group(0)
    assert 'href="/models/churn/versions/1">churn v1</a>' in body
    assert 'href="/models/churn/versions/2">churn v2</a>' in body
    assert "No artifacts." in body


def test_unknown_deleted_and_malformed_requests_get_the_error_page(client: TestClient) -> None:
    _, info = seed_runless_model(client)
    model_id = info["model_id"]
    for path in (page_url("m-0123456789abcdef0123456789abcdef"), page_url("<b>x</b>")):
        missing = client.get(path, headers=HTML)
        assert missing.status_code == 404, path
        assert_security_headers(missing)
        assert '<section class="card error-page">' in missing.text and "<h1>Not found</h1>" in missing.text
        assert "<b>x</b>" not in missing.text
    unknown_file = client.get(f"{page_url(model_id)}/artifact", params={"path": "nope.txt"}, headers=HTML)
    assert unknown_file.status_code == 404
    for bad in ("../../../etc/passwd", "/etc/passwd", ""):
        refused = client.get(f"{page_url(model_id)}/artifact", params={"path": bad}, headers=HTML)
        assert refused.status_code == 400, bad
    assert client.delete(f"/api/2.0/mlflow/logged-models/{model_id}").status_code == 200
    assert client.get(page_url(model_id), headers=HTML).status_code == 404
    gone = client.get(f"{page_url(model_id)}/artifact", params={"path": "MLmodel"}, headers=HTML)
    assert gone.status_code == 404


def test_experiment_and_run_pages_link_to_the_model_pages(client: TestClient) -> None:
    eid = experiment(client, "linked")
    run = api(client, "POST", "runs/create", {"experiment_id": eid, "run_name": "trainer"})
    run_id = run["run"]["info"]["run_id"]
    from_run = create_model(client, eid, "from-run", run_id=run_id)
    runless = create_model(client, eid, "runless")
    deleted = create_model(client, eid, "deleted")
    assert client.delete(f"/api/2.0/mlflow/logged-models/{deleted['model_id']}").status_code == 200
    other = create_model(client, experiment(client, "elsewhere"), "elsewhere")

    listing = client.get(f"/experiments/{eid}", headers=HTML).text
    section = listing.split('id="logged-models"', 1)[1]
    rows = re.findall(r'<tr data-model-id="([^"]+)">', section)
    # Newest first; a deleted model and another experiment's model are not listed.
    assert rows == [runless["model_id"], from_run["model_id"]]
    assert other["model_id"] not in listing
    for model in (runless, from_run):
        assert f'<a class="clip model-link" href="/logged-models/{model["model_id"]}"' in section
    assert f'<a href="/runs/{run_id}">{run_id}</a>' in section

    run_page = client.get(f"/runs/{run_id}", headers=HTML).text
    assert f'<a class="clip model-link" href="/logged-models/{from_run["model_id"]}"' in run_page

    # An experiment without logged models shows no empty section.
    empty = client.get(f"/experiments/{experiment(client, 'plain')}", headers=HTML).text
    assert 'id="logged-models"' not in empty


def test_a_long_experiment_name_is_clipped_with_its_full_text_in_a_title(client: TestClient) -> None:
    name = "x" * 500
    experiment(client, name)
    body = client.get("/", headers=HTML).text
    assert re.search(
        rf'<a class="clip experiment-link" href="/experiments/\d+" title="{name}">{name}</a>', body
    )


@pytest.mark.browser
def test_browse_from_experiment_page_to_model_page_and_preview_a_file(
    page: Page, live_server: LiveServer, seed: Seeder, tmp_path: Path
) -> None:
    eid, info = seed_runless_model(seed.http)
    model_id = info["model_id"]
    page.goto(f"{live_server.url}/experiments/{eid}")
    section = page.locator("#logged-models")
    link = section.locator(f'tr[data-model-id="{model_id}"] a.model-link')
    expect(link).to_have_text(MODEL_NAME)
    expect(link).to_have_attribute("title", MODEL_NAME)
    link.click()

    expect(page).to_have_url(f"{live_server.url}/logged-models/{model_id}")
    expect(page.locator("#model-name")).to_have_text(MODEL_NAME)
    expect(page.locator("#model-id")).to_have_text(model_id)
    expect(page.locator("#experiment-link")).to_have_text(f"exp {SCRIPT}")
    expect(page.locator("#source-run")).to_have_text("None: logged outside a run")
    expect(page.locator("#params")).to_contain_text(SCRIPT)
    artifacts = page.locator("#artifacts")
    artifacts.locator('li.dir details[data-path="data"] summary').click()
    artifacts.locator('li.file[data-path="data/metrics.json"] a.preview-link').click()
    expect(page.locator("#preview-text")).to_contain_text('"auc": 0.91')
    expect(artifacts.locator('li.file.selected[data-path="data/metrics.json"]')).to_be_visible()
    artifacts.locator('li.file[data-path="plot.png"] a.preview-link').click()
    image = page.locator("#preview-image")
    expect(image).to_be_visible()
    # The inline image route answered with the bytes: the browser decoded an image.
    page.wait_for_function("() => document.querySelector('#preview-image').complete")
    assert image.evaluate("i => i.naturalWidth") == 2
    page.screenshot(path=str(tmp_path / "logged-model-page.png"), full_page=True)
    # Nothing the hostile strings held ran as a script.
    assert page.evaluate("() => document.querySelectorAll('script').length") == 1

    page.locator("#experiment-link").click()
    expect(page).to_have_url(f"{live_server.url}/experiments/{eid}")

    # The link MLflow 3's client prints for a logged model (a hash route) lands here too.
    page.goto(f"{live_server.url}/#/experiments/{eid}/models/{model_id}")
    expect(page).to_have_url(f"{live_server.url}/logged-models/{model_id}")


@pytest.mark.browser
def test_experiments_list_keeps_its_layout_with_a_500_character_name(
    page: Page, live_server: LiveServer, seed: Seeder, tmp_path: Path
) -> None:
    name = "n" * 500
    seed.experiment(name)
    seed.experiment("short")
    page.goto(live_server.url + "/")
    page.screenshot(path=str(tmp_path / "experiments-long-name.png"))
    viewport = page.viewport_size
    assert viewport is not None
    table_width = page.eval_on_selector("#experiments", "t => t.scrollWidth")
    page_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert table_width <= viewport["width"] and page_width <= viewport["width"], (table_width, page_width)
    link = page.locator("a.experiment-link", has_text="nnnn")
    expect(link).to_have_attribute("title", name)
    box = link.bounding_box()
    assert box is not None and box["width"] <= 420 and box["height"] <= 40, box
    # Clipped, not lost: the element holds the whole name.
    assert link.evaluate("a => a.scrollWidth > a.clientWidth")
    assert link.inner_text() == name


def test_the_page_and_its_files_need_read_on_the_models_experiment(
    make_client: Callable[[ServerConfig], TestClient], tmp_path: Path
) -> None:
    client = make_client(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'authz.db'}",
            artifacts_destination=str(tmp_path / "artifacts"),
            auth_required=True,
        )
    )
    services = client.app.state.services  # type: ignore[attr-defined]
    services.auth.create_user("owner", PASSWORD, is_admin=True)
    services.auth.create_user("outsider", PASSWORD)
    client.auth = ("owner", PASSWORD)
    _, info = seed_runless_model(client)
    model_id = info["model_id"]
    assert client.get(page_url(model_id), headers=HTML).status_code == 200

    client.auth = ("outsider", PASSWORD)
    for path, params in ((page_url(model_id), {}), (f"{page_url(model_id)}/artifact", {"path": "MLmodel"})):
        refused = client.get(path, params=params, headers=HTML)
        assert refused.status_code in (403, 404), (path, refused.status_code)
        assert "&lt;script&gt;alert(1)" not in refused.text and "flavors" not in refused.text
