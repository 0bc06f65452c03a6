"""governance.md check 14 (statistics): a seeded 0.3-sigma mean shift and a categorical shift
are flagged at the default thresholds with values equal to scipy's or the reference formulas;
an unshifted batch flags nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.monitoring.drift import compare
from ledgerflow.governance.monitoring.profile import build_profile

N = 4000
LEVELS = ["a", "b", "c", "d"]
REFERENCE_P = [0.4, 0.3, 0.2, 0.1]


def _frame(seed: int, shift: float, probabilities: list[float]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"amount": rng.normal(10.0 + 2.0 * shift, 2.0, N), "region": rng.choice(LEVELS, N, p=probabilities)}
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _frame(1, 0.0, REFERENCE_P)


def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    ref, cur = np.clip(ref / ref.sum(), 1e-4, None), np.clip(cur / cur.sum(), 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def test_shifted_batch_matches_reference_formulas_and_is_flagged(reference: pd.DataFrame) -> None:
    current = _frame(2, 0.3, [0.25, 0.25, 0.25, 0.25])
    report = compare(build_profile(reference), current)
    numeric, categorical = report.features

    # Numeric: deciles of the reference, computed here independently.
    edges = np.unique(np.quantile(reference["amount"], np.linspace(0.1, 0.9, 9)))
    ref_bins = np.histogram(reference["amount"], np.concatenate([[-np.inf], edges, [np.inf]]))[0].astype(
        float
    )
    cur_bins = np.array(
        [np.sum(current["amount"] <= edges[0])]
        + [
            np.sum((current["amount"] > lo) & (current["amount"] <= hi))
            for lo, hi in zip(edges, edges[1:], strict=False)
        ]
        + [np.sum(current["amount"] > edges[-1])],
        dtype=float,
    )
    ks = stats.ks_2samp(reference["amount"], current["amount"])
    s = numeric.statistics
    assert s["ks_statistic"] == pytest.approx(ks.statistic, abs=1e-12)
    assert s["ks_p_value"] == pytest.approx(ks.pvalue, rel=1e-9)
    wasserstein = stats.wasserstein_distance(reference["amount"], current["amount"]) / reference[
        "amount"
    ].std(ddof=0)
    assert s["wasserstein_normed"] == pytest.approx(wasserstein, rel=1e-9)
    assert s["psi"] == pytest.approx(_psi(ref_bins, cur_bins), rel=1e-9)
    assert s["jensen_shannon"] == pytest.approx(
        distance.jensenshannon(ref_bins / ref_bins.sum(), cur_bins / cur_bins.sum()), rel=1e-9
    )
    # 0.3 sigma: Wasserstein-normed ~0.3 and KS D ~0.12 flag; PSI ~0.09 stays under 0.1
    # (for a normal mean shift d, PSI ~ d^2), as the thresholds document.
    assert numeric.drifted
    assert numeric.flags["wasserstein_normed"] == "warn" and numeric.flags["ks"] == "warn"
    assert 0.25 < s["wasserstein_normed"] < 0.35

    # Categorical: level frequencies.
    ref_counts = reference["region"].value_counts().reindex(LEVELS).to_numpy(dtype=float)
    cur_counts = current["region"].value_counts().reindex(LEVELS).to_numpy(dtype=float)
    c = categorical.statistics
    chi = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False)
    assert c["chi_squared_statistic"] == pytest.approx(chi.statistic, rel=1e-9)
    assert c["chi_squared_p_value"] == pytest.approx(chi.pvalue, rel=1e-6, abs=1e-300)
    assert c["psi"] == pytest.approx(_psi(ref_counts, cur_counts), rel=1e-9)
    assert c["jensen_shannon"] == pytest.approx(
        distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()), rel=1e-9
    )
    assert c["l_infinity"] == pytest.approx(np.max(np.abs(ref_counts / N - cur_counts / N)), rel=1e-9)
    assert categorical.drifted and categorical.flags["psi"] in ("warn", "alert")
    assert categorical.flags["jensen_shannon"] == "warn" and categorical.flags["l_infinity"] == "warn"
    assert report.share_drifted == 1.0


def test_large_categorical_shift_reaches_the_psi_alert_level(reference: pd.DataFrame) -> None:
    report = compare(build_profile(reference), _frame(3, 0.0, [0.1, 0.1, 0.2, 0.6]))
    assert report.features[1].statistics["psi"] >= 0.25
    assert report.features[1].severity == "alert"


def test_unshifted_batch_flags_nothing(reference: pd.DataFrame) -> None:
    for seed in (4, 5, 6):
        report = compare(build_profile(reference), _frame(seed, 0.0, REFERENCE_P))
        assert report.drifted_features == [], report.to_json()
        assert report.share_drifted == 0.0


def test_bad_batches_are_refused(reference: pd.DataFrame) -> None:
    profile = build_profile(reference)
    with pytest.raises(InvalidParameter, match="lacks the profiled feature"):
        compare(profile, reference[["amount"]])
    bad = reference.assign(amount=["x"] * N)
    with pytest.raises(InvalidParameter, match="'amount' must be numeric"):
        compare(profile, bad)
    with pytest.raises(InvalidParameter, match="no rows"):
        compare(profile, reference.iloc[:0])
