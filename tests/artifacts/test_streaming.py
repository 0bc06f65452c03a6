"""Artifacts through a real server on loopback: streaming, aborted uploads, raw request
targets that an HTTP client library would normalise away."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.artifacts.support import PROXY, SECRET
from tests.conftest import LiveServer

GIB = 1024**3
MIB = 1024**2


def _files_under(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _raw_request(server: LiveServer, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_literal_dot_segments_in_the_request_target_are_rejected(
    live_server: LiveServer, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_bytes(SECRET)
    up = "../" * 24 + str(tmp_path / "secret.txt").lstrip("/")
    for method in ("GET", "DELETE"):
        head = f"{method} {PROXY}/{up} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        answer = _raw_request(live_server, head)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b"Invalid path" in answer
        assert SECRET not in answer
    head = f"PUT {PROXY}/{up} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n".encode()
    assert _raw_request(live_server, head, b"pwned").startswith(b"HTTP/1.1 400")
    assert (tmp_path / "secret.txt").read_bytes() == SECRET


def test_literal_percent_names_are_distinct_from_decoded_ones(live_server: LiveServer) -> None:
    # "%2520" on the wire is the name "a%20b.txt": decoded once by HTTP, never again by us.
    url = f"{live_server.url}{PROXY}/1/r/artifacts/a%2520b.txt"
    assert httpx.put(url, content=b"percent").status_code == 200
    assert httpx.get(f"{live_server.url}{PROXY}/1/r/artifacts/a%20b.txt").status_code == 404
    assert httpx.get(url).content == b"percent"
    listing = httpx.get(f"{live_server.url}{PROXY}", params={"path": "1/r/artifacts"}).json()
    assert listing == {"files": [{"path": "a%20b.txt", "is_dir": False, "file_size": 7}]}


def test_a_dropped_upload_leaves_nothing(live_server: LiveServer) -> None:
    dest = Path(live_server.config.artifacts_destination)
    head = (
        f"PUT {PROXY}/1/r/artifacts/dropped.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {64 * MIB}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(head + b"d" * (3 * MIB))
        # The upload is under way once its hidden temporary file exists.
        _wait_until(lambda: any(p.name.endswith(".part") for p in dest.rglob("*")))
    # The server notices the disconnect, aborts, and removes the temporary file.
    _wait_until(lambda: _files_under(dest) == [])
    assert httpx.get(f"{live_server.url}{PROXY}/1/r/artifacts/dropped.bin").status_code == 404
    assert httpx.get(f"{live_server.url}{PROXY}", params={"path": "1/r/artifacts"}).json() == {}


def test_a_failing_client_stream_leaves_nothing(live_server: LiveServer) -> None:
    dest = Path(live_server.config.artifacts_destination)

    def broken() -> Iterator[bytes]:
        for _ in range(4):
            yield b"b" * MIB
        raise RuntimeError("client side failure mid-upload")

    url = f"{live_server.url}{PROXY}/1/r/artifacts/broken.bin"
    with pytest.raises(RuntimeError):
        httpx.put(url, content=broken())
    _wait_until(lambda: _files_under(dest) == [])
    assert httpx.get(url).status_code == 404
    assert httpx.get(f"{live_server.url}{PROXY}", params={"path": "1/r/artifacts"}).json() == {}


def test_an_overwrite_in_progress_never_exposes_a_partial_file(live_server: LiveServer) -> None:
    url = f"{live_server.url}{PROXY}/1/r/artifacts/model.bin"
    httpx.put(url, content=b"old" * 1000)
    gate = threading.Event()

    def slow() -> Iterator[bytes]:
        yield b"n" * MIB
        gate.wait(10)
        yield b"n" * MIB

    uploader = threading.Thread(target=lambda: httpx.put(url, content=slow(), timeout=30))
    uploader.start()
    time.sleep(0.5)
    assert httpx.get(url).content == b"old" * 1000  # still the complete old file
    gate.set()
    uploader.join(30)
    assert httpx.get(url).content == b"n" * (2 * MIB)


class PeakRss:
    """Samples this process's resident memory in a background thread."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_two_gib_round_trip_with_flat_memory(live_server: LiveServer) -> None:
    # The live server runs in this process, so this process's RSS is the server's (plus a
    # client that also streams, in 1 MiB chunks).
    url = f"{live_server.url}{PROXY}/1/r/artifacts/huge.bin"
    block = os.urandom(MIB)
    sent = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for index in range(2 * GIB // MIB):
            chunk = index.to_bytes(8, "big") + block[8:]
            sent.update(chunk)
            yield chunk

    httpx.get(f"{live_server.url}/health")  # warm up the server before the baseline
    with PeakRss() as upload_memory:
        response = httpx.put(url, content=body(), timeout=600)
    assert response.status_code == 200, response.text
    assert upload_memory.growth < 100 * MIB, upload_memory.growth

    received = hashlib.sha256()
    size = 0
    with PeakRss() as download_memory, httpx.stream("GET", url, timeout=600) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["content-length"] == str(2 * GIB)
        for chunk in streamed.iter_bytes(MIB):
            received.update(chunk)
            size += len(chunk)
    assert download_memory.growth < 100 * MIB, download_memory.growth
    assert size == 2 * GIB
    assert received.hexdigest() == sent.hexdigest()
    assert streamed.headers["x-ledgerflow-sha256"] == sent.hexdigest()
    assert httpx.delete(url).status_code == 200
