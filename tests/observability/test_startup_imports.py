"""What a server loads to start: the numeric stack (numpy, pandas, scipy, pyarrow,
scikit-learn) only when a request needs it. Drift monitoring imported it with the service,
which every app builds: cold start to /health went from ~1.1 s to 2.2-3.2 s and an idle
server from ~67 to ~210 MiB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

NUMERIC = ("numpy", "pandas", "scipy", "pyarrow", "sklearn", "fairlearn", "mlflow")

BUILD_APP = """
import json, sys
from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app
from starlette.testclient import TestClient
app = create_app(ServerConfig(backend_store_uri=sys.argv[1], artifacts_destination=sys.argv[2]))
with TestClient(app) as client:  # start-up (lifespan) included, as a served app
    assert client.get("/health").status_code == 200
    client.post("/api/2.0/mlflow/experiments/create", json={"name": "x"})
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_serving_app_loads_no_numeric_stack(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BUILD_APP, f"sqlite:///{tmp_path / 'l.db'}", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not loaded & set(NUMERIC), sorted(loaded & set(NUMERIC))
