"""A real `ledgerflow server --workers N` in a subprocess, with its multiprocess directory
where the test can read it, and a first admin from the bootstrap variable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.listening import announced_port

ADMIN = ("admin", "scrape-test-pw-91x")


class WorkerServer:
    def __init__(self, tmp_path: Path, db_uri: str, workers: int, *extra: str) -> None:
        self.prom_dir = tmp_path / "prom"
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1],
            "PROMETHEUS_MULTIPROC_DIR": str(self.prom_dir),
        }
        command = [
            sys.executable, "-m", "ledgerflow.cli", "server",
            "--backend-store-uri", db_uri,
            "--artifacts-destination", str(tmp_path / "artifacts"),
            "--audit-signing-key", str(tmp_path / "audit.key"),
            "--port", "0", "--workers", str(workers), *extra,
        ]  # fmt: skip
        # Its stderr goes to a file, which nothing has to keep draining while the test runs.
        self.log = tmp_path / "server.log"
        with self.log.open("w") as err:
            self.process = subprocess.Popen(command, cwd=tmp_path, stderr=err, text=True, env=env)
        self.url = f"http://127.0.0.1:{announced_port(self.process, self.log)}"
        self.auth = httpx.BasicAuth(*ADMIN)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "workers did not come up"
            time.sleep(0.2)

    def api(self, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
        response = httpx.request(
            method, f"{self.url}/api/2.0/mlflow/{path}", json=body, params=None, auth=self.auth, timeout=30
        )
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = httpx.get(f"{self.url}/metrics", auth=self.auth, timeout=30)
        assert response.status_code == 200, response.text
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
