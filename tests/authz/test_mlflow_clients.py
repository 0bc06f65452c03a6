"""The stock MLflow clients (3.x in .venv, 2.22 in .venvs/mlflow222) as plain users of an
auth-on server: a team-A user sees none of team B's runs, and an editor cannot move the
protected ``champion`` alias."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ledgerflow.config import ServerConfig
from tests.authz.support import PASSWORD, build_world
from tests.conftest import LiveServer

REPO = Path(__file__).resolve().parents[2]
PYTHONS = {"mlflow3": Path(sys.executable), "mlflow222": REPO / ".venvs" / "mlflow222" / "bin" / "python"}
SCRIPT = """
import json, os
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
client = MlflowClient()
out = {"runs": len(client.search_runs([os.environ["B_EXP"]]))}
try:
    client.get_run(os.environ["B_RUN"])
    out["get_run"] = "ok"
except MlflowException as error:
    out["get_run"] = error.error_code
try:
    client.set_registered_model_alias(os.environ["MODEL"], "champion", "1")
    out["alias"] = "ok"
except MlflowException as error:
    out["alias"] = error.error_code
client.set_registered_model_alias(os.environ["MODEL"], "candidate", "1")
print("RESULT " + json.dumps(out))
"""


@pytest.mark.parametrize("client", sorted(PYTHONS))
def test_stock_client_is_held_to_its_grants(
    client: str, make_live_server: Callable[[ServerConfig], LiveServer], tmp_path: Path
) -> None:
    python = PYTHONS[client]
    if not python.exists():
        pytest.fail(f"{python} is missing: run `bash scripts/setup_compat_venvs.sh`", pytrace=False)
    artifacts = tmp_path / "artifacts"
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'c.db'}",
        artifacts_destination=str(artifacts),
        auth_required=True,
    )
    live = make_live_server(config)
    from starlette.testclient import TestClient

    # Without `with`: the live server already runs the app's lifespan.
    local = TestClient(live.app)
    team_b = build_world(local, artifacts, prefix="b")
    team_a = build_world(local, artifacts, prefix="a")
    # "editor" edits team A's model only; team B's experiment is nothing to them.
    services = live.app.state.services
    services.authz.revoke("experiment", team_b.experiment_id, "user", "editor", actor=None)
    env = {
        "MLFLOW_TRACKING_USERNAME": "editor",
        "MLFLOW_TRACKING_PASSWORD": PASSWORD,
        "B_EXP": team_b.experiment_id,
        "B_RUN": team_b.run_id,
        "MODEL": team_a.model_name,
    }
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": live.url,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "GIT_PYTHON_REFRESH": "quiet",
        **env,
    }
    done = subprocess.run(
        [str(python), "-c", SCRIPT], cwd=tmp_path, env=full, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.split("RESULT ", 1)[1]) == {
        "runs": 0,
        "get_run": "PERMISSION_DENIED",
        "alias": "PERMISSION_DENIED",
    }
