"""governance.md check 7 through the policy engine: the ``evaluation`` facts feed a
``fairness`` rule ``demographic_parity_ratio.sex >= 0.8`` that fails at ratio 0.7, passes at
0.9, and errors (blocks) when every group is below ``min_group_size``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ledgerflow
from tests.governance.evaluation.support import Store, ThresholdModel, local_store, selection_frame

POLICY = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: fairness-gate}
scope: {models: ["*"]}
rules:
  - {id: four-fifths, type: fairness, metric: demographic_parity_ratio.sex, op: ">=", value: 0.8}
"""


def _gate(store: Store, version: str) -> dict[str, Any]:
    answer = store.call(
        "POST", "/2.0/ledgerflow/policies/evaluate", {"name": "credit", "version": version, "source": POLICY}
    )
    (rule,) = answer["evaluation"]["rules"]
    assert rule["id"] == "four-fifths"
    return dict(rule)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    found = local_store(tmp_path)
    found.call("POST", "/2.0/mlflow/registered-models/create", {"name": "credit"})
    for _ in range(3):
        found.call(
            "POST", "/2.0/mlflow/model-versions/create", {"name": "credit", "source": "mlflow-artifacts:/0/x"}
        )
    return found


def test_fairness_rule_fails_at_07_passes_at_09_and_errors_without_data(store: Store) -> None:
    for version, ratio, min_group_size in (("1", 0.7, 30), ("2", 0.9, 30), ("3", 0.9, 10_000)):
        ledgerflow.evaluate(
            ThresholdModel(),
            selection_frame(ratio),
            "y",
            sensitive="sex",
            name="credit",
            version=version,
            n_boot=0,
            robustness=None,
            min_group_size=min_group_size,
            tracking_uri=store.uri,
        )
    failed = _gate(store, "1")
    assert failed["result"] == "fail" and failed["observed"] == pytest.approx(0.7) and failed["blocking"]
    passed = _gate(store, "2")
    assert passed["result"] == "pass" and passed["observed"] == pytest.approx(0.9)
    no_data = _gate(store, "3")
    assert no_data["result"] == "error" and no_data["blocking"]
    facts = store.services.facts.collect("credit", 3)["evaluation"]
    assert facts["fairness_status"] == {"sex": "insufficient_data"} and facts["fairness"] == {}
