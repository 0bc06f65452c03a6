"""Drift statistics between a reference distribution and a current one (numpy and scipy only).

The binned statistics (PSI, Jensen-Shannon, L-infinity) take two count vectors over the same
bins (reference deciles for a numeric feature, reference levels for a categorical one). The
sample statistics (KS, Wasserstein) take the reference sample kept in the profile and the
current values. Empty bins get a floor of :data:`PSI_EPSILON` in PSI, whose logarithm is
otherwise infinite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from scipy.spatial import distance

PSI_EPSILON = 1e-4
FloatArray = NDArray[np.float64]


def proportions(counts: FloatArray) -> FloatArray:
    total = float(counts.sum())
    if total <= 0:
        return np.zeros_like(counts, dtype=np.float64)
    return np.asarray(counts, dtype=np.float64) / total


def psi(reference_counts: FloatArray, current_counts: FloatArray) -> float:
    """Population stability index: sum over bins of (cur - ref) * ln(cur / ref)."""
    ref = np.clip(proportions(reference_counts), PSI_EPSILON, None)
    cur = np.clip(proportions(current_counts), PSI_EPSILON, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def jensen_shannon(reference_counts: FloatArray, current_counts: FloatArray) -> float:
    """Jensen-Shannon distance (natural log, as scipy's default): 0 for equal histograms."""
    value = distance.jensenshannon(proportions(reference_counts), proportions(current_counts))
    return float(value) if math.isfinite(float(value)) else 0.0


def l_infinity(reference_counts: FloatArray, current_counts: FloatArray) -> float:
    """The largest absolute difference of bin (level) frequencies."""
    return float(np.max(np.abs(proportions(reference_counts) - proportions(current_counts))))


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float


def kolmogorov_smirnov(reference: FloatArray, current: FloatArray) -> TestResult:
    result = stats.ks_2samp(reference, current)
    return TestResult(float(result.statistic), float(result.pvalue))


def chi_squared(reference_counts: FloatArray, current_counts: FloatArray) -> tuple[TestResult, float]:
    """Chi-squared test of homogeneity on the 2 x levels table, and Cramer's V (its effect
    size: at large n the p-value alone flags differences nobody cares about)."""
    table = np.vstack([reference_counts, current_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return TestResult(0.0, 1.0), 0.0
    result = stats.chi2_contingency(table, correction=False)
    statistic = float(result.statistic)
    cramers_v = math.sqrt(statistic / float(table.sum()))  # min(rows, cols) - 1 == 1
    return TestResult(statistic, float(result.pvalue)), cramers_v


def wasserstein_sorted(reference: FloatArray, current: FloatArray) -> float:
    """The 1-Wasserstein (earth mover's) distance of two *sorted* samples: the area between
    their empirical CDFs, the formula of ``scipy.stats.wasserstein_distance``. Taking sorted
    input lets a batch be sorted once for KS, the bins and this (a stable sort merges the two
    sorted runs in linear time)."""
    merged = np.sort(np.concatenate([reference, current]), kind="stable")
    deltas = np.diff(merged)
    ref_cdf = np.searchsorted(reference, merged[:-1], side="right") / reference.size
    cur_cdf = np.searchsorted(current, merged[:-1], side="right") / current.size
    return float(np.sum(np.abs(ref_cdf - cur_cdf) * deltas))


def wasserstein_normed(reference: FloatArray, current: FloatArray, reference_std: float) -> float:
    """Earth mover's distance of two sorted samples divided by the reference standard
    deviation (evidently's "normed" form, so one threshold fits every scale); a constant
    reference uses 1."""
    scale = reference_std if reference_std > 0 else 1.0
    return wasserstein_sorted(reference, current) / scale


def bin_counts(values: FloatArray, edges: FloatArray) -> FloatArray:
    """Counts over the bins (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    index = np.searchsorted(edges, values, side="left")
    return np.bincount(index, minlength=len(edges) + 1).astype(np.float64)
