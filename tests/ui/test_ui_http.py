"""The UI over plain HTTP (no browser): headers, escaping, error pages and artifact bytes."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import Api

HTML = {"accept": "text/html"}
XSS = "<img src=x onerror=alert(1)>"
SCRIPT_TAG = '<script src="/static/hash_routes.js"></script>'


def make_run(api: Api, name: str = "r", experiment: str = "exp") -> tuple[str, str]:
    eid = api.ok("post", "experiments/create", {"name": experiment})["experiment_id"]
    run = api.ok(
        "post", "runs/create", {"experiment_id": eid, "run_name": name, "start_time": 1_700_000_000_000}
    )
    return str(eid), str(run["run"]["info"]["run_id"])


def put_artifact(client: TestClient, eid: str, run_id: str, path: str, data: bytes) -> None:
    response = client.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{run_id}/artifacts/{path}", content=data
    )
    assert response.status_code == 200, response.text


def assert_security_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[-1].split(";")[0]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"]


def test_every_ui_response_carries_security_headers(client: TestClient, api: Api) -> None:
    eid, run_id = make_run(api)
    for path in (
        "/",
        f"/experiments/{eid}",
        f"/runs/{run_id}",
        "/static/ui.css",
        "/runs/nope",
        "/experiments/999",
    ):
        response = client.get(path, headers=HTML)
        assert_security_headers(response)
    css = client.get("/static/ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/../templates/base.html").status_code == 404


def test_pages_have_no_inline_script_or_style(client: TestClient, api: Api) -> None:
    eid, run_id = make_run(api)
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}]},
    )
    for path in ("/", f"/experiments/{eid}", f"/runs/{run_id}"):
        body = client.get(path, headers=HTML).text
        # The one script is our own static file (CSP: script-src 'self'); nothing inline.
        assert re.findall(r"<script[^>]*>.*?</script>", body, re.S) == [SCRIPT_TAG]
        assert body.count("<script") == 1
        assert " style=" not in body and "<style" not in body
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", body)


def test_user_strings_are_escaped_in_the_html(client: TestClient, api: Api) -> None:
    eid, run_id = make_run(api, name=XSS, experiment=f"e {XSS}")
    api.ok(
        "post",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"key": "p", "value": XSS}], "tags": [{"key": "t", "value": XSS}]},
    )
    for path in ("/", f"/experiments/{eid}", f"/runs/{run_id}"):
        body = client.get(path, headers=HTML).text
        assert XSS not in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_missing_and_malformed_ids_get_an_html_error_page(client: TestClient, api: Api) -> None:
    missing = client.get("/runs/0123456789abcdef0123456789abcdef", headers=HTML)
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]
    assert "not found" in missing.text.lower()
    bad = client.get("/experiments/<b>x</b>", headers=HTML)
    assert bad.status_code in (400, 404)
    assert "<b>x</b>" not in bad.text
    gone = client.get("/experiments/12345", headers=HTML)
    assert gone.status_code == 404 and "12345" in gone.text


def test_control_characters_never_reach_the_html(client: TestClient, api: Api) -> None:
    """A NUL or an escape character from the URL or the store is shown as U+FFFD: HTML
    escaping leaves control characters as they are."""
    eid, run_id = make_run(api, name="run\x1bname", experiment="exp\x07name")
    api.ok("post", "runs/log-batch", {"run_id": run_id, "params": [{"key": "p", "value": "a\x01b"}]})
    for path in (
        "/runs/%00",
        "/logged-models/%00",
        f"/experiments/{eid}?filter=%00",
        f"/experiments/{eid}?m=%1b",
        "/",
        f"/experiments/{eid}",
        f"/runs/{run_id}",
    ):
        page = client.get(path, headers=HTML)
        assert page.status_code < 500, (path, page.status_code)
        assert not any(ord(c) < 0x20 and c not in "\t\n\r" for c in page.text), path
    assert "a\ufffdb" in client.get(f"/runs/{run_id}", headers=HTML).text


def test_a_bad_filter_or_sort_is_a_message_on_a_200_page(client: TestClient, api: Api) -> None:
    eid, _ = make_run(api)
    for query in (
        {"filter": "metrics.acc >> 1"},
        {"filter": "params.x = 'a' OR params.y = 'b'"},
        {"order_by": "metrics.acc SIDEWAYS"},
    ):
        response = client.get(f"/experiments/{eid}", params=query, headers=HTML)
        assert response.status_code == 200
        assert 'id="filter-error"' in response.text
    bad_search = client.get("/", params={"q": "name = "}, headers=HTML)
    assert bad_search.status_code == 200 and 'id="filter-error"' in bad_search.text


def test_experiment_search_box_matches_names(client: TestClient, api: Api) -> None:
    api.ok("post", "experiments/create", {"name": "vision-resnet"})
    api.ok("post", "experiments/create", {"name": "nlp-bert"})
    body = client.get("/", params={"q": "resnet"}, headers=HTML).text
    assert "vision-resnet" in body and "nlp-bert" not in body
    body = client.get("/", params={"q": "name LIKE 'nlp%'"}, headers=HTML).text
    assert "nlp-bert" in body and "vision-resnet" not in body


def test_charts_survive_non_finite_values_and_long_histories(client: TestClient, api: Api) -> None:
    _, run_id = make_run(api)
    points = [{"key": "long", "value": i * 0.5, "timestamp": i, "step": i} for i in range(2500)]
    for start in range(0, len(points), 1000):
        api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": points[start : start + 1000]})
    odd = [
        {"key": "odd", "value": 1.0, "timestamp": 1, "step": 0},
        {"key": "odd", "value": "NaN", "timestamp": 2, "step": 1},
        {"key": "odd", "value": 3.0, "timestamp": 3, "step": 2},
    ]
    api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": odd})
    body = client.get(f"/runs/{run_id}", headers=HTML).text
    assert 'data-metric="odd" data-points="2"' in body
    assert "1 non-finite value not shown" in body
    assert 'data-metric="long" data-points="2000"' in body
    assert "sampled: 2000 of 2500 points" in body


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "a/../../b", "a\\b", ""])
def test_artifact_route_rejects_paths_leaving_the_run(client: TestClient, api: Api, path: str) -> None:
    _, run_id = make_run(api)
    response = client.get(f"/runs/{run_id}/artifact", params={"path": path}, headers=HTML)
    assert response.status_code == 400
    page = client.get(f"/runs/{run_id}", params={"artifact": path}, headers=HTML)
    assert page.status_code == 200
    assert "root:" not in page.text


def test_only_raster_images_are_served_inline(client: TestClient, api: Api) -> None:
    eid, run_id = make_run(api)
    put_artifact(client, eid, run_id, "page.html", b"<script>alert(1)</script>")
    put_artifact(
        client, eid, run_id, "pic.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"
    )
    put_artifact(client, eid, run_id, "pic.png", b"\x89PNG\r\n\x1a\n")
    for name in ("page.html", "pic.svg"):
        for inline in ("0", "1"):
            response = client.get(f"/runs/{run_id}/artifact", params={"path": name, "inline": inline})
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/octet-stream"
            assert response.headers["content-disposition"].startswith("attachment;")
            assert "sandbox" in response.headers["content-security-policy"]
            assert response.headers["x-content-type-options"] == "nosniff"
    image = client.get(f"/runs/{run_id}/artifact", params={"path": "pic.png", "inline": "1"})
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline;")
    download = client.get(f"/runs/{run_id}/artifact", params={"path": "pic.png"})
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.content == b"\x89PNG\r\n\x1a\n"
    preview = client.get(f"/runs/{run_id}", params={"artifact": "page.html"}, headers=HTML).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in preview


def test_artifact_names_with_spaces_and_unicode(client: TestClient, api: Api) -> None:
    eid, run_id = make_run(api)
    put_artifact(client, eid, run_id, "my dir/résumé notes.txt", "naïve text".encode())
    body = client.get(f"/runs/{run_id}", params={"artifact": "my dir/résumé notes.txt"}, headers=HTML).text
    assert "naïve text" in body
    assert 'data-path="my dir"' in body and "open" in body.split('data-path="my dir"')[0][-40:]
    response = client.get(f"/runs/{run_id}/artifact", params={"path": "my dir/résumé notes.txt"})
    assert response.status_code == 200 and response.content == "naïve text".encode()
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20notes.txt" in response.headers["content-disposition"]


def test_csv_preview_is_capped(client: TestClient, api: Api) -> None:
    eid, run_id = make_run(api)
    rows = "\n".join(f"{i},{i * 2}" for i in range(500))
    put_artifact(client, eid, run_id, "big.csv", f"a,b\n{rows}\n".encode())
    body = client.get(f"/runs/{run_id}", params={"artifact": "big.csv"}, headers=HTML).text
    table = body.split('id="preview-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 101  # header plus the first 100 rows
    assert "First 100 rows." in body
