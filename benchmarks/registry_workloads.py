"""Model registry and model serving workloads. Registry calls speak MLflow's REST wire protocol
(the same code drives both servers); model logging and loading run each project's own client
in a fresh interpreter of its own virtualenv.

Every loop is bounded by a request count; nothing runs open-ended.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workloads import API, JSON_HEADERS, BenchError, Http, create_experiment, now_ms, percentile

SERVE_MODEL = "bench-sk"
FEATURES = ["f0", "f1", "f2", "f3"]


def model_name(index: int) -> str:
    return f"m{index}"


# ------------------------------------------------------------------------- populate
def populate_registry(url: str, models: int, versions_per_model: int, threads: int) -> dict[str, Any]:
    """``models`` registered models with ``versions_per_model`` versions each; every version
    carries a tag, every model a description, so both servers hold the same rows."""

    setup = Http(url)
    experiment_id = create_experiment(setup, "bench-registry")
    setup.close()

    def worker(indices: range) -> None:
        http = Http(url)
        for index in indices:
            name = model_name(index)
            http.post("/registered-models/create", {"name": name, "description": f"bench model {index}"})
            # Both servers only accept a source inside the artifacts of the run it names.
            info = http.post("/runs/create", {"experiment_id": experiment_id, "start_time": now_ms()})
            run_id, artifact_uri = info["run"]["info"]["run_id"], info["run"]["info"]["artifact_uri"]
            for version in range(1, versions_per_model + 1):
                http.post(
                    "/model-versions/create",
                    {
                        "name": name,
                        "source": f"{artifact_uri.rstrip('/')}/model-{version}",
                        "run_id": run_id,
                        "tags": [{"key": "parity", "value": "even" if version % 2 == 0 else "odd"}],
                    },
                )
        http.close()

    chunk = (models + threads - 1) // threads
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, [range(i, min(i + chunk, models)) for i in range(0, models, chunk)]))
    elapsed = time.perf_counter() - started
    total = models * versions_per_model
    return {"versions": total, "seconds": elapsed, "versions_per_s": total / elapsed}


# ------------------------------------------------------------------------- registry reads
def _timed_gets(http: Http, path: str, params: dict[str, Any], repeats: int) -> tuple[list[float], bytes]:
    query = f"{API}{path}?{urllib.parse.urlencode(params)}"
    latencies = []
    answer = b""
    for attempt in range(repeats + 1):
        t0 = time.perf_counter()
        status, answer = http.request("GET", query)
        if status != 200:
            raise BenchError(f"{path} HTTP {status}: {answer[:300]!r}")
        if attempt:  # the first request warms caches and is not timed
            latencies.append(time.perf_counter() - t0)
    return latencies, answer


def _fingerprint(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def _summary(latencies: list[float], answer: bytes, hits: int, fingerprint: str) -> dict[str, Any]:
    return {
        "value": statistics.median(latencies) * 1000,
        "unit": "ms (p50)",
        "p90_ms": percentile(latencies, 90) * 1000,
        "repeats": len(latencies),
        "hits": hits,
        "response_bytes": len(answer),
        "fingerprint": fingerprint,
    }


def search_versions_by_name(url: str, name: str, repeats: int) -> dict[str, Any]:
    http = Http(url)
    latencies, answer = _timed_gets(
        http, "/model-versions/search", {"filter": f"name='{name}'", "max_results": 100}, repeats
    )
    http.close()
    versions = json.loads(answer).get("model_versions", [])
    # Compare as a set: the servers may order equal creation times differently.
    keys = sorted(f"{v['name']}/{v['version']}" for v in versions)
    return _summary(latencies, answer, len(versions), _fingerprint(keys))


def search_models_like(url: str, pattern: str, repeats: int) -> dict[str, Any]:
    http = Http(url)
    latencies, answer = _timed_gets(
        http,
        "/registered-models/search",
        {"filter": f"name LIKE '{pattern}'", "max_results": 100, "order_by": "name ASC"},
        repeats,
    )
    http.close()
    models = json.loads(answer).get("registered_models", [])
    return _summary(latencies, answer, len(models), _fingerprint([m["name"] for m in models]))


def page_all_models(url: str, page_size: int, expected: int, repeats: int) -> dict[str, Any]:
    """Walks every registered model, ``page_size`` per page, by page token."""
    http = Http(url)
    latencies = []
    names: list[str] = []
    pages = 0
    for attempt in range(repeats + 1):
        names, pages, token = [], 0, None
        t0 = time.perf_counter()
        for _page in range(expected // page_size + 3):  # bounded
            params: dict[str, Any] = {"max_results": page_size, "order_by": "name ASC"}
            if token:
                params["page_token"] = token
            status, data = http.request(
                "GET", f"{API}/registered-models/search?{urllib.parse.urlencode(params)}"
            )
            if status != 200:
                raise BenchError(f"registered-models/search HTTP {status}: {data[:300]!r}")
            page = json.loads(data)
            names.extend(m["name"] for m in page.get("registered_models", []))
            pages += 1
            token = page.get("next_page_token")
            if not token:
                break
        if attempt:
            latencies.append(time.perf_counter() - t0)
    http.close()
    bench_names = [n for n in names if n != SERVE_MODEL]
    if len(bench_names) != expected:
        raise BenchError(f"paging returned {len(bench_names)} models, expected {expected}")
    return {
        "value": statistics.median(latencies) * 1000,
        "unit": "ms (p50, whole walk)",
        "pages": pages,
        "repeats": repeats,
        "fingerprint": _fingerprint(bench_names),
    }


# ------------------------------------------------------------------------- a real sklearn model
# Runs inside each project's own virtualenv: trains the same tiny classifier and logs it with
# that project's client, registered under SERVE_MODEL; argv: flavour ("mlflow" | "ledgerflow"),
# tracking URL, and (mlflow only) a directory to also save the served model into and which
# model that is ("logreg", the registered one, or "forest": 100 trees on the same data).
LOG_MODEL_SCRIPT = """
import json, sys
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression

