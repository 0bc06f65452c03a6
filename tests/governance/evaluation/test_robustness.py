"""governance.md check 8: deterministic noise and feature-drop tests on a seeded forest, and
the opt-in ART attack within max_rows and its wall-clock budget. The categorical-swap and
missing-value tests of the default tier: tests/governance/evaluation/test_robustness_tier1.py."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.evaluation.robustness import RobustnessOptions
from ledgerflow.governance.evaluation.runner import compute


@pytest.fixture(scope="module")
def forest() -> tuple[RandomForestClassifier, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
    frame["y"] = (frame["x0"] + 0.5 * frame["x1"] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(frame.drop(columns="y"), frame["y"])
    return model, frame


def test_default_tier_is_deterministic(forest: tuple[RandomForestClassifier, pd.DataFrame]) -> None:
    model, frame = forest
    runs = [compute(model, frame, "y", robustness=RobustnessOptions(seed=5)) for _ in range(2)]
    assert runs[0].robustness == runs[1].robustness
    assert runs[0].report["robustness"] == runs[1].report["robustness"]
    metrics = runs[0].robustness
    # All features numeric: no categorical swap; sklearn forests take missing values.
    assert set(metrics) == {
        "noise_0.05.accuracy_ratio",
        "noise_0.05.flip_rate",
        "feature_drop.max_accuracy_drop",
        "missing_0.1.accuracy_ratio",
        "missing_0.1.flip_rate",
        "missing_0.1.predict_failed",
    }
    assert metrics["missing_0.1.predict_failed"] == 0.0 and 0 < metrics["missing_0.1.flip_rate"] < 0.5
    # x0 carries the label: dropping it costs the most.
    table = runs[0].report["robustness"]["feature_drop"]
    assert max(table, key=table.get) == "x0"
    assert metrics["feature_drop.max_accuracy_drop"] == table["x0"] > 0.2
    other_seed = compute(model, frame, "y", robustness=RobustnessOptions(seed=6, noise_fraction=0.5))
    assert other_seed.robustness["noise_0.5.flip_rate"] > 0


def test_accuracy_ratio_gate_passes_or_fails_as_configured(
    forest: tuple[RandomForestClassifier, pd.DataFrame],
) -> None:
    model, frame = forest
    small = compute(model, frame, "y", robustness=RobustnessOptions(noise_fraction=0.05)).robustness
    large = compute(model, frame, "y", robustness=RobustnessOptions(noise_fraction=3.0)).robustness
    assert small["noise_0.05.accuracy_ratio"] >= 0.95
    assert large["noise_3.accuracy_ratio"] < 0.95


def test_hopskipjump_respects_max_rows_and_reports_robust_accuracy(
    forest: tuple[RandomForestClassifier, pd.DataFrame],
) -> None:
    model, frame = forest
    options = RobustnessOptions(
        tier="attacks", attack="hsj", max_rows=3, epsilon=0.1, max_iter=3, max_eval=50
    )
    result = compute(model, frame, "y", robustness=options)
    attack = result.report["robustness"]["attack"]
    assert attack["rows_selected"] == 3 and attack["rows_attacked"] == 3 and not attack["budget_exhausted"]
    value = result.robustness["hsj.robust_accuracy_eps_0.1"]
    assert 0.0 <= value <= result.metrics["accuracy"]


def test_attack_stops_at_its_wall_clock_budget(forest: tuple[RandomForestClassifier, pd.DataFrame]) -> None:
    model, frame = forest
    options = RobustnessOptions(
        tier="attacks", attack="boundary", max_rows=50, budget_seconds=0.5, max_iter=4
    )
    started = time.monotonic()
    result = compute(model, frame, "y", robustness=options)
    attack = result.report["robustness"]["attack"]
    assert attack["rows_selected"] == 50
    assert attack["budget_exhausted"] and 1 <= attack["rows_attacked"] < 50
    # One row may be in flight when the budget runs out; nothing starts after it.
    assert time.monotonic() - started < 30


def test_attacks_need_numeric_features() -> None:
    frame = pd.DataFrame({"x": [0.0, 1.0] * 20, "c": ["a", "b"] * 20, "y": [0, 1] * 20})

    class Model:
        def predict(self, data: pd.DataFrame) -> Any:
            return (data["x"] > 0.5).astype(int).to_numpy()

    with pytest.raises(InvalidParameter, match="numeric features"):
        compute(Model(), frame, "y", robustness=RobustnessOptions(tier="attacks"))
