"""Drift check over a large batch: 100,000 rows x 20 features (target <= 2 s).

Half the features are numeric (normal, a few mean-shifted), half categorical (8 levels, a
few with shifted frequencies). The reference is 100,000 rows too, profiled once (the profile
keeps a 10,000-value sample per numeric feature). The timed part is what the server does per
window: :func:`compare` (PSI, KS, Jensen-Shannon, Wasserstein for numeric features; PSI,
chi-squared, Jensen-Shannon, L-infinity for categorical ones). Median of ``--rounds``.

    .venv/bin/python benchmarks/governance_drift.py [--rows 100000] [--features 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd

from ledgerflow.governance.monitoring.drift import compare
from ledgerflow.governance.monitoring.profile import build_profile

TARGET_SECONDS = 2.0
LEVELS = [f"level_{i}" for i in range(8)]


def frame(rows: int, features: int, seed: int, shifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    base = np.full(len(LEVELS), 1 / len(LEVELS))
    moved = np.linspace(2, 0.5, len(LEVELS))
    moved /= moved.sum()
    for i in range(features):
        shift = shifted and i % 5 == 0
        if i % 2 == 0:
            columns[f"num_{i}"] = rng.normal(0.3 if shift else 0.0, 1.0, rows)
        else:
            columns[f"cat_{i}"] = rng.choice(LEVELS, rows, p=moved if shift else base)
    return pd.DataFrame(columns)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    reference = frame(args.rows, args.features, 1, shifted=False)
    batch = frame(args.rows, args.features, 2, shifted=True)
    started = time.perf_counter()
    profile = build_profile(reference)
    profile_seconds = time.perf_counter() - started
    timings = []
    report = None
    for _ in range(args.rounds):
        started = time.perf_counter()
        report = compare(profile, batch)
        timings.append(time.perf_counter() - started)
    assert report is not None
    median = statistics.median(timings)
    result = {
        "rows": args.rows,
        "features": args.features,
        "rounds": args.rounds,
        "profile_seconds": round(profile_seconds, 3),
        "compare_seconds_median": round(median, 3),
        "compare_seconds_all": [round(t, 3) for t in timings],
        "target_seconds": TARGET_SECONDS,
        "meets_target": median <= TARGET_SECONDS,
        "drifted_features": report.drifted_features,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
