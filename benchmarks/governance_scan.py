"""Model-file scanner throughput: a large scikit-learn RandomForest pickle (~100 MB by
default), scanned by Ledgerflow's static scanner and by picklescan on the same file.

    .venv/bin/python benchmarks/governance_scan.py            # ~100 MB, 3 rounds
    .venv/bin/python benchmarks/governance_scan.py --mb 20    # quicker

Method: the forest is fitted once on seeded random data and pickled (protocol 5) into a
temporary directory (outside the repo); the page cache is warmed by one untimed read; then
each scanner runs ``--rounds`` times, interleaved (ours, picklescan, ours, ...), and the
median wall time is reported as MB/s (MB = 10^6 bytes). Our figure includes the SHA-256 of
the file (recorded with every scan) and picklescan's is its ``scan_file_path``. Target: ours
>= 50 MB/s. The JSON result lands in ``benchmarks/results/<time>-governance-scan.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MB_S = 50.0


def build_forest(target_mb: float, path: Path) -> int:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    rows = 20_000
    features = rng.normal(size=(rows, 8))
    labels = rng.integers(0, 2, size=rows)  # noise: fully grown trees, many nodes
    probe = RandomForestClassifier(n_estimators=2, random_state=0).fit(features, labels)
    per_tree = len(pickle.dumps(probe, protocol=5)) / 2
    trees = max(1, int(target_mb * 1e6 / per_tree))
    forest = RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=1).fit(features, labels)
    path.write_bytes(pickle.dumps(forest, protocol=5))
    return trees


def time_ours(path: Path) -> tuple[float, str]:
    from ledgerflow.governance.scanning.scanner import scan_path

    started = time.perf_counter()
    report = scan_path(path)
    return time.perf_counter() - started, report.status


def time_picklescan(path: Path) -> tuple[float, str]:
    from picklescan import scanner  # type: ignore[import-untyped]

    started = time.perf_counter()
    result = scanner.scan_file_path(str(path))
    return time.perf_counter() - started, f"{result.issues_count} issues"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=100.0, help="Approximate pickle size in MB.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledgerflow-scan-bench-") as tmp:
        path = Path(tmp) / "forest.pkl"
        built = time.perf_counter()
        trees = build_forest(args.mb, path)
        size = path.stat().st_size
        print(
            f"forest: {trees} trees, {size / 1e6:.1f} MB pickle (built in {time.perf_counter() - built:.0f} s)"
        )
        path.read_bytes()  # warm the page cache for both scanners alike
        ours: list[float] = []
        theirs: list[float] = []
        verdicts: dict[str, str] = {}
        for _ in range(args.rounds):
            seconds, verdicts["ledgerflow"] = time_ours(path)
            ours.append(seconds)
            try:
                seconds, verdicts["picklescan"] = time_picklescan(path)
                theirs.append(seconds)
            except ImportError:
                verdicts["picklescan"] = "not installed"
        result: dict[str, Any] = {
            "file_mb": round(size / 1e6, 2),
            "trees": trees,
            "rounds": args.rounds,
            "load_average": os.getloadavg(),
            "ledgerflow": {
                "median_s": round(statistics.median(ours), 3),
                "mb_per_s": round(size / 1e6 / statistics.median(ours), 1),
                "verdict": verdicts["ledgerflow"],
            },
        }
        if theirs:
            result["picklescan"] = {
                "median_s": round(statistics.median(theirs), 3),
                "mb_per_s": round(size / 1e6 / statistics.median(theirs), 1),
                "verdict": verdicts["picklescan"],
            }
    mine = result["ledgerflow"]
    print(
        f"ledgerflow: {mine['mb_per_s']} MB/s ({mine['median_s']} s, {mine['verdict']}); target >= {TARGET_MB_S}"
    )
    if "picklescan" in result:
        other = result["picklescan"]
        print(f"picklescan: {other['mb_per_s']} MB/s ({other['median_s']} s, {other['verdict']})")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{time.strftime('%Y%m%dT%H%M%S')}-governance-scan.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
