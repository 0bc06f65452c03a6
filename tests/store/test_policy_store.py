"""Policy and promotion-request tables on every backend: policy versions (newest in force,
retire), evaluation records, promotion requests with approvals, and the registry move they
end in (promotion gate on, an approved request executed)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.security.auth.identity import ALL_SCOPES, Identity, bind_identity
from tests.conftest import Api

LF = "/api/2.0/ledgerflow"
POLICY = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: store-policy}
scope: {models: ["m*"]}
rules:
  - {id: acc, type: metric_threshold, metric: accuracy, op: ">=", value: 0.5, severity: warn}
"""


def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_policy_tables_round_trip(make_client: Any, server_config: ServerConfig, tmp_path: Any) -> None:
    client: TestClient = make_client(replace(server_config, promotion_gate=True))
    api = Api(client)
    services = client.app.state.services  # type: ignore[attr-defined]
    first = _ok(client.post(f"{LF}/policies/create", json={"source": POLICY}))["policy"]
    second = _ok(client.post(f"{LF}/policies/create", json={"source": POLICY.replace("0.5", "0.6")}))[
        "policy"
    ]
    assert (first["version"], second["version"]) == (1, 2) and first["digest"] != second["digest"]
    listed = _ok(client.get(f"{LF}/policies/list"))["policies"]
    assert [(p["name"], p["version"]) for p in listed] == [("store-policy", 2)]
    assert (
        _ok(client.get(f"{LF}/policies/get", params={"name": "store-policy", "version": "1"}))["policy"][
            "digest"
        ]
        == first["digest"]
    )

    eid = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": eid})["run"]["info"]["run_id"]
    path = f"{eid}/{run_id}/artifacts/model"
    assert client.put(f"/api/2.0/mlflow-artifacts/artifacts/{path}/f.bin", content=b"abc").status_code == 200
    api.ok("post", "registered-models/create", {"name": "m1"})
    api.ok(
        "post",
        "model-versions/create",
        {"name": "m1", "source": f"mlflow-artifacts:/{path}", "run_id": run_id},
    )
    evaluation = _ok(client.post(f"{LF}/policies/evaluate", json={"name": "m1", "version": "1"}))[
        "evaluation"
    ]
    listed_evals = _ok(client.get(f"{LF}/policies/evaluations/list", params={"name": "m1", "version": "1"}))
    assert [e["evaluation_id"] for e in listed_evals["evaluations"]] == [evaluation["evaluation_id"]]

    request = _ok(
        client.post(
            f"{LF}/promotion-requests/create",
            json={"name": "m1", "version": "1", "target": "alias:champion", "justification": "é ünïcode"},
        )
    )["promotion_request"]
    assert request["justification"] == "é ünïcode"
    with bind_identity(Identity(None, "second-person", "user", True, ALL_SCOPES)):
        approved = services.promotions.decide(request["request_id"], True, "fine")
    assert approved["status"] == "APPROVED" and approved["approvals"][0]["approver"] == "second-person"
    promoted = _ok(
        client.post(f"{LF}/promotion-requests/promote", json={"request_id": request["request_id"]})
    )
    assert promoted["promotion_request"]["status"] == "PROMOTED"
    assert (
        api.ok("get", "registered-models/alias", {"name": "m1", "alias": "champion"})["model_version"][
            "version"
        ]
        == "1"
    )
    assert [
        r["status"]
        for r in _ok(client.get(f"{LF}/promotion-requests/list", params={"name": "m1"}))["promotion_requests"]
    ] == ["PROMOTED"]

    # An open request past its expiry is EXPIRED when next read.
    stale = _ok(
        client.post(
            f"{LF}/promotion-requests/create",
            json={"name": "m1", "version": "1", "target": "stage:Production"},
        )
    )["promotion_request"]
    from ledgerflow.store.governance.policy_schema import promotion_requests

    with services.db.write() as conn:
        conn.execute(
            promotion_requests.update()
            .where(promotion_requests.c.request_id == stale["request_id"])
            .values(expires_at=1)
        )
    expired = _ok(client.get(f"{LF}/promotion-requests/get", params={"request_id": stale["request_id"]}))
    assert expired["promotion_request"]["status"] == "EXPIRED"

    _ok(client.post(f"{LF}/policies/retire", json={"name": "store-policy"}))
    assert _ok(client.get(f"{LF}/policies/list")).get("policies", []) == []
