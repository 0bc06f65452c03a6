"""The stock MLflow clients (3.x from .venv, 2.22 from .venvs/mlflow222) against a live server
with authentication on: Basic via MLFLOW_TRACKING_USERNAME/PASSWORD, Bearer via
MLFLOW_TRACKING_TOKEN, and a clean refusal without credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from ledgerflow.config import ServerConfig
from tests.auth.conftest import ADMIN
from tests.conftest import LiveServer

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, mlflow
from mlflow.tracking import MlflowClient
mlflow.set_experiment("auth-compat")
with mlflow.start_run() as run:
    mlflow.log_param("p", "1")
    mlflow.log_metric("m", 0.5)
found = MlflowClient().search_runs([run.info.experiment_id])
print("RESULT " + json.dumps({"runs": len(found), "metric": found[0].data.metrics["m"]}))
"""
PYTHONS = {"mlflow3": Path(sys.executable), "mlflow222": REPO / ".venvs" / "mlflow222" / "bin" / "python"}


def run_client(python: Path, url: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "GIT_PYTHON_REFRESH": "quiet",
        **env,
    }
    return subprocess.run(
        [str(python), "-c", SCRIPT], cwd=cwd, env=full, capture_output=True, text=True, timeout=240
    )


@pytest.fixture
def server(make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig) -> LiveServer:
    live = make_live_server(replace(server_config, auth_required=True))
    live.app.state.services.auth.create_user(*ADMIN, is_admin=True)
    return live


@pytest.mark.parametrize("client", sorted(PYTHONS))
def test_stock_client_basic_and_bearer(client: str, server: LiveServer, tmp_path: Path) -> None:
    python = PYTHONS[client]
    if not python.exists():
        pytest.fail(f"{python} is missing: run `bash scripts/setup_compat_venvs.sh`", pytrace=False)
    basic = run_client(
        python,
        server.url,
        {"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1]},
        tmp_path,
    )
    assert basic.returncode == 0, basic.stderr[-3000:]
    result = json.loads(basic.stdout.split("RESULT ", 1)[1])
    assert result == {"runs": 1, "metric": 0.5}

    from ledgerflow.security.auth.identity import ALL_SCOPES, Identity

    auth = server.app.state.services.auth
    owner = Identity(None, "test", "user", True, ALL_SCOPES)
    token = auth.create_token(owner, "compat", ["write"], 1, ADMIN[0])["secret"]
    bearer = run_client(python, server.url, {"MLFLOW_TRACKING_TOKEN": token}, tmp_path)
    assert bearer.returncode == 0, bearer.stderr[-3000:]
    assert json.loads(bearer.stdout.split("RESULT ", 1)[1])["runs"] == 2

    anonymous = run_client(python, server.url, {}, tmp_path)
    assert anonymous.returncode != 0
    assert "401" in anonymous.stderr or "UNAUTHENTICATED" in anonymous.stderr
