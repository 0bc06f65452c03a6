"""``ledgerflow demo --serve`` as a process: it shuts down on SIGTERM like ``ledgerflow ui``
(the audit log's final checkpoint is signed), and a port in use leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import CliResult

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def demo_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "ledgerflow.cli", "demo", "--serve", *extra]


def clean_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "LEDGERFLOW_BACKEND_STORE_URI"):
        env.pop(name, None)
    return env


def start_demo(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """``demo --serve --port 0`` running in *tmp_path*, once its run is logged; and its URL."""
    process = subprocess.Popen(
        demo_command("--port", "0", *extra),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    url = ""
    line = ""
    while not line.startswith("Serving"):
        line = process.stdout.readline()
        if not line:
            process.kill()
            pytest.fail(f"demo exited early: {process.stderr.read() if process.stderr else ''}")
        found = re.search(r"(http://127\.0\.0\.1:\d+)/runs/", line)
        url = found.group(1) if found else url
        assert time.monotonic() < deadline
    assert url, "the demo printed no run URL"
    return process, url


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def test_demo_server_answers_only_to_localhost_names(tmp_path: Path) -> None:
    """The quickstart's server has no login, so like `ledgerflow ui` it refuses requests whose
    Host is any other name (a web page using DNS rebinding) and cross-origin writes."""
    process, url = start_demo(tmp_path)
    port = url.rsplit(":", 1)[1]
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            assert (
                client.get("/api/2.0/mlflow/experiments/search", params={"max_results": 5}).status_code == 200
            )
            for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
                assert client.get("/health", headers={"Host": host}).status_code == 200
            rebound = client.get(
                "/api/2.0/mlflow/experiments/search",
                params={"max_results": 5},
                headers={"Host": f"evil.example.com:{port}"},
            )
            assert rebound.status_code == 403, rebound.text
            assert rebound.json()["error_code"] == "PERMISSION_DENIED"
            write = client.post(
                "/api/2.0/mlflow/experiments/create",
                json={"name": "rebound-write"},
                headers={"Host": f"evil.example.com:{port}", "Origin": f"http://evil.example.com:{port}"},
            )
            assert write.status_code == 403, write.text
            cross_origin = client.post(
                "/api/2.0/mlflow/experiments/create",
                json={"name": "cross-origin-write"},
                headers={"Origin": "http://evil.example.com"},
            )
            assert cross_origin.status_code == 403, cross_origin.text
            names = [
                e["name"]
                for e in client.get("/api/2.0/mlflow/experiments/search", params={"max_results": 100}).json()[
                    "experiments"
                ]
            ]
            assert "rebound-write" not in names and "cross-origin-write" not in names
    finally:
        stop(process)


def test_sigterm_shuts_down_gracefully_with_the_final_audit_checkpoint(
    tmp_path: Path, cli: Callable[[list[str]], CliResult]
) -> None:
    # Timed checkpoints an hour apart and a huge interval: the only checkpoint that can exist
    # is the one signed at a graceful shutdown.
    process, _ = start_demo(
        tmp_path, "--audit-checkpoint-seconds", "3600", "--audit-checkpoint-interval", "100000"
    )
    try:
        store = ["--backend-store-uri", f"sqlite:///{tmp_path / 'ledgerflow.db'}"]
        before = cli(["audit", "verify", *store])
        assert before.exit_code == 0 and " 0 checkpoints" in before.stdout, before
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        stop(process)
    assert process.stderr is not None
    errors = process.stderr.read()
    assert "Traceback" not in errors, errors
    after = cli(["audit", "verify", *store])
    assert after.exit_code == 0 and " 1 checkpoints" in after.stdout, after


def test_port_in_use_fails_before_creating_any_file(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            demo_command("--port", str(port)),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: Could not listen on 127.0.0.1:{port}: Address already in use. Pass --port to use another one."
    ]
    assert list(tmp_path.iterdir()) == []
