"""Authentication overhead: the same Ledgerflow build with auth off and on, interleaved.

Two `ledgerflow server` processes on fresh SQLite databases: one `--no-auth`, one with
authentication and authorization on, driven as a plain (non-admin) user holding a Bearer token
with the write scope, in an experiment that user created (so every request goes through token
lookup, scope check and the per-resource permission check, and every write is audited, as in
production; an admin would skip the resource check). Workloads, each round on both servers in
turn (A B, B A, ...), median over rounds:

* log-metric: sequential keep-alive POSTs, req/s;
* search: `runs/search` with a filter and an order over a populated experiment, ms (p50).

Also measured in-process: the per-request cost of the browser-hardening layer (Host
allow-list, Origin check, security headers; `security/web`) around a trivial ASGI app, and the
CPU time per request of both configurations (CPU time barely moves with the machine's load,
which on a shared 2-core box swings req/s by 2-3x between rounds).

    .venv/bin/python benchmarks/auth_overhead.py --quick
    .venv/bin/python benchmarks/auth_overhead.py            # more calls and rounds
    .venv/bin/python benchmarks/auth_overhead.py --quick --cpu-only

Target: auth-on within 15% of auth-off. Results land in results/<time>-auth-overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import Server, ServerSpec
from workloads import API, JSON_HEADERS, BenchError, Http, now_ms, percentile, run_payload

ADMIN = ("bench-root", "Overhead-Admin-Passw0rd-9")
USER = ("bench-user", "Overhead-Plain-Passw0rd-7")
FILTER = "metrics.acc > 0.5 and params.model = 'rf'"
ORDER = ["metrics.loss ASC"]


def server_spec(label: str, auth: bool) -> ServerSpec:
    argv = [
        sys.executable, "-m", "ledgerflow.cli", "server", "--port", "{port}",
        "--backend-store-uri", "sqlite:///{data}/db.sqlite", "--artifacts-destination", "{data}/artifacts",
    ]  # fmt: skip
    if not auth:
        argv.append("--no-auth")
        return ServerSpec(label, argv)
    env = {"LEDGERFLOW_BOOTSTRAP_ADMIN_USERNAME": ADMIN[0], "LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1]}
    return ServerSpec(label, argv, env)


class Client(Http):
    """The workloads' keep-alive client with an explicit Authorization header (or none)."""

    def __init__(self, url: str, authorization: str | None) -> None:
        super().__init__(url)
        self.auth = {"Authorization": authorization} if authorization else {}