kind, url = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
x = pd.DataFrame(rng.normal(size=(300, 4)), columns=["f0", "f1", "f2", "f3"])
y = (x["f0"] + x["f1"] * 0.5 - x["f2"] > 0).astype(int)
model = LogisticRegression().fit(x, y)
if kind == "mlflow":
    import mlflow, mlflow.sklearn
    mlflow.set_tracking_uri(url)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="{name}",
                                        input_example=x.head(3))
    if len(sys.argv) > 3:
        served, options = model, {}
        if len(sys.argv) > 4 and sys.argv[4] == "forest":
            from sklearn.ensemble import RandomForestClassifier
            served = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
            # skops refuses tree node storage unless trusted by hand; both servers read cloudpickle
            options = {"serialization_format": "cloudpickle"}
        mlflow.sklearn.save_model(served, sys.argv[3], input_example=x.head(3), **options)
else:
    import ledgerflow, ledgerflow.sklearn
    ledgerflow.set_tracking_uri(url)
    with ledgerflow.start_run():
        info = ledgerflow.sklearn.log_model(model, name="model", registered_model_name="{name}",
                                            input_example=x.head(3))
print(json.dumps({"ok": True}))
""".replace("{name}", SERVE_MODEL)

# Times only the load call; the package import and the check prediction are outside it.
LOAD_MODEL_SCRIPT = """
import json, sys, time
kind, uri = sys.argv[1], sys.argv[2]
if kind == "mlflow":
    import mlflow.pyfunc as pyfunc
else:
    import ledgerflow.pyfunc as pyfunc
t0 = time.perf_counter()
model = pyfunc.load_model(uri)
elapsed = time.perf_counter() - t0
import pandas as pd
frame = pd.DataFrame([[0.5, -0.2, 0.1, 1.0], [-1.0, 0.3, 0.2, -0.5]], columns=["f0", "f1", "f2", "f3"])
print(json.dumps({"load_s": elapsed, "predictions": [int(p) for p in model.predict(frame)]}))
"""


def run_script(python: Path, script: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), "-c", script, *args], capture_output=True, text=True, env=env, timeout=300
    )
    if out.returncode != 0:
        raise BenchError(f"{python} script failed: {out.stderr[-2000:]}")
    parsed: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


def register_serving_model(
    http: Http, python: Path, kind: str, env: dict[str, str], save_dir: Path | None, served: str = "logreg"
) -> None:
    args = [kind, f"http://{http.host}:{http.port}", *([str(save_dir), served] if save_dir else [])]
    run_script(python, LOG_MODEL_SCRIPT, args, env)
    http.post("/registered-models/alias", {"name": SERVE_MODEL, "alias": "champion", "version": "1"})


def load_model_once(python: Path, kind: str, env: dict[str, str]) -> dict[str, Any]:
    return run_script(python, LOAD_MODEL_SCRIPT, [kind, f"models:/{SERVE_MODEL}@champion"], env)


# ------------------------------------------------------------------------- scoring server
def split_payload(rows: int) -> bytes:
    data = [
        [(i % 7) * 0.3 - 1.0, (i % 5) * 0.2, ((i * 3) % 11) * 0.1 - 0.5, (i % 3) - 1.0] for i in range(rows)
    ]
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": data}}).encode()


def invocations(
    url: str,
    rows: int,
    requests: int,
    *,
    concurrency: int = 1,
    cpu_seconds: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """``requests`` posts of a ``rows``-row body from ``concurrency`` keep-alive clients (one
    thread each, requests split evenly). With ``cpu_seconds`` (the server's process-tree CPU
    time) the record has the server's CPU per request, which the machine's other load
    disturbs far less than wall time."""
    body = split_payload(rows)
    per_client = [
        requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)
    ]
    clients = [Http(url) for _ in range(concurrency)]
    for http in clients:
        status, answer = http.request("POST", "/invocations", body, JSON_HEADERS)  # warm-up, untimed
        if status != 200:
            raise BenchError(f"/invocations HTTP {status}: {answer[:300]!r}")

    def client(index: int) -> tuple[list[float], bytes]:
        http, latencies, answer = clients[index], [], b""
        for _ in range(per_client[index]):
            t0 = time.perf_counter()
            status, answer = http.request("POST", "/invocations", body, JSON_HEADERS)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                raise BenchError(f"/invocations HTTP {status}: {answer[:300]!r}")
        return latencies, answer

    cpu_before = cpu_seconds() if cpu_seconds else 0.0
    started = time.perf_counter()
    if concurrency == 1:
        outcomes = [client(0)]
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            outcomes = list(pool.map(client, range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu_used = (cpu_seconds() - cpu_before) if cpu_seconds else None
    for http in clients:
        http.close()
    latencies = [t for times, _ in outcomes for t in times]
    predictions = json.loads(outcomes[0][1])["predictions"]
    if len(predictions) != rows:
        raise BenchError(f"/invocations returned {len(predictions)} predictions for {rows} rows")
    record: dict[str, Any] = {
        "value": requests / elapsed,
        "unit": "req/s",
        "rows_per_s": requests * rows / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "requests": requests,
        "concurrency": concurrency,
        "fingerprint": _fingerprint([json.dumps(p) for p in predictions]),
    }
    if cpu_used is not None:
        record["server_cpu_ms_per_request"] = cpu_used / requests * 1000
    return record
