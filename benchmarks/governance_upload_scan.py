"""What scanning every upload (and gating every download) costs on the artifact proxy.

    .venv/bin/python benchmarks/governance_upload_scan.py                 # 100 MiB, 3 rounds
    .venv/bin/python benchmarks/governance_upload_scan.py --mib 20 --rounds 5

Method: two server processes of this checkout on fresh SQLite stores, identical except that
one has its storage hooks removed (``services.artifacts.hooks = None``: no probe, no scan, no
download gate). Each round PUTs and then GETs the same bytes on both, alternating which goes
first, on a fresh connection (one keep-alive connection per server for the small files); the median seconds per operation and the
ratio gated/plain are reported for

* a non-pickle file of ``--mib`` MiB (seeded random bytes: data, recorded without a scan);
* a scikit-learn RandomForest pickle of about ``--mib`` MiB (a model file: spooled and
  scanned at upload, hashed while it streams out at download);
* ``--small`` small JSON files (1 KiB) one after another: the fixed per-request cost;
* the two large files again in this process (``ArtifactService.store`` / ``serve`` with the
  hooks on and off in turn): the scanning's own cost, with less noise than HTTP on a shared box.

Downloads read the whole body and check its SHA-256 against what was uploaded. The JSON
result lands in ``benchmarks/results/<time>-governance-upload-scan.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
LAUNCHER = """
import sys
import uvicorn
from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app
store, artifacts, hooks, port = sys.argv[1:5]
app = create_app(ServerConfig(backend_store_uri=store, artifacts_destination=artifacts))
if hooks == "off":
    app.state.services.artifacts.hooks = None
uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, root: Path, hooks: str) -> None:
        root.mkdir(parents=True)
        self.name = "gated" if hooks == "on" else "plain"
        self.port = _free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                LAUNCHER,
                f"sqlite:///{root / 'store.db'}",
                str(root / "artifacts"),
                hooks,
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 180
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} server did not start: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.2)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def fresh(self) -> None:
        """A new connection: the other server's turn may outlast the keep-alive timeout."""
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        self.conn.connect()

    def put(self, path: str, chunks: Iterator[bytes], size: int) -> float:
        started = time.perf_counter()
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self.conn.request("PUT", f"{PROXY}/{path}", body=chunks, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        seconds = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{self.name} PUT {path}: HTTP {response.status} {body[:200]!r}")
        return seconds

    def get(self, path: str, sha256: str) -> float:
        started = time.perf_counter()
        self.conn.request("GET", f"{PROXY}/{path}")
        response = self.conn.getresponse()
        digest = hashlib.sha256()
        while block := response.read(MIB):
            digest.update(block)
        seconds = time.perf_counter() - started
        if response.status != 200 or digest.hexdigest() != sha256:
            raise RuntimeError(f"{self.name} GET {path}: HTTP {response.status} or other bytes")
        return seconds

    def stop(self) -> None:
        self.conn.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def _chunks_of(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), MIB):
        yield bytes(view[start : start + MIB])


def _forest_pickle(mib: float, tmp: Path) -> bytes:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from governance_scan import build_forest

    path = tmp / "forest.pkl"
    build_forest(mib * MIB / 1e6, path)
    return path.read_bytes()


def _measure(servers: list[Server], data: bytes, name: str, rounds: int) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    times: dict[str, dict[str, list[float]]] = {s.name: {"upload": [], "download": []} for s in servers}
    for round_number in range(rounds):
        order = servers if round_number % 2 == 0 else list(reversed(servers))
        for server in order:
            path = f"1/{uuid.uuid4().hex}/artifacts/{name}"
            server.fresh()
            times[server.name]["upload"].append(server.put(path, _chunks_of(data), len(data)))
            times[server.name]["download"].append(server.get(path, sha))
    result: dict[str, Any] = {"bytes": len(data), "rounds": rounds}
    for operation in ("upload", "download"):
        plain = statistics.median(times["plain"][operation])
        gated = statistics.median(times["gated"][operation])
        result[operation] = {
            "plain_s": round(plain, 4),
            "gated_s": round(gated, 4),
            "ratio": round(gated / plain, 3),
            "plain_mib_s": round(len(data) / MIB / plain, 1),
            "gated_mib_s": round(len(data) / MIB / gated, 1),
        }
    return result