def post_ledgerflow(http: Http, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    status, data = http.request("POST", "/api/2.0/ledgerflow" + path, json.dumps(payload), JSON_HEADERS)
    return Http._json(status, data, path)


def basic(user: tuple[str, str]) -> str:
    import base64

    return "Basic " + base64.b64encode(":".join(user).encode()).decode()


def bearer_for_user(url: str) -> str:
    """Create a plain user and a write-scoped token for it, as the admin; returns the header."""
    admin = Client(url, basic(ADMIN))
    post_ledgerflow(admin, "/users/create", {"username": USER[0], "password": USER[1]})
    as_user = Client(url, basic(USER))
    made = post_ledgerflow(as_user, "/tokens/create", {"name": "bench", "scopes": ["write"]})
    admin.close()
    as_user.close()
    return "Bearer " + str(made["secret"])


def prepare(url: str, authorization: str | None, runs: int) -> dict[str, str]:
    """An experiment (created by the measuring identity), a run to log to, and populated runs."""
    http = Client(url, authorization)
    experiment = str(http.post("/experiments/create", {"name": "auth-overhead"})["experiment_id"])
    log_run = str(http.post("/runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"])
    for index in range(runs):
        made = http.post(
            "/runs/create",
            {"experiment_id": experiment, "run_name": f"run-{index:05d}", "start_time": 1 + index},
        )
        http.post("/runs/log-batch", {"run_id": made["run"]["info"]["run_id"], **run_payload(index)})
    http.close()
    return {"experiment_id": experiment, "run_id": log_run}


def server_cpu_s(server: Server) -> float:
    """CPU seconds used so far by the server's whole process tree (user + system)."""
    total = 0.0
    for proc in server.tree():
        try:
            times = proc.cpu_times()
        except Exception:  # the process ended between listing and reading
            continue
        total += times.user + times.system
    return total


def log_metric(url: str, authorization: str | None, run_id: str, calls: int, step0: int) -> dict[str, Any]:
    http = Client(url, authorization)
    latencies = []
    started = time.perf_counter()
    for step in range(step0, step0 + calls):
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
    return {"req_per_s": calls / elapsed, "p50_ms": percentile(latencies, 50) * 1000}


def search(url: str, authorization: str | None, experiment_id: str, repeats: int) -> dict[str, Any]:
    http = Client(url, authorization)
    body = json.dumps(
        {"experiment_ids": [experiment_id], "filter": FILTER, "order_by": ORDER, "max_results": 100}
    )
    latencies = []
    hits = 0
    for attempt in range(repeats + 1):
        t0 = time.perf_counter()
        status, answer = http.request("POST", API + "/runs/search", body, JSON_HEADERS)
        if status != 200:
            raise BenchError(f"runs/search HTTP {status}: {answer[:300]!r}")
        if attempt:
            latencies.append(time.perf_counter() - t0)
        hits = len(json.loads(answer).get("runs", []))
    http.close()
    return {"p50_ms": statistics.median(latencies) * 1000, "hits": hits}


def web_guard_cost(requests: int) -> dict[str, float]:
    """µs per request of the security/web layer around a trivial ASGI app, in-process."""
    from ledgerflow.security.web.hosts import HostPolicy, default_allowed_hosts
    from ledgerflow.security.web.middleware import WebGuard

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})

    guarded = WebGuard(bare, HostPolicy(default_allowed_hosts("127.0.0.1")))
    scope = {
        "type": "http", "method": "POST", "path": "/api/2.0/mlflow/runs/log-metric", "scheme": "http",
        "headers": [(b"host", b"127.0.0.1:5000"), (b"content-type", b"application/json"),
                    (b"authorization", b"Bearer x"), (b"content-length", b"90")],
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: Any) -> None:
        return None

    async def loop(app: Any) -> float:
        started = time.perf_counter()
        for _ in range(requests):
            await app(scope, receive, send)
        return (time.perf_counter() - started) / requests * 1e6

    rounds = [(asyncio.run(loop(bare)), asyncio.run(loop(guarded))) for _ in range(5)]
    base = statistics.median(r[0] for r in rounds)
    with_guard = statistics.median(r[1] for r in rounds)
    return {
        "bare_us": round(base, 2),
        "guarded_us": round(with_guard, 2),
        "overhead_us": round(with_guard - base, 2),
    }


