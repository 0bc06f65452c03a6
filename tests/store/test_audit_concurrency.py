"""Concurrent writers, on one server and on two servers sharing a database, keep one valid chain."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx

from ledgerflow.config import ServerConfig
from ledgerflow.security.audit.verify import verify
from ledgerflow.store.database import Database
from tests.conftest import LiveServer

THREADS = 6
WRITES = 12


def _hammer(urls: list[str], experiment_id: str, run_ids: list[str]) -> list[BaseException]:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            with httpx.Client(base_url=urls[worker % len(urls)], timeout=60) as client:
                for index in range(WRITES):
                    run_id = run_ids[worker]
                    response = client.post(
                        "/api/2.0/mlflow/runs/log-parameter",
                        json={"run_id": run_id, "key": f"p{index}", "value": str(index)},
                        headers={"X-Request-Id": f"w{worker}-{index}"},
                    )
                    assert response.status_code == 200, response.text
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _setup(url: str) -> tuple[str, list[str]]:
    with httpx.Client(base_url=url, timeout=60) as client:
        experiment_id = client.post("/api/2.0/mlflow/experiments/create", json={"name": "busy"}).json()[
            "experiment_id"
        ]
        run_ids = [
            client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": experiment_id}).json()["run"][
                "info"
            ]["run_id"]
            for _ in range(THREADS)
        ]
    return experiment_id, run_ids


def _check_chain(uri: str, expected_request_ids: set[str]) -> None:
    db = Database(uri)
    try:
        with db.read() as conn:
            report = verify(conn)
            import sqlalchemy as sa

            ids = [
                row.request_id
                for row in conn.execute(sa.text("SELECT request_id FROM audit_log ORDER BY seq"))
            ]
    finally:
        db.dispose()
    assert report.ok, report.problems
    assert report.checkpoints >= 1
    assert expected_request_ids <= set(ids)
    # Exactly one record per write.
    assert len([i for i in ids if i in expected_request_ids]) == len(expected_request_ids)


def _expected() -> set[str]:
    return {f"w{worker}-{index}" for worker in range(THREADS) for index in range(WRITES)}


def test_threads_on_one_live_server_keep_a_linear_chain(
    make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig, tmp_path: Path
) -> None:
    config = replace(
        server_config, audit_signing_key_path=str(tmp_path / "k.pem"), audit_checkpoint_interval=10
    )
    server = make_live_server(config)
    experiment_id, run_ids = _setup(server.url)
    errors = _hammer([server.url], experiment_id, run_ids)
    assert not errors, errors
    _check_chain(config.backend_store_uri, _expected())


def test_two_servers_on_one_database_keep_a_linear_chain(
    make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig, tmp_path: Path
) -> None:
    # Two replicas with their own signing keys: both keys are published and both sign checkpoints.
    first = make_live_server(
        replace(server_config, audit_signing_key_path=str(tmp_path / "a.pem"), audit_checkpoint_interval=7)
    )
    second = make_live_server(
        replace(server_config, audit_signing_key_path=str(tmp_path / "b.pem"), audit_checkpoint_interval=7)
    )
    experiment_id, run_ids = _setup(first.url)
    errors = _hammer([first.url, second.url], experiment_id, run_ids)
    assert not errors, errors
    _check_chain(server_config.backend_store_uri, _expected())
