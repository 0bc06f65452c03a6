"""The rest of the default robustness tier (governance.md section 2): categorical swap (k% of
each categorical column's values changed to another value seen in that column) and missing-value
injection (k% of every column set missing), deterministic under a seed, as metrics a policy
gates on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import ledgerflow
from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.evaluation.robustness import RobustnessOptions
from ledgerflow.governance.evaluation.runner import compute
from tests.governance.evaluation.support import local_store

N = 500
COLORS = ("red", "green", "blue")


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=N),
            "color": rng.choice(COLORS, N),
            "member": rng.random(N) < 0.5,
            "count": rng.integers(0, 5, N),
        }
    )
    # The label is mostly the colour: swapping colours must cost accuracy.
    frame["y"] = ((frame["color"] == "red") | ((frame["color"] == "green") & (frame["x"] > 1))).astype(int)
    return frame


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    frame = _frame()
    encode = ColumnTransformer(
        [("color", OneHotEncoder(handle_unknown="ignore"), ["color"])], remainder="passthrough"
    )
    model = Pipeline(
        [("encode", encode), ("forest", RandomForestClassifier(n_estimators=20, random_state=0))]
    )
    return model.fit(frame.drop(columns="y"), frame["y"])


class Recorder:
    """Predicts with *model* and keeps every frame it was given."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.seen: list[pd.DataFrame] = []

    def predict(self, data: pd.DataFrame) -> Any:
        self.seen.append(data.copy())
        return self.model.predict(data)


def test_categorical_swap_changes_k_percent_to_other_observed_values(pipeline: Pipeline) -> None:
    frame = _frame()
    recorder = Recorder(pipeline)
    result = compute(recorder, frame, "y", robustness=RobustnessOptions(seed=3, swap_fraction=0.2))
    features = frame.drop(columns="y")
    # The swap frame: both categorical columns moved (feature drop moves one), nothing missing.
    swapped = [
        f
        for f in recorder.seen
        if (f["color"] != features["color"]).any()
        and (f["member"] != features["member"]).any()
        and not f.isna().any().any()
    ]
    assert len(swapped) == 1
    changed = swapped[0]
    for column in ("color", "member"):
        moved = changed[column] != features[column]
        assert int(moved.sum()) == round(0.2 * N)  # exactly k% of the rows, each to another value
        assert (
            set(changed[column]) <= set(features[column]) and changed[column].dtype == features[column].dtype
        )
    # Numeric columns are not categorical, whatever their values look like.
    assert (changed["count"] == features["count"]).all()
    report = result.report["robustness"]["categorical_swap"]
    assert report == {"fraction": 0.2, "rows_swapped": {"color": 100, "member": 100}}
    metrics = result.robustness
    assert metrics["categorical_swap_0.2.accuracy_ratio"] < 0.95
    assert metrics["categorical_swap_0.2.flip_rate"] > 0.05


def test_both_tests_are_deterministic_under_a_seed(pipeline: Pipeline) -> None:
    frame = _frame()
    runs = [compute(pipeline, frame, "y", robustness=RobustnessOptions(seed=7)) for _ in range(2)]
    assert runs[0].robustness == runs[1].robustness
    assert runs[0].report["robustness"] == runs[1].report["robustness"]
    names = {k for k in runs[0].robustness if k.startswith(("categorical_swap", "missing"))}
    assert names == {
        "categorical_swap_0.1.accuracy_ratio",
        "categorical_swap_0.1.flip_rate",
        "missing_0.1.accuracy_ratio",
        "missing_0.1.flip_rate",
        "missing_0.1.predict_failed",
    }
    other = compute(pipeline, frame, "y", robustness=RobustnessOptions(seed=8)).robustness
    assert other["categorical_swap_0.1.flip_rate"] != runs[0].robustness["categorical_swap_0.1.flip_rate"]
    # A test's numbers do not move when another test is configured differently.
    resized = compute(
        pipeline, frame, "y", robustness=RobustnessOptions(seed=7, missing_fraction=0.3)
    ).robustness
    assert resized["categorical_swap_0.1.flip_rate"] == runs[0].robustness["categorical_swap_0.1.flip_rate"]
    assert resized["noise_0.05.flip_rate"] == runs[0].robustness["noise_0.05.flip_rate"]


