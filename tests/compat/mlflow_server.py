"""Start and stop a real ``mlflow server`` (from the mlflow3 compat venv) on loopback."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from tests.listening import UVICORN_LINE, announced_port

START_TIMEOUT_S = 180.0


class MlflowServer:
    """``mlflow server`` on fresh SQLite + proxied artifacts, in the lean one-worker setup."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.log_path = root / "mlflow-server.log"
        argv = [
            str(bin_dir / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--workers",
            "1",
        ]
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        }
        env.pop("VIRTUAL_ENV", None)
        # A fresh log each start: the port is read from uvicorn's line in it.
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            # uvicorn binds port 0 itself and logs the port it got.
            self.port = announced_port(self.process, self.log_path, UVICORN_LINE, START_TIMEOUT_S)
            self.url = f"http://127.0.0.1:{self.port}"
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"mlflow server exited early; see {self.log_path}:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"mlflow server not healthy after {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the whole process tree this server started, PID by PID."""
        try:
            root = psutil.Process(self.process.pid)
            tree = [*root.children(recursive=True), root]
        except psutil.NoSuchProcess:
            tree = []
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(tree, timeout=10)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
