"""Helpers for the audit-trail tests: reading records through the audit API."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

RECORDS = "/api/2.0/ledgerflow/audit/records"


def records(api: Api, **filters: Any) -> list[dict[str, Any]]:
    """Every audit record matching ``filters``, oldest first, following page tokens."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"max_results": 1000, **filters}
    while True:
        response = api.client.get(RECORDS, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body.get("records", []))
        if "next_page_token" not in body:
            return list(reversed(found))
        params["page_token"] = body["next_page_token"]


def changes(api: Api) -> list[dict[str, Any]]:
    """Records of client requests (not the server's own start-up records)."""
    return [record for record in records(api) if record["actor"] != "system"]


def post(api: Api, path: str, body: dict[str, Any], request_id: str | None = None) -> Any:
    headers = {"X-Request-Id": request_id} if request_id else {}
    return api.client.post(f"/api/2.0/mlflow/{path}", json=body, headers=headers)