def test_missing_values_a_model_that_copes_and_one_that_fails() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=N), "b": rng.normal(size=N), "n": rng.integers(0, 3, N)})
    frame["y"] = (frame["a"] + frame["b"] > 0).astype(int)
    features = frame.drop(columns="y")
    forest = Recorder(RandomForestClassifier(n_estimators=20, random_state=0).fit(features, frame["y"]))
    coped = compute(forest, frame, "y", robustness=RobustnessOptions(missing_fraction=0.2))
    holed = [f for f in forest.seen if f.isna().any().any()]
    assert len(holed) == 1 and holed[0].isna().sum().to_dict() == {"a": 100, "b": 100, "n": 100}
    assert coped.report["robustness"]["missing_values"] == {
        "fraction": 0.2,
        "rows_missing": {"a": 100, "b": 100, "n": 100},
    }
    numbers = coped.robustness
    assert numbers["missing_0.2.predict_failed"] == 0.0
    assert 0.5 < numbers["missing_0.2.accuracy_ratio"] < 1.0 and numbers["missing_0.2.flip_rate"] > 0

    linear = LogisticRegression().fit(features, frame["y"])  # refuses NaN input
    failed = compute(linear, frame, "y", robustness=RobustnessOptions(missing_fraction=0.2))
    assert failed.robustness["missing_0.2.predict_failed"] == 1.0
    assert failed.robustness["missing_0.2.accuracy_ratio"] == 0.0
    assert failed.robustness["missing_0.2.flip_rate"] == 1.0
    assert failed.report["robustness"]["missing_values"]["error"].startswith("ValueError: ")


def test_regression_gets_rmse_ratios_or_a_failure_flag() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": rng.normal(size=N), "kind": rng.choice(["p", "q"], N)})
    frame["y"] = 3.0 * frame["a"] + np.where(frame["kind"] == "p", 2.0, -2.0) + rng.normal(scale=0.1, size=N)

    class Regressor:
        def __init__(self, inner: Any) -> None:
            self.inner = inner.fit(self._encode(frame.drop(columns="y")), frame["y"])

        @staticmethod
        def _encode(data: pd.DataFrame) -> pd.DataFrame:
            return data.assign(kind=(data["kind"] == "p").astype(float).where(data["kind"].notna()))

        def predict(self, data: pd.DataFrame) -> Any:
            return self.inner.predict(self._encode(data))

    boosted = compute(Regressor(HistGradientBoostingRegressor(random_state=0)), frame, "y", task="regression",
                      robustness=RobustnessOptions())  # fmt: skip
    numbers = boosted.robustness
    assert numbers["categorical_swap_0.1.rmse_ratio"] > 1.5  # kind moves y by 4
    assert numbers["missing_0.1.rmse_ratio"] > 1.0 and numbers["missing_0.1.predict_failed"] == 0.0
    plain = compute(
        Regressor(LinearRegression()), frame, "y", task="regression", robustness=RobustnessOptions()
    )
    assert plain.robustness["missing_0.1.predict_failed"] == 1.0
    assert "missing_0.1.rmse_ratio" not in plain.robustness


def test_fractions_are_checked() -> None:
    frame = _frame()
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    for bad in (RobustnessOptions(swap_fraction=0.0), RobustnessOptions(missing_fraction=1.5)):
        with pytest.raises(InvalidParameter, match="must be above 0 and at most 1"):
            compute(model, frame[["x", "y"]], "y", robustness=bad)


POLICY = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: robust}
scope: {models: ["*"]}
rules:
  - {id: swap, type: robustness, metric: categorical_swap_0.1.accuracy_ratio, op: ">=", value: 0.95}
  - {id: holes, type: robustness, metric: missing_0.1.predict_failed, op: "==", value: 0}
"""


def test_a_policy_gates_on_the_new_metrics(pipeline: Pipeline, tmp_path: Path) -> None:
    store = local_store(tmp_path)
    version = store.register("credit")
    frame = _frame()
    ledgerflow.evaluate(pipeline, frame, "y", name="credit", version=version, tracking_uri=store.uri)
    answer = store.call(
        "POST", "/2.0/ledgerflow/policies/evaluate", {"name": "credit", "version": version, "source": POLICY}
    )["evaluation"]
    results = {rule["id"]: rule for rule in answer["rules"]}
    assert results["swap"]["result"] == "fail" and results["swap"]["observed"] < 0.95
    assert results["holes"]["result"] == "pass" and results["holes"]["observed"] == 0.0
    assert answer["decision"] == "fail"
