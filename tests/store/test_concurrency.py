"""Concurrent writers: many threads on one server, many server processes on one SQLite file,
and two server instances over one database. Nothing may be lost and no lock error may leak."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.conftest import LiveServer
from tests.listening import loopback_socket

WRITERS = 8
ROUNDS = 15
BATCH = 20


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/2.0/mlflow/{path}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _create_run(client: httpx.Client) -> str:
    return str(_post(client, "runs/create", {"experiment_id": "0", "start_time": 1})["run"]["info"]["run_id"])


def _write_load(client: httpx.Client, writer: int, own_run: str, shared_run: str) -> None:
    """One writer's share: batches and single points on its own run, and on a run every
    writer shares (same keys, so the latest-value upserts and param inserts collide)."""
    for rnd in range(ROUNDS):
        step = writer * ROUNDS + rnd
        points = [
            {"key": f"m{i}", "value": step + i / 100, "timestamp": step, "step": step} for i in range(BATCH)
        ]
        _post(
            client,
            "runs/log-batch",
            {"run_id": own_run, "metrics": points, "params": [{"key": f"p{rnd}", "value": "v"}]},
        )
        _post(
            client,
            "runs/log-batch",
            {"run_id": shared_run, "metrics": points, "tags": [{"key": "last", "value": str(writer)}]},
        )
        _post(
            client,
            "runs/log-metric",
            {"run_id": shared_run, "key": "single", "value": step, "timestamp": step, "step": step},
        )
        # Every writer logs the same param with the same value: a race on insert, never an error.
        _post(client, "runs/log-parameter", {"run_id": shared_run, "key": f"shared{rnd}", "value": "same"})
        _post(client, "runs/log-parameter", {"run_id": shared_run, "key": f"w{writer}r{rnd}", "value": "x"})


def _check(client: httpx.Client, own_runs: list[str], shared_run: str) -> None:
    def history(run_id: str, key: str) -> list[dict[str, Any]]:
        response = client.get(
            "/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": key}
        )
        assert response.status_code == 200, response.text
        return list(response.json().get("metrics", []))

    for writer, run_id in enumerate(own_runs):
        run = client.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]
        assert len(run["data"]["params"]) == ROUNDS
        last = writer * ROUNDS + ROUNDS - 1
        assert {m["key"]: m["step"] for m in run["data"]["metrics"]} == {f"m{i}": last for i in range(BATCH)}
        assert len(history(run_id, "m0")) == ROUNDS
    shared = client.get("/api/2.0/mlflow/runs/get", params={"run_id": shared_run}).json()["run"]
    assert len(shared["data"]["params"]) == ROUNDS + WRITERS * ROUNDS
    top = WRITERS * ROUNDS - 1
    latest = {m["key"]: (m["step"], m["value"]) for m in shared["data"]["metrics"]}
    assert latest["single"] == (top, float(top))
    assert latest["m3"] == (top, top + 0.03)
    assert len(history(shared_run, "m3")) == WRITERS * ROUNDS
    assert len(history(shared_run, "single")) == WRITERS * ROUNDS


def _run_writers(urls: list[str]) -> None:
    with httpx.Client(base_url=urls[0], timeout=120) as setup:
        shared = _create_run(setup)
        own = [_create_run(setup) for _ in range(WRITERS)]
    errors: list[BaseException] = []

    def work(writer: int) -> None:
        try:
            with httpx.Client(base_url=urls[writer % len(urls)], timeout=120) as client:
                _write_load(client, writer, own[writer], shared)
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    with httpx.Client(base_url=urls[-1], timeout=120) as client:
        _check(client, own, shared)


def test_threads_against_one_server(live_server: LiveServer) -> None:
    _run_writers([live_server.url])


def _serve(config: ServerConfig, sock: socket.socket) -> None:
    import uvicorn

    from ledgerflow.server.app import create_app

    # The socket comes bound from the parent (multiprocessing passes it), so its port was never free.
    uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning")).run(sockets=[sock])


def _wait_up(url: str, process: Any) -> None:
    # Eight interpreters importing the server at once on a shared 2-core CI box can take
    # minutes; this bounds a hang, it measures nothing.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise RuntimeError("server process died")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@pytest.mark.slow
def test_server_processes_share_one_store(tmp_path: Path, backend: str, db_uri: str) -> None:
    # SQLite: 8 server processes on one file, the "database is locked" case. PostgreSQL and
    # MariaDB: two processes, the scale-out model (stateless servers over one database).
    config = ServerConfig(backend_store_uri=db_uri, artifacts_destination=str(tmp_path / "a"))
    # Build the schema once, so the processes race on data, not on DDL.
    from ledgerflow.tracking.services import build_services

    build_services(config).close()
    context = multiprocessing.get_context("spawn")
    sockets = [loopback_socket() for _ in range(WRITERS if backend == "sqlite" else 2)]
    processes = [context.Process(target=_serve, args=(config, sock), daemon=True) for sock in sockets]
    for process in processes:
        process.start()
    try:
        urls = [f"http://127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
        for url, process in zip(urls, processes, strict=True):
            _wait_up(url, process)
        _run_writers(urls)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=15)
        for sock in sockets:
            sock.close()


def test_two_instances_over_one_database(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig
) -> None:
    first, second = make_client(server_config), make_client(server_config)
    run = first.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0", "run_name": "shared"}).json()
    run_id = run["run"]["info"]["run_id"]
    first.post("/api/2.0/mlflow/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "1"})
    second.post(
        "/api/2.0/mlflow/runs/log-metric",
        json={"run_id": run_id, "key": "m", "value": 2, "timestamp": 5, "step": 1},
    )
    first.post(
        "/api/2.0/mlflow/runs/log-metric",
        json={"run_id": run_id, "key": "m", "value": 1, "timestamp": 9, "step": 0},
    )
    changed = second.post(
        "/api/2.0/mlflow/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "2"}
    )
    assert changed.status_code == 400
    seen = [
        c.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"] for c in (first, second)
    ]
    assert seen[0] == seen[1]
    assert seen[0]["data"]["params"] == [{"key": "p", "value": "1"}]
    assert seen[0]["data"]["metrics"] == [{"key": "m", "value": 2.0, "timestamp": 5, "step": 1}]
    second.post("/api/2.0/mlflow/runs/delete", json={"run_id": run_id})
    refused = first.post("/api/2.0/mlflow/runs/set-tag", json={"run_id": run_id, "key": "k", "value": "v"})
    assert refused.status_code == 400 and "must be in the 'active' state" in refused.json()["message"]
    searched = first.post(
        "/api/2.0/mlflow/runs/search", json={"experiment_ids": ["0"], "run_view_type": "DELETED_ONLY"}
    )
    assert [r["info"]["run_id"] for r in searched.json()["runs"]] == [run_id]


def test_two_live_servers_over_one_database(
    make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig
) -> None:
    servers = [make_live_server(server_config), make_live_server(server_config)]
    _run_writers([s.url for s in servers])
