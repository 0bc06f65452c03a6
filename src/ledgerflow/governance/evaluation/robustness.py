"""Robustness tests of a tabular model, in two tiers.

``default`` (cheap, deterministic with ``seed``):

* Gaussian noise on every numeric feature, sigma = ``noise_fraction`` x the feature's
  standard deviation in the evaluation data: ``noise_<f>.accuracy_ratio`` (noisy / clean
  accuracy) and ``noise_<f>.flip_rate`` (share of predictions that changed); for regression
  ``noise_<f>.rmse_ratio``.
* Feature drop: each feature in turn replaced by its mean (numeric) or most frequent value:
  ``feature_drop.max_accuracy_drop`` (or ``max_rmse_increase``) and the per-feature table.
* Categorical swap: in every categorical (non-numeric: string, category, boolean) feature,
  ``swap_fraction`` of the rows get another value observed in that column:
  ``categorical_swap_<f>.accuracy_ratio`` and ``.flip_rate`` (regression ``.rmse_ratio``).
  No categorical feature, no numbers (a rule on them is then an error, as for a missing input).
* Missing values: in every feature, ``missing_fraction`` of the rows are set missing (NaN):
  ``missing_<f>.accuracy_ratio``, ``.flip_rate`` (regression ``.rmse_ratio``) and
  ``missing_<f>.predict_failed`` (1 when the model raised on such input, or gave non-finite
  regression predictions; a failed classifier counts as accuracy ratio 0 and flip rate 1, since
  in production every such request would fail).

Each test draws from its own seeded stream, so two runs with one seed give identical numbers
and a test's numbers do not change when another test is added or configured differently.

``attacks`` (opt-in, needs ART): a decision-based black-box attack (HopSkipJump or Boundary)
on at most ``max_rows`` correctly classified rows, in the space of features divided by their
standard deviation, within a wall-clock ``budget_seconds``. A row counts as robust when no
adversarial example was found or the one found is further than ``epsilon`` (L2) away:
``<attack>.robust_accuracy_eps_<epsilon>`` and ``<attack>.median_l2``. Rows the budget did not
reach are reported (``rows_attacked`` < ``rows_selected``), never counted as robust.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.evaluation.data import numeric_columns
from ledgerflow.governance.evaluation.metrics import CLASSIFICATION, as_labels

DEFAULT = "default"
ATTACKS = "attacks"
TIERS = (DEFAULT, ATTACKS)
ATTACK_NAMES = ("hsj", "boundary")


class Predictor(Protocol):
    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class RobustnessOptions:
    tier: str = DEFAULT
    seed: int = 0
    noise_fraction: float = 0.05
    attack: str = "hsj"
    epsilon: float = 0.1
    max_rows: int = 20
    budget_seconds: float = 60.0
    max_iter: int = 10
    max_eval: int = 200
    swap_fraction: float = 0.1
    missing_fraction: float = 0.1


# Streams of the seed (numpy SeedSequence entropy [seed, stream]); the noise test keeps the bare
# seed it has always used, so its recorded numbers stay reproducible.
_SWAP_STREAM = 1
_MISSING_STREAM = 2


def _score(task: str, truth: pd.Series, predicted: pd.Series) -> float:
    if task == CLASSIFICATION:
        return float(np.mean(truth.to_numpy() == predicted.to_numpy()))
    diff = truth.to_numpy(dtype=np.float64) - predicted.to_numpy(dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def _predict(model: Predictor, features: pd.DataFrame) -> pd.Series:
    return as_labels(model.predict(features), features.index)


def noise_test(
    model: Predictor,
    features: pd.DataFrame,
    truth: pd.Series,
    clean: pd.Series,
    task: str,
    options: RobustnessOptions,
) -> dict[str, float]:
    numeric = numeric_columns(features)
    if not numeric:
        return {}
    rng = np.random.default_rng(options.seed)
    noisy = features.copy()
    for column in numeric:
        values = noisy[column].to_numpy(dtype=np.float64)
        sigma = options.noise_fraction * float(np.nanstd(values))
        noisy[column] = values + rng.normal(0.0, sigma, size=values.shape[0])
    return _ratios(f"noise_{options.noise_fraction:g}", task, truth, clean, _predict(model, noisy))


def _ratios(
    prefix: str, task: str, truth: pd.Series, clean: pd.Series, perturbed: pd.Series
) -> dict[str, float]:
    clean_score, perturbed_score = _score(task, truth, clean), _score(task, truth, perturbed)
    if task == CLASSIFICATION:
        return {
            f"{prefix}.accuracy_ratio": perturbed_score / clean_score if clean_score else 0.0,
            f"{prefix}.flip_rate": float(np.mean(perturbed.to_numpy() != clean.to_numpy())),
        }
    ratio = perturbed_score / clean_score if clean_score else float(perturbed_score == 0)
    return {f"{prefix}.rmse_ratio": ratio}


def _chosen_rows(
    rng: np.random.Generator, candidates: np.ndarray[Any, Any], fraction: float
) -> np.ndarray[Any, Any]:
    """``fraction`` of *candidates* (row positions), at least one when there are any."""
    count = min(candidates.size, max(1, round(fraction * candidates.size))) if candidates.size else 0
    return np.sort(rng.choice(candidates, size=count, replace=False)) if count else candidates[:0]


def categorical_columns(features: pd.DataFrame) -> list[str]:
    numeric = set(numeric_columns(features))
    return [str(c) for c in features.columns if str(c) not in numeric]


def categorical_swap_test(
    model: Predictor,
    features: pd.DataFrame,
    truth: pd.Series,
    clean: pd.Series,
    task: str,
    options: RobustnessOptions,
) -> tuple[dict[str, float], dict[str, Any]]:
    categorical = categorical_columns(features)
    if not categorical:
        return {}, {}
    rng = np.random.default_rng([options.seed, _SWAP_STREAM])
    swapped = features.copy()
    counts: dict[str, int] = {}
    for column in categorical:
        series = features[column]
        levels = list(pd.unique(series.dropna()))
        if len(levels) < 2:
            counts[column] = 0  # nothing else was observed to swap to
            continue
        position = {level: i for i, level in enumerate(levels)}
        present = np.flatnonzero(series.notna().to_numpy())
        rows = _chosen_rows(rng, present, options.swap_fraction)
        values = series.to_numpy(dtype=object).copy()
        # An offset in 1..n-1 from the current level: always another observed value.
        offsets = rng.integers(1, len(levels), size=rows.size)
        for row, offset in zip(rows, offsets, strict=True):
            values[row] = levels[(position[values[row]] + int(offset)) % len(levels)]
        swapped[column] = pd.Series(values, index=series.index).astype(series.dtype)
        counts[column] = int(rows.size)
    perturbed = _predict(model, swapped)
    metrics = _ratios(f"categorical_swap_{options.swap_fraction:g}", task, truth, clean, perturbed)
    return metrics, {"fraction": options.swap_fraction, "rows_swapped": counts}


def _with_missing(series: pd.Series, rows: np.ndarray[Any, Any]) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        holed = series.astype(object)
    elif pd.api.types.is_integer_dtype(series):
        holed = series.astype(np.float64)  # the dtype a column with missing values arrives as
    else:
        holed = series.copy()
    holed.iloc[rows] = np.nan
    return holed


def missing_value_test(
    model: Predictor,
    features: pd.DataFrame,
    truth: pd.Series,
    clean: pd.Series,
    task: str,
    options: RobustnessOptions,
) -> tuple[dict[str, float], dict[str, Any]]:
    rng = np.random.default_rng([options.seed, _MISSING_STREAM])
    holed = features.copy()
    counts: dict[str, int] = {}
    every_row = np.arange(len(features))
    for column in features.columns:
        rows = _chosen_rows(rng, every_row, options.missing_fraction)
        holed[column] = _with_missing(features[column], rows)
        counts[str(column)] = int(rows.size)
    prefix = f"missing_{options.missing_fraction:g}"
    report: dict[str, Any] = {"fraction": options.missing_fraction, "rows_missing": counts}
    failure: str | None = None
    try:
        perturbed = _predict(model, holed)
    except Exception as error:  # whatever the model raises on missing input is the finding
        failure = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:300]}"
    else:
        if task != CLASSIFICATION:
            try:
                finite = bool(np.all(np.isfinite(perturbed.to_numpy(dtype=np.float64))))
            except (TypeError, ValueError):
                finite = False
            if not finite:
                failure = "the model returned non-finite predictions"
    if failure is not None:
        report["error"] = failure
        metrics = {f"{prefix}.predict_failed": 1.0}
        if task == CLASSIFICATION:
            metrics.update({f"{prefix}.accuracy_ratio": 0.0, f"{prefix}.flip_rate": 1.0})
        return metrics, report
    metrics = _ratios(prefix, task, truth, clean, perturbed)
    metrics[f"{prefix}.predict_failed"] = 0.0
    return metrics, report


def feature_drop_test(
    model: Predictor, features: pd.DataFrame, truth: pd.Series, clean: pd.Series, task: str
) -> tuple[dict[str, float], dict[str, float]]:
    numeric = set(numeric_columns(features))
    clean_score = _score(task, truth, clean)
    table: dict[str, float] = {}
    for column in features.columns:
        dropped = features.copy()
        series = features[column]
        filler = series.mean() if column in numeric else series.mode(dropna=True).iloc[0]
        dropped[column] = filler
        score = _score(task, truth, _predict(model, dropped))
        # The drop in accuracy (classification) or the rise in RMSE (regression).
        table[str(column)] = clean_score - score if task == CLASSIFICATION else score - clean_score
    worst = max(table.values()) if table else 0.0
    name = "feature_drop.max_accuracy_drop" if task == CLASSIFICATION else "feature_drop.max_rmse_increase"
    return {name: float(worst)}, table


def _attack_class(name: str) -> Any:
    try:
        with warnings.catch_warnings():
            # ART announces on import that optional PyTorch certification code is absent.
            warnings.simplefilter("ignore", UserWarning)
            from art.attacks.evasion import BoundaryAttack, HopSkipJump
    except ImportError:
        raise InvalidParameter(
            "The 'attacks' robustness tier needs ART: pip install 'ledgerflow[robustness]'."
        ) from None
    return HopSkipJump if name == "hsj" else BoundaryAttack


def attack_test(
    model: Predictor, features: pd.DataFrame, truth: pd.Series, clean: pd.Series, options: RobustnessOptions
) -> tuple[dict[str, float], dict[str, Any]]:
    if options.attack not in ATTACK_NAMES:
        raise InvalidParameter(f"Unknown attack '{options.attack}': use one of {list(ATTACK_NAMES)}.")
    if options.max_rows < 1:
        raise InvalidParameter("max_rows must be at least 1.")
    non_numeric = [str(c) for c in features.columns if str(c) not in set(numeric_columns(features))]
    if non_numeric:
        raise InvalidParameter(f"The black-box attacks need numeric features; {non_numeric} are not.")
    attack_cls = _attack_class(options.attack)  # imports ART quietly, or says how to install it
    from art.estimators.classification import BlackBoxClassifier

    columns = list(features.columns)
    values = features.to_numpy(dtype=np.float64)
    mean, std = values.mean(axis=0), values.std(axis=0)
    std[std == 0] = 1.0
    classes = sorted(pd.unique(pd.concat([truth, clean])).tolist(), key=str)
    index_of = {cls: i for i, cls in enumerate(classes)}

    def predict_scaled(batch: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        frame = pd.DataFrame(batch * std + mean, columns=columns).astype(features.dtypes.to_dict())
        labels = as_labels(model.predict(frame), frame.index)
        onehot = np.zeros((len(labels), len(classes)), dtype=np.float64)
        for row, label in enumerate(labels):
            onehot[row, index_of.get(label, 0)] = 1.0
        return onehot

    scaled = (values - mean) / std
    lo, hi = scaled.min(axis=0), scaled.max(axis=0)
    estimator = BlackBoxClassifier(
        predict_scaled, input_shape=(len(columns),), nb_classes=len(classes), clip_values=(lo, hi)
    )
    if options.attack == "hsj":
        attack = attack_cls(
            estimator,
            targeted=False,
            max_iter=options.max_iter,
            max_eval=options.max_eval,
            init_eval=10,
            verbose=False,
        )
    else:
        attack = attack_cls(estimator, targeted=False, max_iter=options.max_iter * 5, verbose=False)
    correct = np.flatnonzero(truth.to_numpy() == clean.to_numpy())
    rng = np.random.default_rng(options.seed)
    chosen = np.sort(rng.choice(correct, size=min(options.max_rows, correct.size), replace=False))
    np.random.seed(options.seed)  # ART draws its random starts from numpy's global generator
    started = time.monotonic()
    distances: list[float] = []
    robust = 0
    for row in chosen:
        if time.monotonic() - started >= options.budget_seconds:
            break
        x = scaled[row : row + 1]
        adversarial = attack.generate(x=x)
        flipped = predict_scaled(adversarial).argmax(axis=1)[0] != predict_scaled(x).argmax(axis=1)[0]
        distance = float(np.linalg.norm(adversarial - x)) if flipped else float("inf")
        distances.append(distance)
        robust += int(distance > options.epsilon)
    elapsed = time.monotonic() - started
    evaluated = len(truth)
    clean_accuracy = float(correct.size / evaluated) if evaluated else 0.0
    attacked = len(distances)
    # Robust accuracy among the sampled rows, scaled by clean accuracy (wrong rows are never robust).
    robust_accuracy = clean_accuracy * robust / attacked if attacked else 0.0
    finite = [d for d in distances if np.isfinite(d)]
    name = options.attack
    metrics = {f"{name}.robust_accuracy_eps_{options.epsilon:g}": robust_accuracy}
    if finite:
        metrics[f"{name}.median_l2"] = float(np.median(finite))
    report = {
        "attack": name,
        "epsilon": options.epsilon,
        "norm": "l2 (features divided by their standard deviation)",
        "rows_selected": int(chosen.size),
        "rows_attacked": attacked,
        "budget_seconds": options.budget_seconds,
        "elapsed_seconds": elapsed,
        "budget_exhausted": attacked < chosen.size,
        "distances": [d if np.isfinite(d) else None for d in distances],
    }
    return metrics, report


def evaluate_robustness(
    model: Predictor,
    features: pd.DataFrame,
    truth: pd.Series,
    clean: pd.Series,
    task: str,
    options: RobustnessOptions,
) -> dict[str, Any]:
    if options.tier not in TIERS:
        raise InvalidParameter(f"Unknown robustness tier '{options.tier}': use one of {list(TIERS)}.")
    for name in ("swap_fraction", "missing_fraction"):
        value = getattr(options, name)
        if not 0.0 < value <= 1.0:
            raise InvalidParameter(f"{name} must be above 0 and at most 1, got {value:g}.")
    metrics = noise_test(model, features, truth, clean, task, options)
    drop_metrics, drop_table = feature_drop_test(model, features, truth, clean, task)
    metrics.update(drop_metrics)
    report: dict[str, Any] = {"tier": options.tier, "seed": options.seed, "feature_drop": drop_table}
    swap_metrics, swap_report = categorical_swap_test(model, features, truth, clean, task, options)
    if swap_report:
        metrics.update(swap_metrics)
        report["categorical_swap"] = swap_report
    missing_metrics, missing_report = missing_value_test(model, features, truth, clean, task, options)
    metrics.update(missing_metrics)
    report["missing_values"] = missing_report
    if options.tier == ATTACKS:
        if task != CLASSIFICATION:
            raise InvalidParameter("The 'attacks' robustness tier applies to classification models only.")
        attack_metrics, attack_report = attack_test(model, features, truth, clean, options)
        metrics.update(attack_metrics)
        report["attack"] = attack_report
    return {"metrics": metrics, "report": report}
