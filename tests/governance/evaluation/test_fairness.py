"""governance.md check 7: the fairness numbers that feed a selection-rate gate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, demographic_parity_ratio, equalized_odds_difference

from ledgerflow.governance.evaluation.fairness import FairnessOptions, evaluate_fairness
from ledgerflow.governance.evaluation.runner import compute
from tests.governance.evaluation.support import ThresholdModel, selection_frame


def _ratio_gate(ratio: float) -> tuple[float, dict[str, Any]]:
    frame = selection_frame(ratio)
    result = compute(ThresholdModel(), frame, "y", sensitive=["sex"], fairness=FairnessOptions(n_boot=50))
    return result.fairness["demographic_parity_ratio.sex"], result.report["fairness"]["sex"]


def test_ratio_07_fails_a_four_fifths_gate_and_shows_the_group_table() -> None:
    value, report = _ratio_gate(0.7)
    assert value == pytest.approx(0.7, abs=1e-12)
    assert not value >= 0.8
    groups = report["groups"]
    assert set(groups) == {"a", "b"}
    assert groups["a"]["selection_rate"] == pytest.approx(0.5) and groups["a"]["count"] == 500
    assert groups["b"]["selection_rate"] == pytest.approx(0.35)
    low, high = report["confidence_intervals"]["demographic_parity_ratio.sex"]
    assert low <= 0.7 <= high and high - low < 0.3


def test_ratio_09_passes() -> None:
    value, _ = _ratio_gate(0.9)
    assert value == pytest.approx(0.9, abs=1e-12) and value >= 0.8


def test_values_match_fairlearn_metricframe() -> None:
    rng = np.random.default_rng(7)
    n = 900
    frame = pd.DataFrame(
        {
            "score": rng.normal(size=n),
            "sex": rng.choice(["f", "m"], n),
            "age_band": rng.choice(["<30", "30-50", ">50"], n),
        }
    )
    frame["y"] = (frame["score"] + rng.normal(scale=0.8, size=n) > 0).astype(int)
    predicted = pd.Series(ThresholdModel().predict(frame), index=frame.index)
    result = evaluate_fairness(
        frame, frame["y"], predicted, ["sex", "age_band"], "classification", FairnessOptions(n_boot=0)
    )
    for column in ("sex", "age_band"):
        expected = demographic_parity_ratio(frame["y"], predicted, sensitive_features=frame[column])
        assert abs(result["metrics"][f"demographic_parity_ratio.{column}"] - expected) < 1e-9
        expected = equalized_odds_difference(frame["y"], predicted, sensitive_features=frame[column])
        assert abs(result["metrics"][f"equalized_odds_difference.{column}"] - expected) < 1e-9
        reference = MetricFrame(
            metrics={"acc": lambda t, p: float(np.mean(t == p)), "sel": lambda t, p: float(np.mean(p == 1))},
            y_true=frame["y"],
            y_pred=predicted,
            sensitive_features=frame[column],
        )
        for group, row in reference.by_group.iterrows():
            mine = result["features"][column]["groups"][str(group)]
            assert abs(mine["accuracy"] - row["acc"]) < 1e-9
            assert abs(mine["selection_rate"] - row["sel"]) < 1e-9
        assert (
            abs(result["metrics"][f"demographic_parity_difference.{column}"] - reference.difference()["sel"])
            < 1e-9
        )
    # Several sensitive columns also give their intersection.
    intersection = MetricFrame(
        metrics=lambda t, p: float(np.mean(p == 1)),
        y_true=frame["y"],
        y_pred=predicted,
        sensitive_features=frame[["sex", "age_band"]],
    )
    assert abs(result["metrics"]["demographic_parity_ratio.sex:age_band"] - intersection.ratio()) < 1e-9


def test_small_group_is_insufficient_data_and_left_out() -> None:
    frame = selection_frame(0.7)
    tiny = pd.DataFrame({"score": [-1.0] * 10, "sex": "c", "y": [0, 1] * 5})
    frame = pd.concat([frame, tiny], ignore_index=True)
    result = compute(
        ThresholdModel(), frame, "y", sensitive=["sex"], fairness=FairnessOptions(min_group_size=30, n_boot=0)
    )
    assert result.fairness_status == {"sex": "insufficient_data"}
    assert result.report["fairness"]["sex"]["small_groups"] == ["c"]
    # Group c (selection rate 0) would make the ratio 0; it is reported, not counted.
    assert result.fairness["demographic_parity_ratio.sex"] == pytest.approx(0.7)
    only_small = compute(
        ThresholdModel(),
        frame,
        "y",
        sensitive=["sex"],
        fairness=FairnessOptions(min_group_size=600, n_boot=0),
    )
    assert only_small.fairness == {} and only_small.fairness_status == {"sex": "insufficient_data"}


def test_bootstrap_is_seeded() -> None:
    frame = selection_frame(0.8)
    runs = [
        compute(ThresholdModel(), frame, "y", sensitive=["sex"], fairness=FairnessOptions(n_boot=30, seed=3))
        for _ in range(2)
    ]
    assert runs[0].report["fairness"] == runs[1].report["fairness"]


def test_regression_metrics_and_group_errors() -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_absolute_error, r2_score

    from ledgerflow.governance.evaluation.robustness import RobustnessOptions

    rng = np.random.default_rng(2)
    n = 600
    frame = pd.DataFrame({"x": rng.normal(size=n), "region": rng.choice(["n", "s"], n)})
    # The south is noisier: its mean absolute error is larger.
    noise = np.where(frame["region"] == "s", 2.0, 0.5) * rng.normal(size=n)
    frame["y"] = 3.0 * frame["x"] + noise
    model = LinearRegression().fit(frame[["x"]], frame["y"])
    result = compute(
        model,
        frame,
        "y",
        sensitive=["region"],
        fairness=FairnessOptions(n_boot=20),
        robustness=RobustnessOptions(),
    )
    predicted = model.predict(frame[["x"]])
    assert result.task == "regression"
    assert result.metrics["r2"] == pytest.approx(r2_score(frame["y"], predicted), abs=1e-12)
    assert result.metrics["mae"] == pytest.approx(mean_absolute_error(frame["y"], predicted), abs=1e-12)
    by_region = MetricFrame(
        metrics=mean_absolute_error, y_true=frame["y"], y_pred=predicted, sensitive_features=frame["region"]
    )
    assert abs(result.fairness["mae_difference.region"] - by_region.difference()) < 1e-9
    assert abs(result.fairness["mae_ratio.region"] - by_region.ratio()) < 1e-9
    assert result.robustness["noise_0.05.rmse_ratio"] >= 1.0
    assert "feature_drop.max_rmse_increase" in result.robustness


def test_the_model_gets_only_its_declared_inputs() -> None:
    from sklearn.linear_model import LogisticRegression

    from ledgerflow.errors import InvalidParameter

    frame = selection_frame(0.8).assign(note="free text", extra=1.0)
    model = LogisticRegression().fit(frame[["score"]], frame["y"])
    result = compute(model, frame, "y", sensitive=["sex"], fairness=FairnessOptions(n_boot=0))
    assert "roc_auc" in result.metrics and "demographic_parity_ratio.sex" in result.fairness
    with pytest.raises(InvalidParameter, match=r"lacks the model's input column\(s\) \['score'\]"):
        compute(model, frame.drop(columns=["score"]), "y")
