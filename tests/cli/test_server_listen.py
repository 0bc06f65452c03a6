"""The real `ledgerflow server` entry point: "serving on" is printed only once the socket is
bound, names the port really listened on, and a bind failure is one line and a non-zero exit."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest


def server_command(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ledgerflow.cli",
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        "--artifacts-destination",
        str(tmp_path / "artifacts"),
        *extra,
    ]


def run_to_exit(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        server_command(tmp_path, *extra),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_port_zero_announces_the_port_actually_bound(tmp_path: Path) -> None:
    process = subprocess.Popen(
        server_command(tmp_path, "--no-auth", "--port", "0"),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        line = ""
        while "serving on" not in line:
            line = process.stderr.readline()
            assert line, "the server exited before announcing itself"
        match = re.search(r"serving on http://127\.0\.0\.1:(\d+)$", line.strip())
        assert match, line
        port = int(match.group(1))
        assert port != 0
        # Announced only once bound and listening, so the first request already connects.
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).text == "OK"
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_port_in_use_is_one_line_and_never_announced(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_to_exit(tmp_path, "--port", str(port))
    assert done.returncode != 0
    assert "serving on" not in done.stderr and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"Error: Could not listen on 127.0.0.1:{port}: Address already in use. "
        "Pass --port to use another one."
    ]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("999.1.1.1", "is not a valid IP address"),
        ("no-such-host.invalid", "is neither an IP address nor a name that resolves"),
    ],
)
def test_bad_host_is_refused_before_anything_starts(tmp_path: Path, host: str, expected: str) -> None:
    done = run_to_exit(tmp_path, "--host", host)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"Error: --host '{host}' {expected}")
    assert "serving on" not in done.stderr
    # Refused before the store was opened.
    assert not (tmp_path / "db.sqlite").exists()


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_out_of_range_port_is_refused(tmp_path: Path, port: str) -> None:
    done = run_to_exit(tmp_path, "--port", port)
    assert done.returncode == 2
    assert "serving on" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "not in the range 0<=x<=65535" in done.stderr
