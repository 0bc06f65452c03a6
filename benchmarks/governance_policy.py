"""Policy gate latency: a 10-rule policy (metric thresholds, champion comparison, fairness,
robustness, scan, signature, SBOM, secrets, approvals, CEL) evaluated for one model version.

    .venv/bin/python benchmarks/governance_policy.py               # 200 rounds
    .venv/bin/python benchmarks/governance_policy.py --rounds 50

Method: an in-process server (SQLite in a temporary directory, signing at registration on) gets
a registered model with two versions, each with a small model file, an evaluation posted
through the REST API, and a dict-backed scan fact source (the scanning subsystem is not wired
into the services container yet). Three figures, each the median (p50) and p95 over
``--rounds`` timed calls after 5 untimed ones:

* ``engine``: the pure engine on collected inputs (``engine.evaluate``);
* ``gate_unrecorded``: ``PolicyService.evaluate(record=False)``: fact collection from every
  source, the champion's facts, the manifest digest of the version's files, and the engine;
* ``gate_recorded``: the same plus the stored, audited and attested evaluation record.

Target: gate p50 <= 50 ms. The JSON result lands in
``benchmarks/results/<time>-governance-policy.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MS = 50.0
POLICY = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: bench}
scope: {models: ["bench-*"], targets: ["alias:champion"]}
rules:
  - {id: acc, type: metric_threshold, metric: accuracy, op: ">=", value: 0.8}
  - {id: auc, type: metric_threshold, metric: roc_auc, op: ">=", value: 0.7}
  - {id: nore, type: metric_vs_champion, metric: accuracy, min_relative_change: -0.05}
  - {id: dpr, type: fairness, metric: demographic_parity_ratio, op: ">=", value: 0.8}
  - {id: noise, type: robustness, metric: gaussian_noise_accuracy_ratio, op: ">=", value: 0.9}
  - {id: scan, type: scan_clean}
  - {id: sig, type: signature_valid}
  - {id: sbom, type: sbom_present, severity: warn}
  - {id: sec, type: no_secrets}
  - {id: lat, type: expr, cel: "metrics['accuracy'] - champion.metrics['accuracy'] > -0.05", severity: warn}
"""


class ScanFacts:
    namespace = "scan"

    def facts_for(self, name: str, version: int) -> dict[str, Any]:
        return {"status": "clean", "scanner_version": "bench", "allowlist_version": "bench", "findings": []}


def _timed(fn: Callable[[], Any], rounds: int) -> dict[str, float]:
    for _ in range(5):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p95_ms": samples[int(len(samples) * 0.95) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    from starlette.testclient import TestClient

    from ledgerflow.config import ServerConfig
    from ledgerflow.governance.policy.document import parse_document
    from ledgerflow.governance.policy.engine import GateInputs, evaluate
    from ledgerflow.server.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        config = ServerConfig(
            backend_store_uri=f"sqlite:///{tmp}/bench.db",
            artifacts_destination=f"{tmp}/artifacts",
            sign_models_at_registration=True,
            promotion_gate=True,
        )
        with TestClient(create_app(config)) as client:
            services = client.app.state.services  # type: ignore[attr-defined]
            if "scan" not in services.facts.namespaces():
                services.facts.register(ScanFacts())
            api = "/api/2.0/mlflow"
            eid = client.post(f"{api}/experiments/create", json={"name": "bench"}).json()["experiment_id"]
            run_id = client.post(f"{api}/runs/create", json={"experiment_id": eid}).json()["run"]["info"][
                "run_id"
            ]
            client.post(f"{api}/registered-models/create", json={"name": "bench-model"})
            for number in (1, 2):
                path = f"{eid}/{run_id}/artifacts/model-{number}"
                client.put(f"/api/2.0/mlflow-artifacts/artifacts/{path}/model.pkl", content=b"x" * 50_000)
                client.post(
                    f"{api}/model-versions/create",
                    json={"name": "bench-model", "source": f"mlflow-artifacts:/{path}", "run_id": run_id},
                )
                client.post(
                    "/api/2.0/ledgerflow/evaluations/create",
                    json={
                        "name": "bench-model",
                        "version": str(number),
                        "task": "classification",
                        "row_count": 1000,
                        "dataset_digest": "ab" * 32,
                        "metrics": {"accuracy": 0.9, "roc_auc": 0.85},
                        "fairness": {"demographic_parity_ratio": 0.9},
                        "robustness": {"gaussian_noise_accuracy_ratio": 0.97},
                    },
                )
            services.policies.upload(POLICY)
            from ledgerflow.governance.approvals.gate import Execution, executing

            with executing(Execution(break_glass_reason="benchmark set-up")):
                services.registry.aliases.set("bench-model", "champion", "1")
            document = parse_document(POLICY)
            subject = services.policies.subject("bench-model", 2)
            inputs = GateInputs(
                "bench-model",
                2,
                "alias:champion",
                subject.facts,
                subject.manifest_digest,
                services.policies.champion("bench-model", "alias:champion"),
                now_ms=int(time.time() * 1000),
            )
            check = evaluate([document], inputs)
            recorded = _timed(
                lambda: services.policies.evaluate("bench-model", 2, "alias:champion"), args.rounds
            )
            results: dict[str, Any] = {
                "rules": len(check.rules),
                "decision": check.decision,
                "results": {r.id: r.result for r in check.rules},
                "engine": _timed(lambda: evaluate([document], inputs), args.rounds),
                "gate_unrecorded": _timed(
                    lambda: services.policies.evaluate("bench-model", 2, "alias:champion", record=False),
                    args.rounds,
                ),
                "gate_recorded": recorded,
            }
    results["target_p50_ms"] = TARGET_MS
    results["met"] = recorded["p50_ms"] <= TARGET_MS
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-governance-policy.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