def _measure_small(servers: list[Server], count: int) -> dict[str, Any]:
    data = json.dumps({"accuracy": 0.91, "padding": "x" * 1000}).encode()
    sha = hashlib.sha256(data).hexdigest()
    times: dict[str, dict[str, list[float]]] = {s.name: {"upload": [], "download": []} for s in servers}
    for index in range(count):
        order = servers if index % 2 == 0 else list(reversed(servers))
        for server in order:
            path = f"1/small/artifacts/{index}/metrics.json"
            times[server.name]["upload"].append(server.put(path, iter([data]), len(data)))
            times[server.name]["download"].append(server.get(path, sha))
    result: dict[str, Any] = {"bytes": len(data), "files": count}
    for operation in ("upload", "download"):
        plain = statistics.median(times["plain"][operation])
        gated = statistics.median(times["gated"][operation])
        result[operation] = {
            "plain_ms": round(plain * 1000, 2),
            "gated_ms": round(gated * 1000, 2),
            "ratio": round(gated / plain, 3),
        }
    return result


def _in_process(root: Path, payloads: dict[str, bytes], rounds: int) -> dict[str, Any]:
    """The same comparison without HTTP: ``ArtifactService.store`` and ``serve`` of one
    service in this process, hooks on and off in turn (no sockets, no second process: the
    scanning's own cost with less noise from a shared machine)."""
    from ledgerflow.config import ServerConfig
    from ledgerflow.tracking.services import build_services

    services = build_services(
        ServerConfig(
            backend_store_uri=f"sqlite:///{root / 'inproc.db'}", artifacts_destination=str(root / "inproc")
        )
    )
    artifacts = services.artifacts
    hooks = artifacts.hooks
    result: dict[str, Any] = {}
    try:
        for name, data in payloads.items():
            chunks = [data[start : start + MIB] for start in range(0, len(data), MIB)]
            times: dict[str, dict[str, list[float]]] = {
                m: {"upload": [], "download": []} for m in ("plain", "gated")
            }
            for round_number in range(rounds):
                modes = ("plain", "gated") if round_number % 2 == 0 else ("gated", "plain")
                for mode in modes:
                    artifacts.hooks = hooks if mode == "gated" else None
                    target = artifacts.proxy_target(f"1/{uuid.uuid4().hex}/artifacts/{name}")
                    started = time.perf_counter()
                    artifacts.store(target, chunks)
                    times[mode]["upload"].append(time.perf_counter() - started)
                    started = time.perf_counter()
                    download = artifacts.serve(target)
                    for _block in download.chunks:
                        pass
                    times[mode]["download"].append(time.perf_counter() - started)
            result[name] = {
                operation: {
                    "plain_s": round(statistics.median(times["plain"][operation]), 4),
                    "gated_s": round(statistics.median(times["gated"][operation]), 4),
                    "ratio": round(
                        statistics.median(times["gated"][operation])
                        / statistics.median(times["plain"][operation]),
                        3,
                    ),
                }
                for operation in ("upload", "download")
            }
    finally:
        artifacts.hooks = hooks
        services.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=float, default=100.0, help="Size of the large files in MiB.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=200, help="Small JSON files per server.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledgerflow-upload-scan-bench-") as tmp:
        root = Path(tmp)
        built = time.perf_counter()
        forest = _forest_pickle(args.mib, root)
        print(f"forest pickle: {len(forest) / MIB:.1f} MiB (built in {time.perf_counter() - built:.0f} s)")
        blob = random.Random(7).randbytes(int(args.mib * MIB))
        in_process = _in_process(root, {"blob.bin": blob, "model.pkl": forest}, args.rounds)
        servers = [Server(root / "plain", "off"), Server(root / "gated", "on")]
        try:
            result: dict[str, Any] = {
                "load_average_before": os.getloadavg(),
                "non_pickle": _measure(servers, blob, "blob.bin", args.rounds),
                "pickle": _measure(servers, forest, "model.pkl", args.rounds),
                "small_json": _measure_small(servers, args.small),
                "in_process": in_process,
                "load_average_after": os.getloadavg(),
            }
        finally:
            for server in servers:
                server.stop()
    for name in ("non_pickle", "pickle"):
        row = result[name]
        for operation in ("upload", "download"):
            item = row[operation]
            print(
                f"{name:10} {operation:8} plain {item['plain_s']:.3f} s ({item['plain_mib_s']} MiB/s)  "
                f"gated {item['gated_s']:.3f} s ({item['gated_mib_s']} MiB/s)  ratio {item['ratio']}"
            )
    for operation in ("upload", "download"):
        item = result["small_json"][operation]
        print(
            f"small json {operation:8} plain {item['plain_ms']} ms  gated {item['gated_ms']} ms  "
            f"ratio {item['ratio']}"
        )
    for name, row in result["in_process"].items():
        for operation in ("upload", "download"):
            item = row[operation]
            print(
                f"in-process {name:9} {operation:8} plain {item['plain_s']:.3f} s  gated {item['gated_s']:.3f} s  "
                f"ratio {item['ratio']}"
            )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{time.strftime('%Y%m%dT%H%M%S')}-governance-upload-scan.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
