"""The audit trail page: lists records newest first, filters them, escapes what clients wrote."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.conftest import Api


def _seqs(html: str) -> list[int]:
    return [int(seq) for seq in re.findall(r'data-seq="(\d+)"', html)]


def test_audit_page_lists_and_filters_records(client: TestClient, api: Api) -> None:
    api.ok("post", "experiments/create", {"name": "e"})
    api.ok("post", "registered-models/create", {"name": "<b onmouseover=x>m<b>"})
    page = client.get("/audit")
    assert page.status_code == 200
    seqs = _seqs(page.text)
    # Newest first, with the server's own start-up records (signing keys) at the bottom.
    assert seqs == list(range(len(seqs), 0, -1)) and len(seqs) >= 3
    assert "registry.create_registered_model" in page.text
    assert "<b onmouseover=x>" not in page.text
    assert "&lt;b onmouseover=x&gt;m&lt;" in page.text
    filtered = client.get("/audit", params={"action": "experiments.create_experiment"})
    assert _seqs(filtered.text) == [seqs[1]]
    assert client.get("/audit", params={"outcome": "denied"}).text.count("data-seq=") == 0


def test_audit_page_shows_a_bad_filter_inline(client: TestClient) -> None:
    page = client.get("/audit", params={"since": "not a date"})
    assert page.status_code == 200
    assert 'id="filter-error"' in page.text and "since" in page.text
