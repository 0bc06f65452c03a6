"""``GovernanceClient``: policies, gate evaluations and four-eyes promotion from Python.

One method per REST call of ``/api/2.0/ledgerflow/policies`` and ``/promotion-requests``;
errors are :class:`~ledgerflow.errors.RestError` with the server's code (a failing gate is
``RESOURCE_CONFLICT``, an approval by the requester ``PERMISSION_DENIED``)::

    gov = GovernanceClient("http://ledgerflow:5000")
    gov.upload_policy(Path("policy.yaml").read_text())
    request = gov.request_promotion("credit-default", 3, "alias:champion", "beats v2")
    # ... a second person, holding the approver role:
    gov.approve(request["request_id"], "reviewed the evaluation")
    gov.promote(request["request_id"])
"""

from __future__ import annotations

from typing import Any

from ledgerflow.client.client import resolve_tracking_uri
from ledgerflow.client.transport import Transport, make_transport

_LF = "/2.0/ledgerflow"


class GovernanceClient:
    def __init__(self, tracking_uri: str | None = None, *, transport: Transport | None = None) -> None:
        self._transport = transport or make_transport(resolve_tracking_uri(tracking_uri))

    def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._transport.call(method, _LF + path, body)

    def close(self) -> None:
        self._transport.close()

    # -- policies ---------------------------------------------------------------------------

    def policy_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self._call("GET", "/policies/schema", {})["schema"]
        return schema

    def validate_policy(self, source: str) -> dict[str, Any]:
        return self._call("POST", "/policies/validate", {"source": source})

    def upload_policy(self, source: str) -> dict[str, Any]:
        policy: dict[str, Any] = self._call("POST", "/policies/create", {"source": source})["policy"]
        return policy

    def get_policy(self, name: str, version: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if version is not None:
            body["version"] = str(version)
        policy: dict[str, Any] = self._call("GET", "/policies/get", body)["policy"]
        return policy

    def list_policies(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/policies/list", {}).get("policies", [])
        return found

    def retire_policy(self, name: str) -> dict[str, Any]:
        policy: dict[str, Any] = self._call("POST", "/policies/retire", {"name": name})["policy"]
        return policy

    def evaluate(
        self, name: str, version: int | str, target: str | None = None, *, policy_source: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "version": str(version)}
        if target:
            body["target"] = target
        if policy_source:
            body["source"] = policy_source
        evaluation: dict[str, Any] = self._call("POST", "/policies/evaluate", body)["evaluation"]
        return evaluation

    def get_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call(
            "GET", "/policies/evaluations/get", {"evaluation_id": evaluation_id}
        )["evaluation"]
        return found

    def list_evaluations(self, name: str, version: int | str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call(
            "GET", "/policies/evaluations/list", {"name": name, "version": str(version)}
        ).get("evaluations", [])
        return found

    # -- promotion requests -----------------------------------------------------------------

    def _request(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = self._call("POST", path, body)["promotion_request"]
        return found

    def request_promotion(
        self, name: str, version: int | str, target: str, justification: str = ""
    ) -> dict[str, Any]:
        body = {"name": name, "version": str(version), "target": target, "justification": justification}
        return self._request("/promotion-requests/create", body)

    def get_promotion_request(self, request_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", "/promotion-requests/get", {"request_id": request_id})[
            "promotion_request"
        ]
        return found

    def list_promotion_requests(
        self, name: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        body = {key: value for key, value in (("name", name), ("status", status)) if value}
        found: list[dict[str, Any]] = self._call("GET", "/promotion-requests/list", body).get(
            "promotion_requests", []
        )
        return found

    def approve(self, request_id: str, comment: str = "") -> dict[str, Any]:
        return self._request("/promotion-requests/approve", {"request_id": request_id, "comment": comment})

    def reject(self, request_id: str, comment: str = "") -> dict[str, Any]:
        return self._request("/promotion-requests/reject", {"request_id": request_id, "comment": comment})

    def cancel(self, request_id: str) -> dict[str, Any]:
        return self._request("/promotion-requests/cancel", {"request_id": request_id})

    def promote(self, request_id: str) -> dict[str, Any]:
        return self._request("/promotion-requests/promote", {"request_id": request_id})

    def break_glass(self, name: str, version: int | str, target: str, reason: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call(
            "POST",
            "/promotions/break-glass",
            {"name": name, "version": str(version), "target": target, "reason": reason},
        )["promotion"]
        return found
