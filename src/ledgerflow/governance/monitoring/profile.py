"""Reference profiles: what a model version's production inputs are compared with.

A profile keeps, per feature, enough to compute every drift statistic without the raw
reference rows (as whylogs does):

* numeric: count, missing, mean, std, min, max, quantiles, the decile bin edges with their
  counts (PSI, Jensen-Shannon), and a seeded sample of at most ``sample_size`` values (KS and
  Wasserstein; with no more rows than that, the sample is the whole column and the values equal
  scipy's on the full data);
* categorical: count, missing and the frequencies of the ``top_k`` most common levels, the
  rest pooled as :data:`OTHER`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.monitoring.statistics import bin_counts

PROFILE_FORMAT = 1
NUMERIC = "numeric"
CATEGORICAL = "categorical"
OTHER = "__other__"
DEFAULT_SAMPLE_SIZE = 10_000
DEFAULT_TOP_K = 50
_DECILES = np.linspace(0.1, 0.9, 9)
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass(frozen=True)
class ProfileOptions:
    sample_size: int = DEFAULT_SAMPLE_SIZE
    top_k: int = DEFAULT_TOP_K
    seed: int = 0


def is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


def _numeric(series: pd.Series, options: ProfileOptions) -> dict[str, Any]:
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    present = values[~np.isnan(values)]
    if present.size == 0:
        raise InvalidParameter(f"Feature '{series.name}' has no values in the reference data.")
    edges = np.unique(np.quantile(present, _DECILES))
    if present.size > options.sample_size:
        rng = np.random.default_rng(options.seed)
        sample = rng.choice(present, size=options.sample_size, replace=False)
    else:
        sample = present
    return {
        "kind": NUMERIC,
        "count": int(present.size),
        "missing": int(values.size - present.size),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "min": float(present.min()),
        "max": float(present.max()),
        "quantiles": {str(q): float(np.quantile(present, q)) for q in _QUANTILES},
        "bin_edges": [float(e) for e in edges],
        "bin_counts": [int(c) for c in bin_counts(present, edges)],
        "sample": [float(v) for v in np.sort(sample)],
    }


def _categorical(series: pd.Series, options: ProfileOptions) -> dict[str, Any]:
    present = series.dropna().astype(str)
    counts = present.value_counts()
    top = counts.iloc[: options.top_k]
    return {
        "kind": CATEGORICAL,
        "count": int(present.size),
        "missing": int(series.size - present.size),
        "frequencies": {str(level): int(count) for level, count in top.items()},
        "other": int(counts.iloc[options.top_k :].sum()),
    }


def build_profile(frame: pd.DataFrame, options: ProfileOptions | None = None) -> dict[str, Any]:
    """The reference profile of every column of ``frame``."""
    options = options or ProfileOptions()
    if frame.shape[0] == 0:
        raise InvalidParameter("The reference data has no rows.")
    if frame.shape[1] == 0:
        raise InvalidParameter("The reference data has no columns.")
    features = {
        str(column): (_numeric if is_numeric(frame[column]) else _categorical)(frame[column], options)
        for column in frame.columns
    }
    return {"format": PROFILE_FORMAT, "row_count": int(frame.shape[0]), "features": features}


# -- checking a profile sent by a client ------------------------------------------------------


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameter(f"Invalid reference profile: {where} must be a finite number.")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameter(f"Invalid reference profile: {where} must be a non-negative integer.")
    return value


def _check_numeric(feature: dict[str, Any], where: str) -> None:
    for key in ("mean", "std", "min", "max"):
        _finite(feature.get(key), f"{where}.{key}")
    edges = feature.get("bin_edges")
    counts = feature.get("bin_counts")
    sample = feature.get("sample")
    if not isinstance(edges, list) or not isinstance(counts, list) or len(counts) != len(edges) + 1:
        raise InvalidParameter(
            f"Invalid reference profile: {where} needs bin_edges and one more bin_counts than edges."
        )
    floats = [_finite(e, f"{where}.bin_edges[{i}]") for i, e in enumerate(edges)]
    if any(b <= a for a, b in zip(floats, floats[1:], strict=False)):
        raise InvalidParameter(f"Invalid reference profile: {where}.bin_edges must be increasing.")
    for i, c in enumerate(counts):
        _count(c, f"{where}.bin_counts[{i}]")
    if not isinstance(sample, list) or not sample:
        raise InvalidParameter(f"Invalid reference profile: {where}.sample must be a non-empty list.")
    for i, v in enumerate(sample):
        _finite(v, f"{where}.sample[{i}]")


def _check_categorical(feature: dict[str, Any], where: str) -> None:
    frequencies = feature.get("frequencies")
    if not isinstance(frequencies, dict) or not frequencies:
        raise InvalidParameter(f"Invalid reference profile: {where}.frequencies must be a non-empty object.")
    for level, count in frequencies.items():
        _count(count, f"{where}.frequencies[{level!r}]")
    _count(feature.get("other", 0), f"{where}.other")


def check_profile(profile: Any) -> dict[str, Any]:
    """``profile`` if it has the shape :func:`build_profile` makes, else INVALID_PARAMETER_VALUE
    naming the first bad field."""
    if not isinstance(profile, dict):
        raise InvalidParameter("Invalid reference profile: expected an object.")
    if profile.get("format") != PROFILE_FORMAT:
        raise InvalidParameter(f"Invalid reference profile: format must be {PROFILE_FORMAT}.")
    _count(profile.get("row_count"), "row_count")
    features = profile.get("features")
    if not isinstance(features, dict) or not features:
        raise InvalidParameter("Invalid reference profile: features must be a non-empty object.")
    for name, feature in features.items():
        where = f"features[{name!r}]"
        if not isinstance(feature, dict):
            raise InvalidParameter(f"Invalid reference profile: {where} must be an object.")
        _count(feature.get("count"), f"{where}.count")
        _count(feature.get("missing", 0), f"{where}.missing")
        kind = feature.get("kind")
        if kind == NUMERIC:
            _check_numeric(feature, where)
        elif kind == CATEGORICAL:
            _check_categorical(feature, where)
        else:
            raise InvalidParameter(f"Invalid reference profile: {where}.kind must be numeric or categorical.")
    return profile
