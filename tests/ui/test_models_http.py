"""The registry pages over plain HTTP (no browser): status codes, escaping, URL encoding of
hostile names, inline filter errors, paging, and the version page's parts."""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.testclient import TestClient

from tests.conftest import Api
from tests.ui.models_seed import MODEL_NAME, XSS, RegistrySeeder
from tests.ui.test_ui_http import HTML, assert_security_headers


def model_path(name: str) -> str:
    return "/models/" + quote(name, safe="")


def test_models_pages_render_escaped_with_security_headers(client: TestClient) -> None:
    seeded = RegistrySeeder(client).seed()
    paths = [
        "/models",
        model_path(seeded.name),
        model_path(seeded.name) + "/versions/1",
        model_path(seeded.name) + "/versions/2",
    ]
    for path in paths:
        response = client.get(path, headers=HTML)
        assert response.status_code == 200, (path, response.text[:500])
        assert_security_headers(response)
        body = response.text
        # The hostile description, tag and version tag never arrive as markup.
        assert XSS not in body
        assert body.count("<script") == 1 and '<script src="/static/hash_routes.js"></script>' in body
        assert " style=" not in body
    version = client.get(model_path(seeded.name) + "/versions/2").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in version


def test_hostile_names_are_one_encoded_path_segment(client: TestClient) -> None:
    seeded = RegistrySeeder(client).seed()
    listing = client.get("/models").text
    encoded = quote(MODEL_NAME, safe="")
    assert f'href="/models/{encoded}"' in listing
    assert f'href="/models/{encoded}/versions/2"' in listing
    # Quotes in the name are escaped in text and attributes; nothing breaks out.
    assert "Churn &#34;gold&#34; it&#39;s model? #1 &amp; ünïcødé ✓" in listing
    page = client.get(model_path(seeded.name))
    assert page.status_code == 200
    assert "Churn &#34;gold&#34;" in page.text
    # Every link the page makes to a version resolves.
    for href in set(re.findall(r'href="(/models/[^"]+/versions/\d+)"', page.text)):
        assert client.get(href.replace("&amp;", "&")).status_code == 200, href


def test_models_list_filter_errors_inline_and_pages(client: TestClient, api: Api) -> None:
    seeder = RegistrySeeder(client)
    for index in range(5):
        api.ok(
            "post",
            "registered-models/create",
            {"name": f"pager-{index}", "tags": [{"key": "k", "value": str(index % 2)}]},
        )
    bad = client.get("/models", params={"q": "name = 'x' AND bogus.thing = 1"})
    assert bad.status_code == 200
    assert 'id="filter-error"' in bad.text
    by_word = client.get("/models", params={"q": "pager-3"}).text
    assert "pager-3" in by_word and "pager-2" not in by_word
    by_tag = client.get("/models", params={"q": "tags.k = '1'"}).text
    assert "pager-1" in by_tag and "pager-3" in by_tag and "pager-0" not in by_tag
    seen: list[str] = []
    url = "/models?per_page=2"
    for _ in range(5):
        body = client.get(url).text
        seen.extend(re.findall(r'class="model-link" href="/models/([^"]+)"', body))
        found = re.search(r'id="next-page" href="([^"]+)"', body)
        if not found:
            break
        url = found.group(1).replace("&amp;", "&")
    assert seen == [f"pager-{i}" for i in range(5)]
    assert seeder is not None


def test_missing_and_malformed_lookups_are_error_pages_not_500s(client: TestClient, api: Api) -> None:
    api.ok("post", "registered-models/create", {"name": "m"})
    cases = {
        "/models/nope": 404,
        "/models/m/versions/7": 404,
        "/models/m/versions/abc": 400,
        "/models/m/versions/-1": 400,
        "/models/m?below=x": 400,
        "/models/nope/versions/1": 404,
    }
    for path, status in cases.items():
        response = client.get(path, headers=HTML)
        assert response.status_code == status, (path, response.text[:300])
        assert "Traceback" not in response.text
        assert_security_headers(response)
    empty = client.get("/models/m")
    assert empty.status_code == 200 and "No versions registered yet." in empty.text


def test_version_page_lineage_signature_files_and_alias_history(client: TestClient) -> None:
    seeded = RegistrySeeder(client).seed()
    body = client.get(model_path(seeded.name) + "/versions/2").text
    assert f'href="/runs/{seeded.other_run_id}"' in body
    assert "runs:/" + seeded.other_run_id + "/model" in body
    assert "churn-train" in body and "training" in body
    assert 'data-name="tenure"' in body and 'data-name="plan type"' in body
    assert "tensor float32" in body and "(-1, 2)" in body
    assert 'data-name="threshold"' in body
    download = re.search(r'href="(/model-versions/get-artifact\?[^"]*model\.pkl)"', body)
    assert download is not None
    data = client.get(download.group(1).replace("&amp;", "&"))
    assert data.status_code == 200 and data.content.startswith(b"\x80\x04")
    history = body.split('id="alias-history"', 1)[1]
    champion = history.split('data-alias="champion"', 1)[1].split("</tr>", 1)[0]
    now, before = champion.split('class="before"', 1)
    assert "Version 2" in now and "Version 1" in before
    challenger = history.split('data-alias="challenger"', 1)[1].split("</tr>", 1)[0]
    assert "removed" in challenger and "Version 1" in challenger


