"""Model registry and model serving: Ledgerflow vs MLflow, side by side on one machine.

    .venv/bin/python benchmarks/run_registry.py --quick    # 2,000 model versions
    .venv/bin/python benchmarks/run_registry.py            # 10,000 model versions

Reuses run.py's machinery: both tracking servers run at once on fresh SQLite databases, every
round runs each workload on each server in turn, the median over rounds is reported, MLflow's
slow-to-populate database is cached in --cache-dir. On top of the registry searches it times
``load_model("models:/bench-sk@champion")`` in fresh interpreters (each project's own client
against its own server) and the scoring servers (``ledgerflow models serve`` vs
``mlflow models serve --env-manager local``) on one shared model directory.
Results go to stdout and to benchmarks/results/<time>-registry-<mode>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import registry_workloads as rw
import run
from procs import Server, ServerSpec
from workloads import Http

CACHE_FORMAT = 1  # bump when the populated registry data changes
# Workloads that read the populated registry; the others need only the served model.
NEEDS_POPULATED = ("mv_search_name", "rm_search_like", "rm_page_all")


@dataclass(frozen=True)
class Sizes:
    models: int
    versions_per_model: int
    search_repeats: int
    page_repeats: int
    load_repeats: int
    single_row_requests: int
    batch_requests: int
    batch_rows: int
    rounds: int


QUICK = Sizes(200, 10, 10, 2, 2, 300, 30, 1000, 2)
FULL = Sizes(1000, 10, 20, 3, 3, 1000, 100, 1000, 3)


@dataclass
class Target:
    label: str
    server: Server
    python: Path
    env: dict[str, str]
    scoring: Server | None = None


def client_env(label: str, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["MLFLOW_TRACKING_URI"] = url
    env["LEDGERFLOW_TRACKING_URI"] = url
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    bin_dir = run.OURS_BIN if label == "ledgerflow" else run.MLFLOW_BIN
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def scoring_spec(label: str, model_dir: Path, extra: list[str] | None = None) -> ServerSpec:
    if label == "ledgerflow":
        argv = [str(run.OURS_BIN / "ledgerflow"), "models", "serve", "-m", str(model_dir)]
        argv += ["-h", "127.0.0.1", "-p", "{port}", *(extra or [])]
        return ServerSpec("ledgerflow-serve", argv)
    argv = [str(run.MLFLOW_BIN / "mlflow"), "models", "serve", "-m", str(model_dir)]
    argv += ["--env-manager", "local", "-h", "127.0.0.1", "-p", "{port}"]
    env = {
        "PATH": f"{run.MLFLOW_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    return ServerSpec(f"{label}-serve", argv, env)


def cache_key(sizes: Sizes, version: str) -> str:
    return f"mlflow-{version}-registry-models{sizes.models}x{sizes.versions_per_model}-v{CACHE_FORMAT}"


def prepare_cached(cache: Path, key: str, data_dir: Path) -> bool:
    entry = cache / key
    if not (entry / "meta.json").exists():
        return False
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(entry / "mlflow.db", data_dir / "mlflow.db")
    return True


def store_cached(cache: Path, key: str, data_dir: Path, populate: dict[str, Any]) -> None:
    run.store_mlflow_cache(cache, key, data_dir, run.Populated("", "", populate))


WORKLOADS: dict[str, Callable[[Target, Sizes], dict[str, Any]]] = {
    "mv_search_name": lambda t, s: rw.search_versions_by_name(
        t.server.url, rw.model_name(42), s.search_repeats
    ),
    "rm_search_like": lambda t, s: rw.search_models_like(t.server.url, "m1%", s.search_repeats),
    "rm_page_all": lambda t, s: rw.page_all_models(t.server.url, 100, s.models, s.page_repeats),
    "load_model": lambda t, s: load_model(t, s.load_repeats),
    "serve_single_row": lambda t, s: score(t, 1, s.single_row_requests),
    "serve_batch": lambda t, s: score(t, s.batch_rows, s.batch_requests),
    # Not a target row: several clients at once, where the scoring server may batch.
    "serve_concurrent": lambda t, s: score(t, 1, s.single_row_requests, SERVE_CLIENTS),
}
SERVE_CLIENTS = 8


def score(target: Target, rows: int, requests: int, concurrency: int = 1) -> dict[str, Any]:
    scoring = target.scoring
    assert scoring is not None
    return rw.invocations(
        scoring.url, rows, requests, concurrency=concurrency, cpu_seconds=scoring.cpu_seconds
    )


def load_model(target: Target, repeats: int) -> dict[str, Any]:
    records = [rw.load_model_once(target.python, target.label, target.env) for _ in range(repeats)]
    times = [r["load_s"] for r in records]
    return {
        "value": statistics.median(times) * 1000,
        "unit": "ms (p50)",
        "all_ms": [t * 1000 for t in times],
        "fingerprint": json.dumps(records[0]["predictions"]),
    }


def rows(sizes: Sizes) -> list[run.Row]:
    total = sizes.models * sizes.versions_per_model
    return [
        run.Row(
            f"model-versions/search name='m42', {total} versions (ms p50)",
            "mv_search_name",
            "value",
            False,
            5,
        ),
        run.Row(
            "registered-models/search name LIKE 'm1%', top 100 (ms p50)", "rm_search_like", "value", False, 5
        ),
        run.Row(
            f"registered-models/search, page all {sizes.models} by 100 (ms)", "rm_page_all", "value", False, 5
        ),
        run.Row("load_model models:/…@champion, fresh process (ms p50)", "load_model", "value", False, None),
        run.Row("scoring server, 1-row dataframe_split (req/s)", "serve_single_row", "value", True, 5),
        run.Row(
            f"scoring server, {sizes.batch_rows}-row dataframe_split (req/s)", "serve_batch", "value", True, 5
        ),
        run.Row(
            f"scoring server, 1-row, {SERVE_CLIENTS} clients at once (req/s)",
            "serve_concurrent",
            "value",
            True,
            None,
        ),
    ]


def table(results: dict[str, dict[str, dict[str, Any]]], sizes: Sizes) -> tuple[str, list[dict[str, Any]]]:
    header = f"{'workload':64s} {'ledgerflow':>11s} {'mlflow':>11s} {'× better':>9s} {'target':>7s}  verdict"
    lines = [header, "-" * len(header)]
    summary = []
    for row in rows(sizes):
        if all(row.workload not in by_name for by_name in results.values()):
            continue  # not selected with --only
        ours = results["ledgerflow"].get(row.workload, {}).get(row.field)
        theirs = results["mlflow"].get(row.workload, {}).get(row.field)
        ratio = None
        if ours and theirs:
            ratio = ours / theirs if row.higher_is_better else theirs / ours
        target = f"≥{row.target:g}×" if row.target is not None else "-"
        verdict = "-" if row.target is None or ratio is None else ("PASS" if ratio >= row.target else "MISS")
        same = len({results[label].get(row.workload, {}).get("fingerprint") for label in results}) == 1
        lines.append(
            f"{row.title:64s} {run.fmt(ours):>11s} {run.fmt(theirs):>11s} {run.fmt(ratio, 'x'):>9s}"
            f" {target:>7s}  {verdict}{'' if same else '  (answers differ!)'}"
        )
        summary.append(
            {
                "workload": row.title,
                "ledgerflow": ours,
                "mlflow": theirs,
                "times_better_than_mlflow": ratio,
                "target": target,
                "verdict": verdict,
                "same_answer": same,
            }
        )
    return "\n".join(lines), summary


def git_commit() -> str:
    """The checkout's commit, marked when files differ from it (results name the code they ran)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=run.ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=run.ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2,000 model versions, fewer requests")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument(
        "--cache-dir", default=os.environ.get("LEDGERFLOW_BENCH_CACHE", "/tmp/ledgerflow-bench-cache")
    )
    parser.add_argument("--out-dir", default=str(run.ROOT / "benchmarks" / "results"))
    parser.add_argument("--populate-threads", type=int, default=4)
    parser.add_argument(
        "--serve-model",
        choices=["logreg", "forest"],
        default="logreg",
        help="the model the scoring servers serve: the registered LogisticRegression, or a "
        "100-tree RandomForestClassifier on the same data (predict-bound)",
    )
    parser.add_argument(
        "--serve-args",
        default="",
        help="extra options for `ledgerflow models serve` (e.g. '--max-batch-rows 1000'); the "
        "default compares both servers with their default settings",
    )
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated workloads to run ({','.join(WORKLOADS)}); the registry is populated "
        "only when a search workload is named",
    )
    args = parser.parse_args()
    selected = list(WORKLOADS) if args.only is None else [name.strip() for name in args.only.split(",")]
    unknown = sorted(set(selected) - set(WORKLOADS))
    if unknown:
        sys.exit(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    needs_data = any(name in NEEDS_POPULATED for name in selected)

    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(**{**sizes.__dict__, "rounds": args.rounds})
    if not (run.MLFLOW_BIN / "mlflow").exists():
        sys.exit("MLflow venv missing: run `bash scripts/setup_compat_venvs.sh` first")
    version = run.mlflow_version()
    specs = run.server_specs("default")
    cache = Path(args.cache_dir)
    key = cache_key(sizes, version)
    work = Path(tempfile.mkdtemp(prefix="ledgerflow-bench-registry-"))
    meta: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "sizes": sizes.__dict__,
        "mlflow_version": version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "load1_start": os.getloadavg()[0],
        "workloads": selected,
        "serve_model": args.serve_model,
        "serve_args": args.serve_args,
        "commit": git_commit(),
    }
    run.log(f"work dir {work}; MLflow {version}; sizes {sizes}")
    results: dict[str, dict[str, dict[str, Any]]] = {spec.label: {} for spec in specs}
    targets: dict[str, Target] = {}
    try:
        for spec in specs:
            data_dir = work / f"server-{spec.label}"
            cached = needs_data and spec.label != "ledgerflow" and prepare_cached(cache, key, data_dir)
            server = Server(spec, data_dir)
            python = (run.OURS_BIN if spec.label == "ledgerflow" else run.MLFLOW_BIN) / "python"
            targets[spec.label] = Target(spec.label, server, python, client_env(spec.label, server.url))
            if not needs_data:
                continue
            if cached:
                run.log(f"{spec.label}: reusing populated registry from {cache / key}")
                continue
            run.log(f"populating {spec.label}: {sizes.models} models × {sizes.versions_per_model} versions")
            threads = args.populate_threads if spec.label == "ledgerflow" else 8
            populated = rw.populate_registry(server.url, sizes.models, sizes.versions_per_model, threads)
            results[spec.label]["populate"] = populated
            run.log(f"populated {spec.label}: {populated}")
            if spec.label != "ledgerflow":
                store_cached(cache, key, data_dir, populated)

        # The served model: each project logs and registers it with its own client; MLflow also
        # saves it to one directory that both scoring servers then serve.
        model_dir = work / "model"
        for label, target in targets.items():
            http = Http(target.server.url)
            rw.register_serving_model(
                http,
                target.python,
                label,
                target.env,
                model_dir if label == "mlflow" else None,
                args.serve_model,
            )
            http.close()
        for label, target in targets.items():
            spec = scoring_spec(label, model_dir, args.serve_args.split() if label == "ledgerflow" else None)
            target.scoring = Server(spec, work / f"scoring-{label}")
            run.log(f"scoring server {label} ready in {target.scoring.ready_s:.2f}s")
            results[label]["scoring_memory"] = target.scoring.memory_mib()

        per_round: dict[str, dict[str, list[dict[str, Any]]]] = {label: {} for label in targets}
        for round_no in range(1, sizes.rounds + 1):
            for name in selected:
                workload = WORKLOADS[name]
                for label, target in targets.items():
                    record = workload(target, sizes)
                    per_round[label].setdefault(name, []).append(record)
                    run.log(f"round {round_no} {name:18s} {label:10s} {run.fmt(record['value'])}")
        for label, by_name in per_round.items():
            for name, records in by_name.items():
                results[label][name] = run.median_record(records)
    finally:
        for target in targets.values():
            if target.scoring is not None:
                target.scoring.stop()
            target.server.stop()
        shutil.rmtree(work, ignore_errors=True)

    meta["load1_end"] = os.getloadavg()[0]
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    text, summary = table(results, sizes)
    print(text)
    for name in ("serve_single_row", "serve_batch", "serve_concurrent"):
        cpu = {label: results[label].get(name, {}).get("server_cpu_ms_per_request") for label in results}
        if all(value is not None for value in cpu.values()):
            shown = ", ".join(f"{label} {value:.3f}" for label, value in cpu.items())
            print(f"server CPU per request, {name} (ms, median of rounds): {shown}")
    print(f"\nload1 {meta['load1_start']:.1f} → {meta['load1_end']:.1f}")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.only is None else "-" + "+".join(selected)
    if args.serve_model != "logreg":
        suffix += f"-{args.serve_model}"
    if args.serve_args:
        suffix += "-serve-args"
    out = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-registry-{meta['mode']}{suffix}.json"
    out.write_text(json.dumps({"meta": meta, "summary": summary, "results": results}, indent=1, default=str))
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
