"""The measured workloads. They speak only MLflow's REST wire protocol, so the same code
drives Ledgerflow and MLflow. A small stdlib HTTP/1.1 keep-alive client keeps the load
generator's own cost per request low (both servers share the machine's 2 cores with it).

Every loop is bounded by a request count; nothing runs open-ended.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import random
import statistics
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

API = "/api/2.0/mlflow"
JSON_HEADERS = {"Content-Type": "application/json"}
MIB = 1024 * 1024


class BenchError(RuntimeError):
    pass


class Http:
    """One keep-alive connection to a loopback server."""

    def __init__(self, base_url: str, timeout: float = 600.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise BenchError(f"benchmarks only talk to loopback, not {base_url}")
        self.host, self.port, self.timeout = parsed.hostname, parsed.port or 80, timeout
        # run.py --ledgerflow-auth: Basic credentials of the bootstrap admin (MLflow ignores them).
        basic = os.environ.get("LEDGERFLOW_BENCH_BASIC")
        self.auth = {"Authorization": "Basic " + base64.b64encode(basic.encode()).decode()} if basic else {}
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers={**self.auth, **(headers or {})})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                # A server may close an idle keep-alive connection; reconnect once.
                self.conn.close()
                self.conn = self._connect()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        status, data = self.request("POST", API + path, json.dumps(payload), JSON_HEADERS)
        return self._json(status, data, path)

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        status, data = self.request("GET", f"{API}{path}?{urllib.parse.urlencode(params)}")
        return self._json(status, data, path)

    @staticmethod
    def _json(status: int, data: bytes, path: str) -> dict[str, Any]:
        if status != 200:
            raise BenchError(f"HTTP {status} on {path}: {data[:300]!r}")
        parsed: dict[str, Any] = json.loads(data) if data else {}
        return parsed

    def close(self) -> None:
        self.conn.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100.0
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def create_experiment(http: Http, prefix: str) -> str:
    return str(
        http.post("/experiments/create", {"name": f"{prefix}-{uuid.uuid4().hex[:8]}"})["experiment_id"]
    )


def create_run(http: Http, experiment_id: str, name: str | None = None, start_time: int | None = None) -> str:
    body: dict[str, Any] = {"experiment_id": experiment_id, "start_time": start_time or now_ms()}
    if name:
        body["run_name"] = name
    return str(http.post("/runs/create", body)["run"]["info"]["run_id"])


# ------------------------------------------------------------------------- writes
def log_metric(url: str, calls: int) -> dict[str, Any]:
    http = Http(url)
    run_id = create_run(http, create_experiment(http, "bench-log-metric"))
    latencies = []
    started = time.perf_counter()
    for step in range(calls):
        body = json.dumps(
            {"run_id": run_id, "key": "m", "value": step * 0.1, "timestamp": now_ms(), "step": step}
        )
        t0 = time.perf_counter()
        status, data = http.request("POST", API + "/runs/log-metric", body, JSON_HEADERS)
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            raise BenchError(f"log-metric HTTP {status}: {data[:200]!r}")
    elapsed = time.perf_counter() - started
    http.close()
    return {
        "value": calls / elapsed,
        "unit": "req/s",
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "calls": calls,
    }


def metric_batch(step0: int, keys: int, size: int, ts: int) -> list[dict[str, Any]]:
    return [
        {"key": f"k{i % keys}", "value": (step0 + i) * 0.001, "timestamp": ts, "step": step0 + i // keys}
        for i in range(size)
    ]


def log_batch(url: str, requests: int, size: int = 1000, keys: int = 10) -> dict[str, Any]:
    http = Http(url)
    run_id = create_run(http, create_experiment(http, "bench-log-batch"))
    bodies = [
        json.dumps({"run_id": run_id, "metrics": metric_batch(r * size, keys, size, now_ms())})
        for r in range(requests)
    ]
    latencies = []
    started = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        status, data = http.request("POST", API + "/runs/log-batch", body, JSON_HEADERS)
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            raise BenchError(f"log-batch HTTP {status}: {data[:200]!r}")
    elapsed = time.perf_counter() - started
    http.close()
    return {
        "value": requests * size / elapsed,
        "unit": "points/s",
        "p50_ms": percentile(latencies, 50) * 1000,
        "requests": requests,
    }


# ------------------------------------------------------------------------- populate
def run_payload(index: int) -> dict[str, Any]:
    """Deterministic per-run data, so both servers hold the same values and the search
    answers can be checked against each other."""
    rnd = random.Random(index)
    ts = 1_700_000_000_000 + index
    return {
        "params": [
            {"key": "model", "value": rnd.choice(["rf", "lr", "svm"])},
            {"key": "depth", "value": str(rnd.randint(2, 12))},
            {"key": "lr", "value": f"{rnd.uniform(0.001, 0.1):.4f}"},
        ],
        "metrics": [
            {"key": "acc", "value": round(rnd.random(), 6), "timestamp": ts, "step": 0},
            {"key": "loss", "value": round(rnd.random() * 2, 6), "timestamp": ts, "step": 0},
            {"key": "f1", "value": round(rnd.random(), 6), "timestamp": ts, "step": 0},
        ],
        "tags": [
            {"key": "team", "value": rnd.choice(["vision", "nlp", "tabular"])},
            {"key": "split", "value": rnd.choice(["a", "b"])},
        ],
    }


def populate_runs(url: str, experiment_id: str, runs: int, threads: int) -> dict[str, Any]:
    def worker(indices: range) -> None:
        http = Http(url)
        for index in indices:
            run_id = create_run(http, experiment_id, f"run-{index:05d}", 1_700_000_000_000 + index)
            http.post("/runs/log-batch", {"run_id": run_id, **run_payload(index)})
        http.close()

    chunk = (runs + threads - 1) // threads
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, [range(i, min(i + chunk, runs)) for i in range(0, runs, chunk)]))
    elapsed = time.perf_counter() - started
    return {"runs": runs, "seconds": elapsed, "runs_per_s": runs / elapsed}


def populate_history(url: str, experiment_id: str, points: int) -> str:
    http = Http(url)
    run_id = create_run(http, experiment_id, "history")
    for start in range(0, points, 1000):
        size = min(1000, points - start)
        ts = 1_700_000_000_000
        metrics = [
            {"key": "loss", "value": (start + i) * 1e-5, "timestamp": ts + start + i, "step": start + i}
            for i in range(size)
        ]
        http.post("/runs/log-batch", {"run_id": run_id, "metrics": metrics})
    http.close()
    return run_id


# ------------------------------------------------------------------------- reads
def search(
    url: str, experiment_id: str, filter_string: str, order_by: list[str], repeats: int
) -> dict[str, Any]:
    http = Http(url)
    body = json.dumps(
        {"experiment_ids": [experiment_id], "filter": filter_string, "order_by": order_by, "max_results": 100}
    )
    latencies = []
    answer = b""
    for attempt in range(repeats + 1):
        t0 = time.perf_counter()
        status, answer = http.request("POST", API + "/runs/search", body, JSON_HEADERS)
        if status != 200:
            raise BenchError(f"runs/search HTTP {status}: {answer[:300]!r}")
        if attempt:  # the first request warms caches and is not timed
            latencies.append(time.perf_counter() - t0)
    http.close()
    runs = json.loads(answer).get("runs", [])
    names = [r["info"]["run_name"] for r in runs]
    return {
        "value": statistics.median(latencies) * 1000,
        "unit": "ms (p50)",
        "p90_ms": percentile(latencies, 90) * 1000,
        "repeats": repeats,
        "hits": len(runs),
        "response_bytes": len(answer),
        # Both servers hold the same data, so the same top-100 must come back.
        "fingerprint": hashlib.sha256("\n".join(names).encode()).hexdigest()[:16],
    }


def get_history(url: str, run_id: str, expected_points: int, repeats: int) -> dict[str, Any]:
    http = Http(url)
    latencies = []
    for attempt in range(repeats + 1):
        t0 = time.perf_counter()
        total = 0
        token = None
        byte_count = 0
        for _page in range(1000):  # bounded: each page holds at least one point
            params: dict[str, Any] = {"run_id": run_id, "metric_key": "loss"}
            if token:
                params["page_token"] = token
            status, data = http.request("GET", f"{API}/metrics/get-history?{urllib.parse.urlencode(params)}")
            if status != 200:
                raise BenchError(f"get-history HTTP {status}: {data[:300]!r}")
            byte_count += len(data)
            page = json.loads(data)
            total += len(page.get("metrics", []))
            token = page.get("next_page_token")
            if not token:
                break
        if total != expected_points:
            raise BenchError(f"get-history returned {total} points, expected {expected_points}")
        if attempt:
            latencies.append(time.perf_counter() - t0)
    http.close()
    return {
        "value": statistics.median(latencies) * 1000,
        "unit": "ms (p50)",
        "points": expected_points,
        "response_bytes": byte_count,
        "repeats": repeats,
    }


# ------------------------------------------------------------------------- artifacts
def _chunks(total: int, chunk: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        sent += len(piece)
        yield piece


def artifacts(url: str, mib: int, repeats: int) -> dict[str, Any]:
    http = Http(url)
    size = mib * MIB
    chunk = random.Random(7).randbytes(MIB)
    expected = hashlib.sha256()
    for piece in _chunks(size, chunk):
        expected.update(piece)
    uploads, downloads = [], []
    for _ in range(repeats):
        path = f"/api/2.0/mlflow-artifacts/artifacts/bench/{uuid.uuid4().hex}/blob.bin"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        t0 = time.perf_counter()
        status, data = http.request("PUT", path, _chunks(size, chunk), headers)
        uploads.append(time.perf_counter() - t0)
        if status != 200:
            raise BenchError(f"artifact PUT HTTP {status}: {data[:200]!r}")
        t0 = time.perf_counter()
        http.conn.request("GET", path)
        response = http.conn.getresponse()
        digest = hashlib.sha256()
        while piece := response.read(MIB):
            digest.update(piece)
        downloads.append(time.perf_counter() - t0)
        if response.status != 200 or digest.hexdigest() != expected.hexdigest():
            raise BenchError(f"artifact GET HTTP {response.status} or content mismatch")
    http.close()
    return {
        "upload_mib_s": mib / statistics.median(uploads),
        "download_mib_s": mib / statistics.median(downloads),
        "mib": mib,
        "repeats": repeats,
    }
