"""Ledgerflow vs MLflow, side by side on one machine.

    .venv/bin/python benchmarks/run.py --quick          # a few minutes
    .venv/bin/python benchmarks/run.py                  # the full sizes (10k runs, 100k points)
    .venv/bin/python benchmarks/run.py --mlflow both    # also MLflow's lean --workers 1 config

Both servers run at the same time on fresh SQLite databases; each round runs every workload on
every server in turn (A B A B ...), so machine noise hits them alike, and the median over rounds
is reported. MLflow needs minutes to populate 10,000 runs, so its populated database is cached
outside the repository (--cache-dir) and copied in fresh for each benchmark run. MLflow comes
from .venvs/mlflow3 (scripts/setup_compat_venvs.sh builds it). Results go to stdout as a
table and to benchmarks/results/<time>-<mode>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import workloads as wl
from procs import Server, ServerSpec

ROOT = Path(__file__).resolve().parents[1]
OURS_BIN = ROOT / ".venv" / "bin"
MLFLOW_BIN = ROOT / ".venvs" / "mlflow3" / "bin"
CACHE_FORMAT = 1  # bump when the populate data changes


@dataclass(frozen=True)
class Sizes:
    log_metric_calls: int
    batch_requests: int
    runs: int
    history_points: int
    artifact_mib: int
    artifact_repeats: int
    search_repeats: int
    history_repeats: int
    rounds: int
    coldstart_repeats: int
    import_repeats: int


QUICK = Sizes(500, 10, 2000, 20_000, 20, 1, 5, 2, 2, 1, 3)
# 100 log-batch requests a round (30 before 2026-12-04 midday): at ~200k points/s ours took
# 0.15 s a round, so one background checkpoint or scheduler stall decided a round's figure;
# half a second holds several checkpoint passes, as sustained logging does.
FULL = Sizes(3000, 100, 10_000, 100_000, 100, 3, 20, 5, 3, 3, 5)

FILTER = "metrics.acc > 0.5 and params.model = 'rf'"
ORDER = ["metrics.acc DESC"]


BENCH_ADMIN = ("bench-admin", "bench-only-Passw0rd-not-secret")


def server_specs(mlflow_mode: str, auth: bool = False) -> list[ServerSpec]:
    # The default server requires authentication; --ledgerflow-auth measures it that way
    # (a bootstrap admin, Basic credentials on every request), else it runs with --no-auth.
    auth_env = {
        "LEDGERFLOW_BOOTSTRAP_ADMIN_USERNAME": BENCH_ADMIN[0],
        "LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD": BENCH_ADMIN[1],
    }
    ours = ServerSpec(
        "ledgerflow",
        [
            str(OURS_BIN / "ledgerflow"),
            "server",
            "--backend-store-uri",
            "sqlite:///{data}/ledgerflow.db",
            "--artifacts-destination",
            "{data}/artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            *([] if auth else ["--no-auth"]),
        ],
        auth_env if auth else {},
    )
    mlflow_argv = [
        str(MLFLOW_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        "sqlite:///{data}/mlflow.db",
        "--artifacts-destination",
        "{data}/mlartifacts",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
    ]
    path_env = {
        "PATH": f"{MLFLOW_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    specs = [ours]
    if mlflow_mode in ("default", "both"):
        specs.append(ServerSpec("mlflow", mlflow_argv, dict(path_env)))
    if mlflow_mode in ("lean", "both"):
        specs.append(
            ServerSpec(
                "mlflow-lean",
                [*mlflow_argv, "--workers", "1"],
                {**path_env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            )
        )
    return specs


def mlflow_version() -> str:
    out = subprocess.run(
        [str(MLFLOW_BIN / "python"), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- one-shot measures
def import_time(python: Path, module: str, repeats: int) -> dict[str, Any]:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeats + 1):  # the first, cold-cache import is not counted
        out = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, check=True, timeout=120
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return {"value": statistics.median(times[1:]), "unit": "s", "all": times}


def cold_starts(specs: list[ServerSpec], repeats: int, work: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, list[float]] = {spec.label: [] for spec in specs}
    for round_no in range(repeats):
        for spec in specs:
            server = Server(spec, work / f"coldstart-{spec.label}-{round_no}")
            results[spec.label].append(server.ready_s)
            server.stop()
            log(f"cold start {spec.label}: {server.ready_s:.2f}s")
    return {label: {"value": statistics.median(v), "unit": "s", "all": v} for label, v in results.items()}


# --------------------------------------------------------------------------- populated stores
@dataclass
class Populated:
    search_experiment: str
    history_run: str
    populate: dict[str, Any] | None


def populate(url: str, sizes: Sizes, threads: int) -> Populated:
    http = wl.Http(url)
    experiment = wl.create_experiment(http, "bench-search")
    history_experiment = wl.create_experiment(http, "bench-history")
    http.close()
    started = time.perf_counter()
    runs = wl.populate_runs(url, experiment, sizes.runs, threads)
    history_run = wl.populate_history(url, history_experiment, sizes.history_points)
    runs["total_seconds_with_history"] = time.perf_counter() - started
    return Populated(experiment, history_run, runs)


def cache_key(sizes: Sizes, version: str) -> str:
    return f"mlflow-{version}-runs{sizes.runs}-points{sizes.history_points}-v{CACHE_FORMAT}"


def prepare_mlflow_data(cache: Path, key: str, data_dir: Path) -> Populated | None:
    entry = cache / key
    if not (entry / "meta.json").exists():
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(entry / "mlflow.db", data_dir / "mlflow.db")
    meta = json.loads((entry / "meta.json").read_text())
    return Populated(meta["search_experiment"], meta["history_run"], None)


def store_mlflow_cache(cache: Path, key: str, data_dir: Path, populated: Populated) -> None:
    entry = cache / key
    entry.mkdir(parents=True, exist_ok=True)
    # The online-backup API gives a consistent copy even while the server holds the file open.
    source = sqlite3.connect(data_dir / "mlflow.db")
    target = sqlite3.connect(entry / "mlflow.db.tmp")
    with target:
        source.backup(target)
    source.close()
    target.close()
    (entry / "mlflow.db.tmp").replace(entry / "mlflow.db")
    meta = {
        "search_experiment": populated.search_experiment,
        "history_run": populated.history_run,
        "populate": populated.populate,
    }
    (entry / "meta.json").write_text(json.dumps(meta))


# --------------------------------------------------------------------------- the rounds
WORKLOADS: dict[str, Callable[[str, Populated, Sizes], dict[str, Any]]] = {
    "log_metric": lambda url, p, s: wl.log_metric(url, s.log_metric_calls),
    "log_batch": lambda url, p, s: wl.log_batch(url, s.batch_requests),
    "search_filtered": lambda url, p, s: wl.search(url, p.search_experiment, FILTER, ORDER, s.search_repeats),
    "search_sorted": lambda url, p, s: wl.search(url, p.search_experiment, "", ORDER, s.search_repeats),
    "history": lambda url, p, s: wl.get_history(url, p.history_run, s.history_points, s.history_repeats),
    "artifacts": lambda url, p, s: wl.artifacts(url, s.artifact_mib, s.artifact_repeats),
}


# Workloads that read the populated runs; the others create their own run.
NEEDS_POPULATED = ("search_filtered", "search_sorted", "history")


def median_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key, first in records[0].items():
        values = [r[key] for r in records]
        if isinstance(first, int | float) and not isinstance(first, bool):
            merged[key] = statistics.median(values)
            merged[f"{key}_rounds"] = values
        else:
            merged[key] = first if all(v == first for v in values) else values
    return merged


# --------------------------------------------------------------------------- the report
@dataclass(frozen=True)
class Row:
    title: str
    workload: str
    field: str
    higher_is_better: bool
    target: float | None  # minimum "times better than MLflow"
    absolute_max: float | None = None  # for absolute targets on our figure


def rows(sizes: Sizes) -> list[Row]:
    return [
        Row("log-metric, 1 client (req/s)", "log_metric", "value", True, 10),
        Row("log-batch 1000 metrics (points/s)", "log_batch", "value", True, 20),
        Row(
            f"runs/search filter+order, {sizes.runs} runs, top 100 (ms p50)",
            "search_filtered",
            "value",
            False,
            20,
        ),
        Row("runs/search order by metric, no filter (ms p50)", "search_sorted", "value", False, 50),
        Row(f"get-history {sizes.history_points} points (ms p50)", "history", "value", False, 10),
        Row(f"artifact upload {sizes.artifact_mib} MiB (MiB/s)", "artifacts", "upload_mib_s", True, 1),
        Row(f"artifact download {sizes.artifact_mib} MiB (MiB/s)", "artifacts", "download_mib_s", True, 1),
        Row("idle memory, process tree PSS (MiB)", "idle_memory", "pss_mib", False, 10),
        Row("idle memory, process tree RSS (MiB)", "idle_memory", "rss_mib", False, 10),
        Row("cold start to /health, fresh DB (s)", "cold_start", "value", False, None, 2.0),
        Row("import time (s)", "import", "value", False, None, 0.2),
    ]


def table(
    results: dict[str, dict[str, dict[str, Any]]], sizes: Sizes, mlflow_labels: list[str]
) -> tuple[str, list[dict[str, Any]]]:
    lines = []
    header = (
        f"{'workload':58s} {'ledgerflow':>12s}"
        + "".join(f" {label:>12s} {'× better':>9s}" for label in mlflow_labels)
        + f" {'target':>8s}  verdict"
    )
    lines.append(header)
    lines.append("-" * len(header))
    summary = []
    for row in rows(sizes):
        ours = results.get("ledgerflow", {}).get(row.workload, {}).get(row.field)
        cells = f"{row.title:58s} {fmt(ours):>12s}"
        verdicts = []
        entry: dict[str, Any] = {"workload": row.title, "ledgerflow": ours}
        for label in mlflow_labels:
            theirs = results.get(label, {}).get(row.workload, {}).get(row.field)
            ratio = None
            if ours and theirs:
                ratio = ours / theirs if row.higher_is_better else theirs / ours
            cells += f" {fmt(theirs):>12s} {fmt(ratio, 'x'):>9s}"
            entry[label] = theirs
            entry[f"times_better_than_{label}"] = ratio
            if row.target is not None and ratio is not None:
                verdicts.append(ratio >= row.target)
        if row.target is not None:
            target = f"≥{row.target:g}×"
        else:
            target = f"≤{row.absolute_max:g}s"
            if ours is not None and row.absolute_max is not None:
                verdicts.append(ours <= row.absolute_max)
        verdict = "-" if not verdicts else ("PASS" if all(verdicts) else "MISS")
        entry["target"] = target
        entry["verdict"] = verdict
        summary.append(entry)
        lines.append(f"{cells} {target:>8s}  {verdict}")
    return "\n".join(lines), summary


def fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}{suffix}"
        if value >= 10:
            return f"{value:.1f}{suffix}"
        return f"{value:.3g}{suffix}"
    return f"{value}{suffix}"


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (2k runs, 20k points, 20 MiB)")
    parser.add_argument(
        "--mlflow",
        choices=["default", "lean", "both"],
        default="default",
        help="which MLflow server configuration(s) to compare with",
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (median reported)")
    parser.add_argument(
        "--cache-dir", default=os.environ.get("LEDGERFLOW_BENCH_CACHE", "/tmp/ledgerflow-bench-cache")
    )
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--skip-coldstart", action="store_true")
    parser.add_argument(
        "--ledgerflow-auth", action="store_true", help="run Ledgerflow with authentication on (Basic auth)"
    )
    parser.add_argument("--populate-threads", type=int, default=4)
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated workloads to run ({','.join(WORKLOADS)}); skips import, cold-start, "
        "idle-memory and (unless a search or history workload is named) populate",
    )
    args = parser.parse_args()
    selected = list(WORKLOADS) if args.only is None else [name.strip() for name in args.only.split(",")]
    unknown = sorted(set(selected) - set(WORKLOADS))
    if unknown:
        sys.exit(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    partial = args.only is not None
    needs_data = any(name in NEEDS_POPULATED for name in selected)

    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(**{**sizes.__dict__, "rounds": args.rounds})
    if not (MLFLOW_BIN / "mlflow").exists():
        sys.exit("MLflow venv missing: run `bash scripts/setup_compat_venvs.sh` first")
    version = mlflow_version()
    if args.ledgerflow_auth:
        os.environ["LEDGERFLOW_BENCH_BASIC"] = ":".join(BENCH_ADMIN)
    specs = server_specs(args.mlflow, args.ledgerflow_auth)
    mlflow_labels = [s.label for s in specs if s.label != "ledgerflow"]
    cache = Path(args.cache_dir)
    work = Path(tempfile.mkdtemp(prefix="ledgerflow-bench-"))
    results: dict[str, dict[str, dict[str, Any]]] = {spec.label: {} for spec in specs}
    meta: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "sizes": sizes.__dict__,
        "mlflow_version": version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "load1_start": os.getloadavg()[0],
        "filter": FILTER,
        "order_by": ORDER,
        "workloads": selected,
    }
    log(f"work dir {work}; MLflow {version}; sizes {sizes}")

    if not partial:
        log("import times")
        results["ledgerflow"]["import"] = import_time(OURS_BIN / "python", "ledgerflow", sizes.import_repeats)
        for label in mlflow_labels:
            results[label]["import"] = import_time(MLFLOW_BIN / "python", "mlflow", sizes.import_repeats)

    if not args.skip_coldstart and not partial:
        log("cold starts")
        for label, record in cold_starts(specs, sizes.coldstart_repeats, work).items():
            results[label]["cold_start"] = record

    servers: dict[str, Server] = {}
    populated: dict[str, Populated] = {}
    try:
        key = cache_key(sizes, version)
        for spec in specs:
            data_dir = work / f"server-{spec.label}"
            cached = (
                prepare_mlflow_data(cache, key, data_dir)
                if spec.label != "ledgerflow" and needs_data
                else None
            )
            servers[spec.label] = Server(spec, data_dir)
            if cached:
                log(f"{spec.label}: reusing populated database from {cache / key}")
                populated[spec.label] = cached
        if not partial:
            log("settling 10 s before measuring idle memory")
            time.sleep(10)
            for label, server in servers.items():
                results[label]["idle_memory"] = server.memory_mib()
                log(f"idle memory {label}: {results[label]['idle_memory']}")

        for label in list(servers):
            if not needs_data:
                populated[label] = Populated("", "", None)
                continue
            if label in populated:
                continue
            threads = args.populate_threads if label == "ledgerflow" else 8
            log(
                f"populating {label}: {sizes.runs} runs + {sizes.history_points} history points ({threads} threads)"
            )
            populated[label] = populate(servers[label].url, sizes, threads)
            results[label]["populate"] = populated[label].populate or {}
            log(f"populated {label}: {populated[label].populate}")
            if label == "ledgerflow":
                continue
            store_mlflow_cache(cache, key, servers[label].data_dir, populated[label])
            # Any other MLflow config restarts on a copy of the same (now cached) database.
            for other in mlflow_labels:
                if other in populated:
                    continue
                spec, data_dir = servers[other].spec, servers[other].data_dir
                servers[other].stop()
                populated[other] = prepare_mlflow_data(cache, key, data_dir) or populated[label]
                servers[other] = Server(spec, data_dir)

        # Every server idle, then one small pass of each workload that is not counted: the
        # first requests after start-up warm caches, connection pools and lazy imports on
        # every server alike, and round 1 should measure the same steady state as the others.
        for label, server in servers.items():
            log(f"{label}: idle after {server.wait_idle():.1f} s")
        warm = replace(sizes, log_metric_calls=200, batch_requests=5, search_repeats=2, history_repeats=1)
        for name in selected:
            if name == "artifacts":
                continue  # 100 MiB each way per server; its rounds are long enough to settle
            for label, server in servers.items():
                WORKLOADS[name](server.url, populated[label], warm)
        log("warm-up pass done")
        per_round: dict[str, dict[str, list[dict[str, Any]]]] = {label: {} for label in servers}
        for round_no in range(1, sizes.rounds + 1):
            for name in selected:
                workload = WORKLOADS[name]
                for label, server in servers.items():
                    record = workload(server.url, populated[label], sizes)
                    per_round[label].setdefault(name, []).append(record)
                    log(
                        f"round {round_no} {name:16s} {label:12s} {fmt(record.get('value', record.get('upload_mib_s')))}"
                    )
        for label, by_name in per_round.items():
            for name, records in by_name.items():
                results[label][name] = median_record(records)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    meta["load1_end"] = os.getloadavg()[0]
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    text, summary = table(results, sizes, mlflow_labels)
    for name in ("search_filtered", "search_sorted"):
        prints = {label: results[label].get(name, {}).get("fingerprint") for label in results}
        meta[f"{name}_same_answer"] = len(set(prints.values())) == 1 if name in selected else None
    print(text)
    if args.quick:
        print(
            "\nquick sizes: the search and history targets are set for the full sizes (10k runs, 100k points)"
        )
    print(
        f"\nsame top-100 from every server: filtered={meta['search_filtered_same_answer']} "
        f"sorted={meta['search_sorted_same_answer']}; load1 {meta['load1_start']:.1f} → {meta['load1_end']:.1f}"
    )
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = meta["mode"] + ("-" + "-".join(selected) if partial else "")
    out = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{suffix}.json"
    out.write_text(json.dumps({"meta": meta, "summary": summary, "results": results}, indent=1, default=str))
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
