"""A governed registry for policy tests: an auth-on server with the promotion gate, users per
duty, a model with one version whose files are real, evaluation facts through the real
evaluation endpoint, and dict-backed fact sources for the namespaces whose subsystems are not
on the services container yet (scan, signature, sbom)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from starlette.testclient import TestClient

PASSWORD = "Policy-Password-Strong-1"
ADMIN = "root"
LF = "/api/2.0/ledgerflow"


def basic(username: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class DictFacts:
    """A real FactSource whose answers the test sets (for subsystems not yet registered)."""

    namespace: str
    by_version: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def facts_for(self, name: str, version: int) -> dict[str, Any]:
        return dict(self.by_version.get((name, version), {}))


@dataclass
class World:
    client: TestClient
    model: str
    experiment_id: str
    run_id: str
    sources: dict[str, DictFacts]
    model_dirs: list[str] = field(default_factory=list)

    @property
    def services(self) -> Any:
        return self.client.app.state.services  # type: ignore[attr-defined]

    def as_user(self, user: str) -> dict[str, str]:
        return basic(user)

    def call(self, user: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if method == "GET":
            return self.client.get(path, params=body or {}, headers=basic(user))
        return self.client.request(method, path, json=body or {}, headers=basic(user))

    def new_version(self, content: bytes = b"model-bytes") -> int:
        # Each version its own folder: a later version must not change an earlier one's files.
        self.model_dirs.append(f"{self.experiment_id}/{self.run_id}/artifacts/model-{len(self.model_dirs)}")
        path = self.model_dirs[-1]
        put = self.client.put(
            f"/api/2.0/mlflow-artifacts/artifacts/{path}/model.pkl", content=content, headers=basic("alice")
        )
        assert put.status_code == 200, put.text
        created = ok(
            self.call(
                "alice",
                "POST",
                "/api/2.0/mlflow/model-versions/create",
                {"name": self.model, "source": f"mlflow-artifacts:/{path}", "run_id": self.run_id},
            )
        )
        return int(created["model_version"]["version"])

    def good_facts(self, version: int, **metrics: float) -> None:
        ok(
            self.call(
                ADMIN,
                "POST",
                f"{LF}/evaluations/create",
                {
                    "name": self.model,
                    "version": str(version),
                    "task": "classification",
                    "row_count": 100,
                    "metrics": metrics or {"accuracy": 0.95},
                    "dataset_digest": "ab" * 32,
                },
            )
        )
        for namespace, value in (
            ("scan", {"status": "clean", "scanner_version": "t", "allowlist_version": "t", "findings": []}),
            ("signature", {"status": "valid", "key_id": "ci-2026", "manifest_digest": None, "reason": None}),
            ("sbom", {"present": True, "digest": "0" * 64}),
        ):
            if namespace in self.sources:
                self.sources[namespace].by_version[(self.model, version)] = value

    def upload_policy(self, source: str) -> Any:
        return self.call(ADMIN, "POST", f"{LF}/policies/create", {"source": source})


def build_world(client: TestClient) -> World:
    services = client.app.state.services  # type: ignore[attr-defined]
    sources: dict[str, DictFacts] = {}
    for namespace in ("scan", "signature", "sbom"):
        if namespace not in services.facts.namespaces():
            sources[namespace] = DictFacts(namespace)
            services.facts.register(sources[namespace])
    auth = services.auth
    auth.create_user(ADMIN, PASSWORD, is_admin=True)
    for user in ("alice", "bob", "carol", "dave"):
        auth.create_user(user, PASSWORD)
    eid = ok(client.post("/api/2.0/mlflow/experiments/create", json={"name": "gov"}, headers=basic(ADMIN)))[
        "experiment_id"
    ]
    model = "credit-default"
    ok(client.post("/api/2.0/mlflow/registered-models/create", json={"name": model}, headers=basic(ADMIN)))
    # alice trains (run owner) and requests; bob and carol approve; dave promotes and requests.
    for user, role in (("alice", "manager"), ("dave", "manager"), ("bob", "approver"), ("carol", "approver")):
        services.authz.grant("experiment", eid, "user", user, "editor", actor=None)
        services.authz.grant("registered_model", model, "user", user, role, actor=None)
    run = ok(
        client.post(
            "/api/2.0/mlflow/runs/create",
            json={"experiment_id": eid, "user_id": "alice"},
            headers=basic("alice"),
        )
    )
    return World(client, model, eid, run["run"]["info"]["run_id"], sources)


POLICY = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: credit-prod}
scope: {models: ["credit-*"], targets: ["alias:champion", "stage:Production"]}
rules:
  - {id: acc, type: metric_threshold, metric: accuracy, op: ">=", value: 0.9}
  - {id: scan, type: scan_clean}
  - {id: sig, type: signature_valid}
  - {id: sbom, type: sbom_present}
  - {id: 4eyes, type: approvals, min: 1}
  - {id: lat, type: expr, cel: "metrics['accuracy'] > 0.99", severity: warn}
"""
