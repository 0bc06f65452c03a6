"""Server processes for the benchmarks: start, wait for /health, measure memory, stop.

Memory is summed over the whole process tree (MLflow's default server is 16 processes).
PSS splits pages shared between forked workers fairly, so it is the honest total; RSS is
reported too. Every process is stopped PID by PID, never by name.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class ServerSpec:
    """How to launch one server kind on a given data directory and port."""

    label: str
    argv_template: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, data_dir: Path, port: int) -> list[str]:
        return [a.format(data=data_dir, port=port) for a in self.argv_template]


class Server:
    def __init__(self, spec: ServerSpec, data_dir: Path, start_timeout_s: float = 180.0) -> None:
        self.spec = spec
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **spec.env}
        env.pop("VIRTUAL_ENV", None)
        self.log_path = data_dir / "server.log"
        started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                spec.argv(data_dir, self.port), cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            while not healthy(self.port):
                if self.process.poll() is not None:
                    raise RuntimeError(f"{spec.label} exited during start-up; see {self.log_path}")
                if time.perf_counter() - started > start_timeout_s:
                    raise RuntimeError(
                        f"{spec.label} not healthy after {start_timeout_s}s; see {self.log_path}"
                    )
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.perf_counter() - started

    def memory_mib(self) -> dict[str, float]:
        rss = pss = 0
        procs = 0
        for proc in self.tree():
            try:
                with open(f"/proc/{proc.pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1])
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1])
                procs += 1
            except OSError:
                continue
        return {"processes": procs, "rss_mib": round(rss / 1024, 1), "pss_mib": round(pss / 1024, 1)}

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def wait_idle(self, window_s: float = 0.5, busy_share: float = 0.05, limit_s: float = 60.0) -> float:
        """Wait until the process tree uses under *busy_share* of one core over a window:
        /health answers as soon as one worker is up, while MLflow's other workers are still
        importing (seconds of CPU each), which would slow whatever is measured next on a
        two-core machine. Returns the seconds waited."""
        started = time.perf_counter()
        while time.perf_counter() - started < limit_s:
            before = self.cpu_seconds()
            time.sleep(window_s)
            if self.cpu_seconds() - before < busy_share * window_s:
                break
        return time.perf_counter() - started

    def stop(self) -> None:
        tree = self.tree()
        for proc in reversed(tree):
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                continue
        _, alive = psutil.wait_procs(tree, timeout=15)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
