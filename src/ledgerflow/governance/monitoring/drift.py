"""Comparing a batch of production inputs with a version's reference profile.

Default thresholds (each overridable per version in the monitoring settings):

==================== ============================ ==========================================
statistic            features                      flags drift when
==================== ============================ ==========================================
``psi``              numeric (deciles), categorical >= 0.1 (warn); >= 0.25 is an ``alert``
``ks``               numeric                       p-value < 0.05 and statistic D >= 0.1
``chi_squared``      categorical                   p-value < 0.05 and Cramer's V >= 0.1
``jensen_shannon``   numeric (deciles), categorical >= 0.1 (natural log)
``wasserstein``      numeric                       distance / reference std >= 0.1
``l_infinity``       categorical                   >= 0.1
==================== ============================ ==========================================

The p-value tests also need an effect size: at production batch sizes a p-value falls
below 0.05 for differences far too small to matter. A feature drifts when any of its
statistics flags; a window's ``share_drifted`` is drifted features / features compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.monitoring import statistics as st
from ledgerflow.governance.monitoring.profile import CATEGORICAL, NUMERIC, OTHER

OK = "ok"
WARN = "warn"
ALERT = "alert"


@dataclass(frozen=True)
class Thresholds:
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    ks_p_value: float = 0.05
    ks_min_statistic: float = 0.1
    chi_squared_p_value: float = 0.05
    chi_squared_min_cramers_v: float = 0.1
    jensen_shannon: float = 0.1
    wasserstein_normed: float = 0.1
    l_infinity: float = 0.1


@dataclass(frozen=True)
class AlertRule:
    """Fire ``drift.alert`` when at least ``share_drifted`` of the features drift in
    ``consecutive_windows`` windows in a row."""

    share_drifted: float = 0.3
    consecutive_windows: int = 1


@dataclass(frozen=True)
class MonitoringSettings:
    thresholds: Thresholds = field(default_factory=Thresholds)
    alert: AlertRule = field(default_factory=AlertRule)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _floats(cls: type[Any], value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"Invalid monitoring settings: {where} must be an object.")
    known = {f.name: f.type for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in known:
            raise InvalidParameter(
                f"Invalid monitoring settings: unknown field '{where}.{key}'; known: {sorted(known)}."
            )
        if isinstance(item, bool) or not isinstance(item, int | float) or item < 0:
            raise InvalidParameter(f"Invalid monitoring settings: '{where}.{key}' must be a number >= 0.")
        out[key] = item
    return out


def parse_settings(value: Any) -> MonitoringSettings:
    if value is None:
        return MonitoringSettings()
    if not isinstance(value, dict):
        raise InvalidParameter("Invalid monitoring settings: expected an object.")
    unknown = set(value) - {"thresholds", "alert"}
    if unknown:
        raise InvalidParameter(f"Invalid monitoring settings: unknown fields {sorted(unknown)}.")
    alert = _floats(AlertRule, value.get("alert"), "alert")
    if "consecutive_windows" in alert:
        windows = alert["consecutive_windows"]
        if not float(windows).is_integer() or windows < 1:
            raise InvalidParameter("Invalid monitoring settings: 'alert.consecutive_windows' must be >= 1.")
        alert["consecutive_windows"] = int(windows)
    return MonitoringSettings(
        Thresholds(**_floats(Thresholds, value.get("thresholds"), "thresholds")), AlertRule(**alert)
    )


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    count: int
    missing_rate: float
    statistics: dict[str, float]
    flags: dict[str, str]

    @property
    def drifted(self) -> bool:
        return any(flag != OK for flag in self.flags.values())

    @property
    def severity(self) -> str:
        if ALERT in self.flags.values():
            return ALERT
        return WARN if self.drifted else OK

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "drifted": self.drifted, "severity": self.severity}


@dataclass(frozen=True)
class DriftReport:
    row_count: int
    features: list[FeatureDrift]

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def share_drifted(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "row_count": self.row_count,
            "share_drifted": self.share_drifted,
            "drifted_features": self.drifted_features,
            "features": [f.to_json() for f in self.features],
        }

    def metrics(self) -> dict[str, float]:
        """Metric name -> value for the monitoring run: ``drift.<statistic>.<feature>``."""
        out = {"drift.share_drifted": self.share_drifted, "drift.row_count": float(self.row_count)}
        for feature in self.features:
            for name, value in feature.statistics.items():
                out[f"drift.{name}.{feature.feature}"] = value
        return out


def _flag(value: float, limit: float) -> str:
    return WARN if value >= limit else OK


def _numeric_values(series: pd.Series, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    if pd.api.types.is_bool_dtype(series):
        raise InvalidParameter(
            f"Feature '{name}' must be numeric (as in the reference profile); got booleans."
        )
    if not pd.api.types.is_numeric_dtype(series):
        converted = pd.to_numeric(series, errors="coerce")
        bad = series[converted.isna() & series.notna()]
        if len(bad):
            raise InvalidParameter(
                f"Feature '{name}' must be numeric (as in the reference profile); got {bad.iloc[0]!r}."
            )
        series = converted
    values: np.ndarray[Any, np.dtype[np.float64]] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _numeric_drift(name: str, ref: dict[str, Any], series: pd.Series, t: Thresholds) -> FeatureDrift:
    values = _numeric_values(series, name)
    # Sorted once: the bins, KS and Wasserstein all read the sorted batch.
    present = np.sort(values[~np.isnan(values)], kind="stable")
    if present.size == 0:
        raise InvalidParameter(f"Feature '{name}' has no values in the batch.")
    edges = np.asarray(ref["bin_edges"], dtype=np.float64)
    ref_counts = np.asarray(ref["bin_counts"], dtype=np.float64)
    cur_counts = st.bin_counts(present, edges)
    sample = np.sort(np.asarray(ref["sample"], dtype=np.float64), kind="stable")  # stored sorted
    ks = st.kolmogorov_smirnov(sample, present)
    psi = st.psi(ref_counts, cur_counts)
    statistics = {
        "psi": psi,
        "ks_statistic": ks.statistic,
        "ks_p_value": ks.p_value,
        "jensen_shannon": st.jensen_shannon(ref_counts, cur_counts),
        "wasserstein_normed": st.wasserstein_normed(sample, present, float(ref["std"])),
    }
    ks_flag = ks.p_value < t.ks_p_value and ks.statistic >= t.ks_min_statistic
    flags = {
        "psi": ALERT if psi >= t.psi_alert else _flag(psi, t.psi_warn),
        "ks": WARN if ks_flag else OK,
        "jensen_shannon": _flag(statistics["jensen_shannon"], t.jensen_shannon),
        "wasserstein_normed": _flag(statistics["wasserstein_normed"], t.wasserstein_normed),
    }
    return FeatureDrift(name, NUMERIC, int(present.size), 1 - present.size / values.size, statistics, flags)


def _categorical_drift(name: str, ref: dict[str, Any], series: pd.Series, t: Thresholds) -> FeatureDrift:
    present = series.dropna().astype(str)
    if present.size == 0:
        raise InvalidParameter(f"Feature '{name}' has no values in the batch.")
    levels = list(ref["frequencies"])
    ref_counts = np.asarray([*ref["frequencies"].values(), ref.get("other", 0)], dtype=np.float64)
    seen = present.value_counts()
    known = seen.reindex(levels, fill_value=0)
    unseen = int(seen.sum() - known.sum())
    cur_counts = np.asarray([*known.to_numpy(), unseen], dtype=np.float64)
    chi, cramers_v = st.chi_squared(ref_counts, cur_counts)
    psi = st.psi(ref_counts, cur_counts)
    statistics = {
        "psi": psi,
        "chi_squared_statistic": chi.statistic,
        "chi_squared_p_value": chi.p_value,
        "cramers_v": cramers_v,
        "jensen_shannon": st.jensen_shannon(ref_counts, cur_counts),
        "l_infinity": st.l_infinity(ref_counts, cur_counts),
    }
    chi_flag = chi.p_value < t.chi_squared_p_value and cramers_v >= t.chi_squared_min_cramers_v
    flags = {
        "psi": ALERT if psi >= t.psi_alert else _flag(psi, t.psi_warn),
        "chi_squared": WARN if chi_flag else OK,
        "jensen_shannon": _flag(statistics["jensen_shannon"], t.jensen_shannon),
        "l_infinity": _flag(statistics["l_infinity"], t.l_infinity),
    }
    return FeatureDrift(
        name, CATEGORICAL, int(present.size), 1 - present.size / series.size, statistics, flags
    )


def compare(
    profile: dict[str, Any], batch: pd.DataFrame, thresholds: Thresholds | None = None
) -> DriftReport:
    """Drift of every profiled feature in ``batch``; columns the profile lacks are ignored,
    a profiled feature missing from the batch is an error."""
    thresholds = thresholds or Thresholds()
    if batch.shape[0] == 0:
        raise InvalidParameter("The batch has no rows.")
    features: dict[str, Any] = profile["features"]
    missing = [name for name in features if name not in batch.columns]
    if missing:
        raise InvalidParameter(f"The batch lacks the profiled feature(s) {missing}.")
    results = [
        (_numeric_drift if ref["kind"] == NUMERIC else _categorical_drift)(name, ref, batch[name], thresholds)
        for name, ref in features.items()
    ]
    return DriftReport(int(batch.shape[0]), results)


__all__ = ["ALERT", "OK", "OTHER", "WARN", "AlertRule", "DriftReport", "FeatureDrift", "MonitoringSettings"]