def in_process_cpu(rounds: int, calls: int, runs: int) -> dict[str, Any]:
    """CPU milliseconds per request (every thread of this process: event loop and thread pool),
    the same two configurations built in-process and called through Starlette's TestClient.
    CPU time hardly moves with the machine's load, unlike req/s on a shared 2-core box."""
    import base64

    from starlette.testclient import TestClient

    from ledgerflow.config import ServerConfig
    from ledgerflow.security.web.hosts import default_allowed_hosts
    from ledgerflow.server.app import create_app

    def build(tmp: str, auth: bool) -> tuple[TestClient, str, str]:
        config = ServerConfig(
            backend_store_uri=f"sqlite:///{tmp}/db.sqlite",
            artifacts_destination=f"{tmp}/artifacts",
            auth_required=auth,
            allowed_hosts=default_allowed_hosts("127.0.0.1"),
        )
        client = TestClient(create_app(config), base_url="http://127.0.0.1:5000")
        client.__enter__()
        if auth:
            services = client.app.state.services  # type: ignore[attr-defined]
            services.auth.create_user(*ADMIN, is_admin=True)
            services.auth.create_user(*USER)
            as_user = {"Authorization": "Basic " + base64.b64encode(":".join(USER).encode()).decode()}
            made = client.post(
                "/api/2.0/ledgerflow/tokens/create", json={"name": "b", "scopes": ["write"]}, headers=as_user
            )
            client.headers["Authorization"] = "Bearer " + made.json()["secret"]
        experiment = client.post(API + "/experiments/create", json={"name": "cpu"}).json()["experiment_id"]
        run_id = client.post(API + "/runs/create", json={"experiment_id": experiment}).json()["run"]["info"][
            "run_id"
        ]
        for index in range(runs):
            made_run = client.post(
                API + "/runs/create", json={"experiment_id": experiment, "run_name": f"r{index}"}
            )
            client.post(
                API + "/runs/log-batch",
                json={"run_id": made_run.json()["run"]["info"]["run_id"], **run_payload(index)},
            )
        return client, experiment, run_id

    def cpu_ms(work: Any, n: int) -> float:
        started = time.process_time()
        for i in range(n):
            work(i)
        return (time.process_time() - started) / n * 1000

    figures: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="lf-auth-cpu-") as tmp:
        clients = {label: build(f"{tmp}/{label}", label == "auth-on") for label in ("auth-off", "auth-on")}
        for label in clients:
            figures[label] = {"log_metric_cpu_ms": [], "search_cpu_ms": []}
        search_body = {"experiment_ids": [], "filter": FILTER, "order_by": ORDER, "max_results": 100}
        for round_no in range(rounds):
            order = list(clients) if round_no % 2 == 0 else list(reversed(clients))
            for label in order:
                client, experiment, run_id = clients[label]
                base = round_no * calls

                def metric(
                    i: int, client: TestClient = client, run_id: str = run_id, base: int = base
                ) -> None:
                    body = {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": base + i}
                    assert client.post(API + "/runs/log-metric", json=body).status_code == 200

                def find(_i: int, client: TestClient = client, experiment: str = experiment) -> None:
                    body = {**search_body, "experiment_ids": [experiment]}
                    assert client.post(API + "/runs/search", json=body).status_code == 200

                figures[label]["log_metric_cpu_ms"].append(cpu_ms(metric, calls))
                figures[label]["search_cpu_ms"].append(cpu_ms(find, max(calls // 20, 10)))
        for client, _, _ in clients.values():
            client.__exit__(None, None, None)
    medians = {label: {k: statistics.median(v) for k, v in f.items()} for label, f in figures.items()}
    return {
        "medians": medians,
        "log_metric_cpu_on_over_off": round(
            medians["auth-on"]["log_metric_cpu_ms"] / medians["auth-off"]["log_metric_cpu_ms"], 3
        ),
        "search_cpu_on_over_off": round(
            medians["auth-on"]["search_cpu_ms"] / medians["auth-off"]["search_cpu_ms"], 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds (about two minutes)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--cpu-only", action="store_true", help="only the in-process CPU comparison")
    args = parser.parse_args()
    rounds = args.rounds or (4 if args.quick else 8)
    calls = 1000 if args.quick else 3000
    runs = 500 if args.quick else 2000
    repeats = 50 if args.quick else 150
    results: dict[str, Any] = {"meta": {"rounds": rounds, "log_metric_calls": calls, "search_runs": runs}}
    if args.cpu_only:
        cpu = in_process_cpu(rounds, min(calls, 1000), min(runs, 500))
        print(json.dumps(cpu, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="lf-auth-bench-") as tmp:
        off = Server(server_spec("auth-off", False), Path(tmp) / "off")
        on = Server(server_spec("auth-on", True), Path(tmp) / "on")
        try:
            headers: dict[str, str | None] = {"auth-off": None, "auth-on": bearer_for_user(on.url)}
            servers = {"auth-off": off, "auth-on": on}
            setup = {label: prepare(s.url, headers[label], runs) for label, s in servers.items()}
            figures: dict[str, dict[str, list[float]]] = {
                label: {
                    "log_metric_req_s": [],
                    "search_p50_ms": [],
                    "log_metric_server_cpu_ms": [],
                    "search_server_cpu_ms": [],
                }
                for label in servers
            }
            for round_no in range(rounds):
                order = list(servers) if round_no % 2 == 0 else list(reversed(servers))
                for label in order:
                    url, auth = servers[label].url, headers[label]
                    cpu0 = server_cpu_s(servers[label])
                    lm = log_metric(url, auth, setup[label]["run_id"], calls, round_no * calls)
                    cpu1 = server_cpu_s(servers[label])
                    sr = search(url, auth, setup[label]["experiment_id"], repeats)
                    cpu2 = server_cpu_s(servers[label])
                    figures[label]["log_metric_req_s"].append(lm["req_per_s"])
                    figures[label]["search_p50_ms"].append(sr["p50_ms"])
                    figures[label]["log_metric_server_cpu_ms"].append((cpu1 - cpu0) / calls * 1000)
                    figures[label]["search_server_cpu_ms"].append((cpu2 - cpu1) / (repeats + 1) * 1000)
                    print(f"round {round_no + 1} {label}: log-metric {lm['req_per_s']:.0f} req/s, "
                          f"search {sr['p50_ms']:.2f} ms ({sr['hits']} hits)", flush=True)  # fmt: skip
        finally:
            off.stop()
            on.stop()
    medians = {label: {k: statistics.median(v) for k, v in f.items()} for label, f in figures.items()}
    lm_ratio = medians["auth-on"]["log_metric_req_s"] / medians["auth-off"]["log_metric_req_s"]
    search_ratio = medians["auth-on"]["search_p50_ms"] / medians["auth-off"]["search_p50_ms"]
    guard = web_guard_cost(20_000)
    cpu = in_process_cpu(rounds, min(calls, 1000), min(runs, 500))
    results.update(rounds=figures, medians=medians, web_guard=guard, in_process_cpu=cpu)
    cpu_lm = medians["auth-on"]["log_metric_server_cpu_ms"] / medians["auth-off"]["log_metric_server_cpu_ms"]
    cpu_search = medians["auth-on"]["search_server_cpu_ms"] / medians["auth-off"]["search_server_cpu_ms"]
    paired = [
        on / off
        for on, off in zip(
            figures["auth-on"]["log_metric_req_s"], figures["auth-off"]["log_metric_req_s"], strict=True
        )
    ]
    results["ratios"] = {
        "log_metric_throughput_on_over_off": round(lm_ratio, 3),
        "log_metric_throughput_paired_median": round(statistics.median(paired), 3),
        "search_latency_on_over_off": round(search_ratio, 3),
        "log_metric_server_cpu_on_over_off": round(cpu_lm, 3),
        "search_server_cpu_on_over_off": round(cpu_search, 3),
    }
    print()
    print(f"log-metric: off {medians['auth-off']['log_metric_req_s']:.0f} req/s, "
          f"on {medians['auth-on']['log_metric_req_s']:.0f} req/s -> {lm_ratio:.1%} of auth-off")  # fmt: skip
    print(f"search:     off {medians['auth-off']['search_p50_ms']:.2f} ms, "
          f"on {medians['auth-on']['search_p50_ms']:.2f} ms -> {search_ratio:.2f}x the latency")  # fmt: skip
    print(f"log-metric: same-round on/off throughput, median {statistics.median(paired):.1%}")
    print(f"server CPU per request, on/off: log-metric {cpu_lm:.2f}, search {cpu_search:.2f}")
    print(f"web guard:  {guard['overhead_us']} µs per request in-process")
    print(
        f"in-process CPU per request, on/off: log-metric {cpu['log_metric_cpu_on_over_off']:.2f}, "
        f"search {cpu['search_cpu_on_over_off']:.2f}"
    )
    out = Path(__file__).resolve().parent / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}-auth-overhead.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
