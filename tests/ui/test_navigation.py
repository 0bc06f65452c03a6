"""Links MLflow's clients print (hash routes of MLflow's UI) reach our pages; nested runs link
to each other; browsers get a favicon instead of a 404."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import Page
from starlette.testclient import TestClient

from tests.conftest import Api, LiveServer
from tests.ui.conftest import Seeder

HTML = {"accept": "text/html"}


def run_in(api: Api, eid: str, name: str, parent: str | None = None) -> str:
    run = api.ok("post", "runs/create", {"experiment_id": eid, "run_name": name})["run"]["info"]
    if parent:
        api.ok(
            "post", "runs/set-tag", {"run_id": run["run_id"], "key": "mlflow.parentRunId", "value": parent}
        )
    return str(run["run_id"])


def test_run_page_links_parent_and_children(api: Api, client: TestClient) -> None:
    eid = str(api.ok("post", "experiments/create", {"name": "nested"})["experiment_id"])
    other = str(api.ok("post", "experiments/create", {"name": "elsewhere"})["experiment_id"])
    parent = run_in(api, eid, "parent-run")
    first = run_in(api, eid, "child-one", parent)
    second = run_in(api, eid, "child-two", parent)
    grandchild = run_in(api, eid, "grandchild", first)
    run_in(api, other, "not-searched", parent)  # children are looked for in the same experiment
    deleted = run_in(api, eid, "deleted-child", parent)
    api.ok("post", "runs/delete", {"run_id": deleted})

    page = client.get(f"/runs/{parent}", headers=HTML).text
    assert f'href="/runs/{first}">child-one</a>' in page
    assert f'href="/runs/{second}">child-two</a>' in page
    for absent in ("grandchild", "not-searched", "deleted-child"):
        assert absent not in page
    assert 'id="parent-run"' not in page

    child_page = client.get(f"/runs/{first}", headers=HTML).text
    assert f'id="parent-run" href="/runs/{parent}"' in child_page
    assert f'href="/runs/{grandchild}">grandchild</a>' in child_page

    lone = client.get(f"/runs/{second}", headers=HTML).text
    assert 'id="child-runs"' not in lone


def test_favicon_is_served(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg")
    assert client.get("/static/favicon.svg").status_code == 200
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/", headers=HTML).text


@pytest.mark.browser
def test_mlflow_hash_links_redirect_to_our_pages(page: Page, live_server: LiveServer, seed: Seeder) -> None:
    eid = seed.experiment("hash-routes")
    run_id = seed.run(eid, "linked")
    name = "fraud model ü"
    seed.post("registered-models/create", {"name": name})
    base = live_server.url
    encoded = quote(name, safe="")
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    cases = {
        f"/#/experiments/{eid}/runs/{run_id}": f"/runs/{run_id}",
        f"/#/experiments/{eid}/runs/{run_id}/artifacts/model": f"/runs/{run_id}",
        f"/#/experiments/{eid}": f"/experiments/{eid}",
        f"/#/experiments/{eid}?searchFilter=x": f"/experiments/{eid}",
        f"/#/models/{encoded}": f"/models/{encoded}",
        f"/#/models/{encoded}/versions/3": f"/models/{encoded}/versions/3",
        "/#/models": "/models",
    }
    for link, target in cases.items():
        page.goto(base + link)
        page.wait_for_url(base + target)
    page.goto(base + f"/runs/{run_id}")
    assert page.locator("#run-name").inner_text() == "linked"
    # A crafted hash cannot lead off the site, and an ordinary anchor is left alone.
    for crafted in ("/#//evil.example/x", "/#/%2F%2Fevil.example", "/#artifacts"):
        page.goto(base + crafted)
        page.wait_for_load_state("load")
        assert page.url.startswith(base + "/"), page.url
    assert not [url for url in missing if url.endswith("favicon.ico")]
