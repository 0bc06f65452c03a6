"""Fairness by sensitive group, computed with fairlearn's ``MetricFrame``.

For each sensitive column (and, with several, their intersection ``a:b``, groups named ``x&y``) the report has the
per-group table and headline numbers named ``<metric>.<feature>``:

* classification (``positive_label`` is the selected outcome): ``demographic_parity_ratio``
  (selection-rate ratio, the four-fifths rule), ``demographic_parity_difference``,
  ``equalized_odds_difference`` / ``_ratio`` (worst of the TPR and FPR gaps),
  ``equal_opportunity_difference``, ``accuracy_min`` and ``accuracy_difference``;
* regression: ``mae_max``, ``mae_difference``, ``mae_ratio``, ``rmse_difference``.

Groups smaller than ``min_group_size`` are left out of the headline numbers and the feature's
status becomes ``insufficient_data`` (the policy decides whether that warns or fails); with
fewer than two groups left there are no headline numbers at all. Bootstrap confidence
intervals (``n_boot`` resamples, fixed ``seed``) accompany each headline number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.evaluation.metrics import CLASSIFICATION

OK = "ok"
INSUFFICIENT_DATA = "insufficient_data"
DEFAULT_MIN_GROUP_SIZE = 30
DEFAULT_N_BOOT = 200
DEFAULT_CI_LEVEL = 0.95


@dataclass(frozen=True)
class FairnessOptions:
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    positive_label: Any = None
    n_boot: int = DEFAULT_N_BOOT
    ci_level: float = DEFAULT_CI_LEVEL
    seed: int = 0


def _selection_rate(y_true: Any, y_pred: Any, positive: Any) -> float:
    return float(np.mean(np.asarray(y_pred) == positive))


def _rate(y_true: Any, y_pred: Any, positive: Any, actual: bool) -> float:
    truth = np.asarray(y_true) == positive
    mask = truth if actual else ~truth
    if not mask.any():
        return float("nan")
    return float(np.mean(np.asarray(y_pred)[mask] == positive))


def classification_metric_functions(positive: Any) -> dict[str, Any]:
    """The per-group metrics, as callables ``fn(y_true, y_pred)`` for ``MetricFrame``."""
    return {
        "count": lambda t, p: float(len(t)),
        "selection_rate": lambda t, p: _selection_rate(t, p, positive),
        "accuracy": lambda t, p: float(np.mean(np.asarray(t) == np.asarray(p))),
        "true_positive_rate": lambda t, p: _rate(t, p, positive, True),
        "false_positive_rate": lambda t, p: _rate(t, p, positive, False),
    }


def regression_metric_functions() -> dict[str, Any]:
    def err(t: Any, p: Any) -> Any:
        return np.asarray(t, dtype=np.float64) - np.asarray(p, dtype=np.float64)

    return {
        "count": lambda t, p: float(len(t)),
        "mae": lambda t, p: float(np.mean(np.abs(err(t, p)))),
        "rmse": lambda t, p: math.sqrt(float(np.mean(err(t, p) ** 2))),
    }


def positive_label(y_true: pd.Series, given: Any) -> Any:
    classes = sorted(pd.unique(y_true).tolist(), key=str)
    if given is None:
        if len(classes) != 2:
            raise InvalidParameter(
                "Fairness on a task with more than two classes needs a positive label (--positive-label)."
            )
        return 1 if set(classes) == {0, 1} else classes[-1]
    for cls in classes:
        if cls == given or str(cls) == str(given):
            return cls
    raise InvalidParameter(f"Positive label {given!r} is not a class of the target; classes are {classes}.")


def _ratio(low: float, high: float) -> float:
    if high == 0:
        return 1.0 if low == 0 else float("nan")
    return low / high


def _headline(table: Mapping[str, np.ndarray[Any, Any]], task: str, feature: str) -> dict[str, float]:
    """The headline numbers from per-group columns (groups with no defined value, e.g. a TPR
    without positives, are skipped as pandas' min/max skip NaN)."""

    def low(column: str) -> float:
        values = table[column][~np.isnan(table[column])]
        return float(values.min()) if values.size else float("nan")

    def high(column: str) -> float:
        values = table[column][~np.isnan(table[column])]
        return float(values.max()) if values.size else float("nan")

    def gap(column: str) -> float:
        return high(column) - low(column)

    if task == CLASSIFICATION:
        tpr_gap, fpr_gap = gap("true_positive_rate"), gap("false_positive_rate")
        values = {
            "demographic_parity_ratio": _ratio(low("selection_rate"), high("selection_rate")),
            "demographic_parity_difference": gap("selection_rate"),
            "equalized_odds_difference": max(tpr_gap, fpr_gap),
            "equalized_odds_ratio": min(
                _ratio(low("true_positive_rate"), high("true_positive_rate")),
                _ratio(low("false_positive_rate"), high("false_positive_rate")),
            ),
            "equal_opportunity_difference": tpr_gap,
            "accuracy_min": low("accuracy"),
            "accuracy_difference": gap("accuracy"),
        }
    else:
        values = {
            "mae_max": high("mae"),
            "mae_difference": gap("mae"),
            "mae_ratio": _ratio(low("mae"), high("mae")),
            "rmse_difference": gap("rmse"),
        }
    return {f"{name}.{feature}": float(value) for name, value in values.items()}


def _columns(table: pd.DataFrame) -> dict[str, np.ndarray[Any, Any]]:
    return {str(c): table[c].to_numpy(dtype=np.float64) for c in table.columns}


def _rates(numerator: np.ndarray[Any, Any], denominator: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _resampled_table(
    codes: np.ndarray[Any, Any], size: int, task: str, columns: dict[str, np.ndarray[Any, Any]]
) -> dict[str, np.ndarray[Any, Any]]:
    """The per-group table of one resample, from group codes and per-row indicator columns
    (bincount instead of a groupby: the bootstrap builds hundreds of these)."""

    def total(values: np.ndarray[Any, Any] | None = None) -> np.ndarray[Any, Any]:
        return np.bincount(codes, weights=values, minlength=size).astype(np.float64)

    count = total()
    if task == CLASSIFICATION:
        positives, selected = columns["truth_positive"], columns["predicted_positive"]
        actual = total(positives)
        table = {
            "count": count,
            "selection_rate": _rates(total(selected), count),
            "accuracy": _rates(total(columns["correct"]), count),
            "true_positive_rate": _rates(total(positives * selected), actual),
            "false_positive_rate": _rates(total((1 - positives) * selected), count - actual),
        }
    else:
        table = {
            "count": count,
            "mae": _rates(total(columns["abs_error"]), count),
            "rmse": np.sqrt(_rates(total(columns["squared_error"]), count)),
        }
    return table


def _bootstrap(
    y_true: pd.Series,
    y_pred: pd.Series,
    groups: pd.Series,
    task: str,
    feature: str,
    options: FairnessOptions,
    positive: Any,
) -> dict[str, list[float]]:
    """Percentile intervals of the headline numbers over ``n_boot`` seeded resamples of rows
    (the whole rows, so group sizes vary as they would in another sample)."""
    if options.n_boot <= 0:
        return {}
    rng = np.random.default_rng(options.seed)
    codes, levels = pd.factorize(groups)
    truth, predicted = y_true.to_numpy(), y_pred.to_numpy()
    if task == CLASSIFICATION:
        indicators = {
            "truth_positive": (truth == positive).astype(np.float64),
            "predicted_positive": (predicted == positive).astype(np.float64),
            "correct": (truth == predicted).astype(np.float64),
        }
    else:
        error = truth.astype(np.float64) - predicted.astype(np.float64)
        indicators = {"abs_error": np.abs(error), "squared_error": error**2}
    n = len(truth)
    samples: dict[str, list[float]] = {}
    for _ in range(options.n_boot):
        rows = rng.integers(0, n, n)
        table = _resampled_table(codes[rows], len(levels), task, {k: v[rows] for k, v in indicators.items()})
        big = table["count"] >= options.min_group_size
        if int(big.sum()) < 2:
            continue
        for name, value in _headline({k: v[big] for k, v in table.items()}, task, feature).items():
            samples.setdefault(name, []).append(value)
    tail = (1 - options.ci_level) / 2
    return {
        name: [float(np.nanquantile(values, tail)), float(np.nanquantile(values, 1 - tail))]
        for name, values in samples.items()
    }


def _groups(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's group label as plain Python strings (``a&b`` for an intersection); plain
    object arrays keep fairlearn off pandas' slow per-element Arrow string access."""
    labels = frame[columns[0]].astype(str).to_numpy(dtype=object)
    for column in columns[1:]:
        labels = labels + "&" + frame[column].astype(str).to_numpy(dtype=object)
    return pd.Series(labels, index=frame.index, dtype=object)


def evaluate_fairness(
    frame: pd.DataFrame,
    y_true: pd.Series,
    y_pred: pd.Series,
    sensitive: list[str],
    task: str,
    options: FairnessOptions | None = None,
) -> dict[str, Any]:
    """``{"metrics": {name: float}, "status": {feature: ok|insufficient_data},
    "features": {feature: {groups, small_groups, confidence_intervals}}}``."""
    from fairlearn.metrics import MetricFrame

    options = options or FairnessOptions()
    positive = positive_label(y_true, options.positive_label) if task == CLASSIFICATION else None
    functions = (
        classification_metric_functions(positive) if task == CLASSIFICATION else regression_metric_functions()
    )
    sets = [[column] for column in sensitive]
    if len(sensitive) > 1:
        sets.append(list(sensitive))
    headline: dict[str, float] = {}
    status: dict[str, str] = {}
    features: dict[str, Any] = {}
    for columns in sets:
        feature = ":".join(columns)
        groups = _groups(frame, columns)
        frame_metrics = MetricFrame(
            metrics=functions,
            y_true=y_true.to_numpy(),
            y_pred=y_pred.to_numpy(),
            sensitive_features=groups.to_numpy(dtype=object),
        )
        by_group: pd.DataFrame = frame_metrics.by_group
        small = by_group.index[by_group["count"] < options.min_group_size]
        kept = by_group.drop(index=small)
        status[feature] = INSUFFICIENT_DATA if len(small) else OK
        values = _headline(_columns(kept), task, feature) if len(kept) >= 2 else {}
        headline.update(values)
        features[feature] = {
            "status": status[feature],
            "positive_label": positive if positive is None else str(positive),
            "min_group_size": options.min_group_size,
            "small_groups": [str(g) for g in small],
            "groups": {
                str(group): {name: _json_number(row[name]) for name in by_group.columns}
                for group, row in by_group.iterrows()
            },
            "confidence_intervals": _bootstrap(y_true, y_pred, groups, task, feature, options, positive)
            if values
            else {},
            "ci_level": options.ci_level,
            "n_boot": options.n_boot,
            "seed": options.seed,
        }
    return {"metrics": headline, "status": status, "features": features}


def _json_number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
