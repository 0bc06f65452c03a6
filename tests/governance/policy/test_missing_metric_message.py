"""A threshold rule whose metric the evaluation did not produce is an ``error`` that names the
section and the metric in full (the message a user sees from ``ledgerflow gate evaluate``)."""

from __future__ import annotations

import pytest

from ledgerflow.governance.policy.document import parse_document
from ledgerflow.governance.policy.engine import GateInputs, judge

_POLICY = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: p}
rules:
  - {id: acc, type: metric_threshold, metric: accuracy, op: ">=", value: 0.9}
  - {id: dir, type: fairness, metric: demographic_parity_ratio, op: ">=", value: 0.8}
  - {id: noise, type: robustness, metric: noise_accuracy, op: ">=", value: 0.9}
"""


@pytest.mark.parametrize(
    ("rule_id", "message"),
    [
        ("acc", "metric 'accuracy' is missing"),
        ("dir", "fairness metric 'demographic_parity_ratio' is missing"),
        ("noise", "robustness metric 'noise_accuracy' is missing"),
    ],
)
def test_missing_metric_is_an_error_naming_its_section(rule_id: str, message: str) -> None:
    policy = parse_document(_POLICY)
    facts = {
        "evaluation": {"metrics": {}, "fairness": {"demographic_parity_ratio.sex": 0.9}, "robustness": {}}
    }
    rule = next(rule for rule in policy.rules if rule.id == rule_id)
    result = judge(policy, rule, GateInputs("m", 1, "alias:champion", facts))
    assert (result.result, result.blocking, result.message) == ("error", True, message)
