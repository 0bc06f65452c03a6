"""``ledgerflow demo --serve`` as a process: it shuts down on SIGTERM like ``ledgerflow ui``
(the audit log's final checkpoint is signed), and a port in use leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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


def test_sigterm_shuts_down_gracefully_with_the_final_audit_checkpoint(
    tmp_path: Path, cli: Callable[[list[str]], CliResult]
) -> None:
    # Timed checkpoints an hour apart and a huge interval: the only checkpoint that can exist
    # is the one signed at a graceful shutdown.
    process = subprocess.Popen(
        demo_command(
            "--port", "0", "--audit-checkpoint-seconds", "3600", "--audit-checkpoint-interval", "100000"
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        line = ""
        while not line.startswith("Serving"):
            line = process.stdout.readline()
            assert line, f"demo exited early: {process.stderr.read() if process.stderr else ''}"
            assert time.monotonic() < deadline
        store = ["--backend-store-uri", f"sqlite:///{tmp_path / 'ledgerflow.db'}"]
        before = cli(["audit", "verify", *store])
        assert before.exit_code == 0 and " 0 checkpoints" in before.stdout, before
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
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