def test_version_without_model_files_shows_a_note(client: TestClient, api: Api) -> None:
    api.ok("post", "registered-models/create", {"name": "bare"})
    eid = api.ok("post", "experiments/create", {"name": "empty-run"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": eid})["run"]["info"]["run_id"]
    api.ok(
        "post", "model-versions/create", {"name": "bare", "source": f"runs:/{run_id}/model", "run_id": run_id}
    )
    bare = client.get("/models/bare/versions/1")
    assert bare.status_code == 200
    assert "no MLmodel file" in bare.text and "No files." in bare.text
    assert "No alias of this model was ever set." in bare.text


def test_broken_mlmodel_is_a_note(client: TestClient, api: Api) -> None:
    seeder = RegistrySeeder(client)
    eid = api.ok("post", "experiments/create", {"name": "broken"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": eid})["run"]["info"]["run_id"]
    seeder.put_file(
        eid, run_id, "model/MLmodel", b'flavors: {a: 1}\nsignature:\n  inputs: \'[{"type": "nonsense"}]\'\n'
    )
    api.ok("post", "registered-models/create", {"name": "broken"})
    seeder.version("broken", run_id)
    page = client.get("/models/broken/versions/1")
    assert page.status_code == 200 and "signature could not be read" in page.text
    # A registered version's files are immutable, so the unreadable MLmodel is a second version.
    other_run = api.ok("post", "runs/create", {"experiment_id": eid})["run"]["info"]["run_id"]
    seeder.put_file(eid, other_run, "model/MLmodel", b"\x00\xff: [unclosed")
    seeder.version("broken", other_run)
    page = client.get("/models/broken/versions/2")
    assert page.status_code == 200 and "not valid YAML" in page.text


def test_alias_history_survives_a_rename_as_one_span(client: TestClient, api: Api) -> None:
    seeded = RegistrySeeder(client).seed(name="before rename")
    before = client.get("/models/before%20rename/versions/1").text
    since = re.search(r'data-alias="champion".*?since ([0-9: -]+)<', before, re.S)
    assert since is not None
    api.ok("post", "registered-models/rename", {"name": seeded.name, "new_name": "after rename"})
    after = client.get("/models/after%20rename/versions/1")
    assert after.status_code == 200
    champion = after.text.split('data-alias="champion"', 1)[1].split("</tr>", 1)[0]
    # The rename closed and reopened the row; the page shows one assignment since the first set.
    assert f"since {since.group(1)}<" in champion
    assert champion.count("<li") == 1 and "Version 1" in champion.split('class="before"', 1)[1]
    assert client.get("/models/before%20rename").status_code == 404


def test_version_from_a_logged_model_shows_its_id_and_files(client: TestClient, api: Api) -> None:
    eid = api.ok("post", "experiments/create", {"name": "logged"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": eid, "run_name": "maker"})["run"]["info"][
        "run_id"
    ]
    logged = api.ok("post", "logged-models", {"experiment_id": eid, "name": "clf", "source_run_id": run_id})
    model_id = logged["model"]["info"]["model_id"]
    location = logged["model"]["info"]["artifact_uri"]
    assert location.startswith("mlflow-artifacts:/")
    rel = location.split(":", 1)[1].lstrip("/")
    put = client.put(f"/api/2.0/mlflow-artifacts/artifacts/{rel}/model.pkl", content=b"\x80\x04pickle")
    assert put.status_code == 200, put.text
    api.ok("post", "registered-models/create", {"name": "from logged"})
    api.ok(
        "post",
        "model-versions/create",
        {"name": "from logged", "source": f"models:/{model_id}", "model_id": model_id},
    )
    body = client.get("/models/from%20logged/versions/1").text
    assert f'id="logged-model">{model_id}<' in body
    assert f'href="/runs/{run_id}"' in body
    assert 'data-path="model.pkl"' in body


def test_model_page_pages_through_many_versions(client: TestClient, api: Api) -> None:
    from ledgerflow.server.ui.models_pages import VERSIONS_PAGE

    eid = api.ok("post", "experiments/create", {"name": "many"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": eid})["run"]["info"]["run_id"]
    api.ok("post", "registered-models/create", {"name": "many"})
    total = VERSIONS_PAGE + 3
    for _ in range(total):
        api.ok(
            "post", "model-versions/create", {"name": "many", "source": f"runs:/{run_id}/m", "run_id": run_id}
        )
    first = client.get("/models/many").text
    numbers = [int(n) for n in re.findall(r'<tr data-version="(\d+)"', first)]
    assert numbers == list(range(total, total - VERSIONS_PAGE, -1))
    older = re.search(r'id="older-versions" href="([^"]+)"', first)
    assert older is not None
    rest = client.get(older.group(1)).text
    assert [int(n) for n in re.findall(r'<tr data-version="(\d+)"', rest)] == [3, 2, 1]
    assert 'id="older-versions"' not in rest and 'id="first-versions"' in rest
