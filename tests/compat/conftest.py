"""Fixtures for the real-client compatibility suite.

The stock MLflow clients live in their own virtual environments (``.venvs/mlflow3`` and
``.venvs/mlflow222``, built by ``scripts/setup_compat_venvs.sh``) and run our client scripts
as subprocesses, so no client state (tracking URI, active run, caches) leaks between tests or
into the pytest process. Each script prints one JSON result line that the test asserts on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.config import ServerConfig
from tests.conftest import LiveServer

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
VENVS = Path(os.environ.get("LEDGERFLOW_COMPAT_VENVS", REPO / ".venvs"))
SETUP_HINT = "run `bash scripts/setup_compat_venvs.sh` first (the test command does this)"
RESULT_PREFIX = "COMPAT-RESULT "
SCRIPT_TIMEOUT_S = 240


@dataclass(frozen=True)
class ClientVenv:
    """One virtual environment holding a stock MLflow client."""

    name: str
    python: Path

    @property
    def is_mlflow3(self) -> bool:
        return self.name == "mlflow3"

    @property
    def bin_dir(self) -> Path:
        return self.python.parent


def client_venv(name: str) -> ClientVenv:
    python = VENVS / name / "bin" / "python"
    marker = VENVS / name / ".ledgerflow-compat-marker"
    if not python.exists() or not marker.exists():
        pytest.fail(f"compat venv {VENVS / name} is missing or half-built: {SETUP_HINT}", pytrace=False)
    return ClientVenv(name, python)


class ClientScriptError(AssertionError):
    pass


def run_client_script(
    venv: ClientVenv,
    script: str,
    tracking_uri: str,
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``tests/compat/scripts/<script>`` with the venv's python and return its JSON result."""
    full_env = {
        "PATH": f"{venv.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(cwd),
        "MLFLOW_TRACKING_URI": tracking_uri,
        # Keep the client quiet and deterministic: no telemetry, no env-inference subprocesses,
        # few retries so a broken endpoint fails fast instead of backing off for minutes.
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
        "MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT": "30",
        "GIT_PYTHON_REFRESH": "quiet",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONWARNINGS": "ignore",
        "USER": "compat-user",
        "LOGNAME": "compat-user",
        **(env or {}),
    }
    for passthrough in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "TMPDIR"):
        if passthrough in os.environ:
            full_env.setdefault(passthrough, os.environ[passthrough])
    # Run a private copy from outside the repository so the client's git/source detection
    # sees the same thing wherever the suite runs (and both servers of a differential get
    # identical source tags).
    scripts = cwd / "client-scripts"
    if not scripts.exists():
        shutil.copytree(SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    argv = [str(venv.python), str(scripts / script), *args]
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as expired:
        raise ClientScriptError(f"{script} timed out after {SCRIPT_TIMEOUT_S}s: {expired.stderr!r}") from None
    results = [
        line[len(RESULT_PREFIX) :] for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)
    ]
    if done.returncode != 0 or not results:
        tail = "\n".join(done.stderr.splitlines()[-60:])
        raise ClientScriptError(
            f"{venv.name}: {script} {' '.join(args)} exited {done.returncode}\n--- stderr (tail) ---\n{tail}"
            f"\n--- stdout ---\n{done.stdout[-3000:]}"
        )
    result: dict[str, Any] = json.loads(results[-1])
    return result


@pytest.fixture(scope="session")
def mlflow3_venv() -> ClientVenv:
    return client_venv("mlflow3")


@pytest.fixture(scope="session")
def mlflow222_venv() -> ClientVenv:
    return client_venv("mlflow222")


@pytest.fixture(params=["mlflow3", "mlflow222"])
def any_venv(request: pytest.FixtureRequest) -> ClientVenv:
    return client_venv(str(request.param))


def start_ours(make_live_server: Callable[[ServerConfig], LiveServer], root: Path) -> LiveServer:
    """A Ledgerflow server on a fresh SQLite store, serving artifacts like `mlflow server` does."""
    root.mkdir(parents=True, exist_ok=True)
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{root / 'ledgerflow.db'}",
        artifacts_destination=str(root / "artifacts"),
    )
    return make_live_server(config)


RunScript = Callable[..., dict[str, Any]]


@pytest.fixture
def run_against_ours(make_live_server: Callable[[ServerConfig], LiveServer], tmp_path: Path) -> RunScript:
    """Run a client script against a fresh Ledgerflow server on loopback.

    Setting LEDGERFLOW_COMPAT_TARGET=<url of a loopback MLflow server> points the same
    assertions at that server instead, which is how the expectations themselves are checked
    against MLflow.
    """
    target = os.environ.get("LEDGERFLOW_COMPAT_TARGET")
    url = target or start_ours(make_live_server, tmp_path / "ledgerflow-server").url

    def run(venv: ClientVenv, script: str, *args: str) -> dict[str, Any]:
        work = tmp_path / f"client-{venv.name}-{script.removesuffix('.py')}"
        work.mkdir(exist_ok=True)
        return run_client_script(venv, script, url, *args, cwd=work)

    return run
