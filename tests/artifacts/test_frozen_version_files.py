"""A registered version's files are immutable through every HTTP write path, for every role
(admin included); writes beside the version folder, the server's own SBOM write at
registration, and the stock MLflow clients' log-then-register flows keep working."""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from ledgerflow.client.fluent import reset_fluent_state
from ledgerflow.config import ServerConfig
from tests.governance.scanning import payloads as p

PASSWORD = "Frozen-Password-Strong-1"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
AJAX = "/ajax-api/2.0/mlflow-artifacts/artifacts"
ROOT = Path(__file__).resolve().parents[2]
MLFLOW222 = ROOT / ".venvs/mlflow222/bin/python"


def _basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}


def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


class World:
    def __init__(self, client: TestClient, artifacts: Path) -> None:
        self.client = client
        self.artifacts = artifacts
        services = client.app.state.services  # type: ignore[attr-defined]
        self.services = services
        services.auth.create_user("root", PASSWORD, is_admin=True)
        services.auth.create_user("alice", PASSWORD)
        admin = _basic("root")
        self.eid = _ok(client.post("/api/2.0/mlflow/experiments/create", json={"name": "f"}, headers=admin))[
            "experiment_id"
        ]
        run = _ok(client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": self.eid}, headers=admin))
        self.run_id = run["run"]["info"]["run_id"]
        self.base = f"{self.eid}/{self.run_id}/artifacts"
        model = pickle.dumps(p.forest(), protocol=4)
        for name, data in (("model/model.pkl", model), ("model/conda.yaml", b"name: x\n")):
            _ok(client.put(f"{PROXY}/{self.base}/{name}", content=data, headers=admin))
        _ok(client.post("/api/2.0/mlflow/registered-models/create", json={"name": "champ"}, headers=admin))
        _ok(
            client.post(
                "/api/2.0/mlflow/model-versions/create",
                json={"name": "champ", "source": f"runs:/{self.run_id}/model", "run_id": self.run_id},
                headers=admin,
            )
        )
        services.authz.grant("experiment", self.eid, "user", "alice", "manager", actor=None)
        services.authz.grant("registered_model", "champ", "user", "alice", "manager", actor=None)
        self.folder = artifacts / self.eid / self.run_id / "artifacts" / "model"


@pytest.fixture
def world(make_client: Callable[[ServerConfig], TestClient], tmp_path: Path) -> World:
    artifacts = tmp_path / "artifacts"
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'f.db'}",
        artifacts_destination=str(artifacts),
        auth_required=True,
        sign_models_at_registration=True,
    )
    return World(make_client(config), artifacts)


def _refused(response: Any, version: str = "1") -> None:
    assert response.status_code == 403, (response.request.url, response.text)
    body = response.json()
    assert body["error_code"] == "PERMISSION_DENIED", body
    assert f"files of registered model 'champ' version {version} are immutable" in body["message"], (
        response.request.url,
        body,
    )
    assert "register a new version" in body["message"]


@pytest.mark.parametrize("who", ["alice", "root"])
def test_every_write_path_below_the_version_is_refused(world: World, who: str) -> None:
    client, base = world.client, world.base
    headers = _basic(who)
    before = _tree(world.folder)
    assert {"model.pkl", "conda.yaml", "sbom/cyclonedx.json"} <= set(before)  # the server's SBOM
    writes = [
        ("PUT", f"{PROXY}/{base}/model/model.pkl"),
        ("PUT", f"{PROXY}/{base}/model/new.txt"),
        ("PUT", f"{PROXY}/{base}/model/sub/deeper.txt"),
        ("PUT", f"{AJAX}/{base}/model/model.pkl"),
        ("PUT", f"{PROXY}/{base}//model//model.pkl"),
        ("PUT", f"{PROXY}/{base}/./model/./model.pkl"),
        ("PUT", f"{PROXY}/{base}/%2e/model/model.pkl"),
        ("PUT", f"{PROXY}/{base}/model"),
        ("DELETE", f"{PROXY}/{base}/model/conda.yaml"),
        ("DELETE", f"{AJAX}/{base}/model/conda.yaml"),
        ("DELETE", f"{PROXY}/{base}/model/"),
        ("DELETE", f"{PROXY}/{base}/model"),
        ("DELETE", f"{PROXY}/{base}"),  # above the version: it would take the files with it
        ("DELETE", f"{PROXY}/{world.eid}"),
    ]
    for method, url in writes:
        if "%2e" in url and who != "root":
            # The authorization layer refuses a percent-encoded dot segment for a non-admin
            # before the path reaches the artifact routes (still a 403, still nothing written).
            response = client.request(method, url, content=b"swapped", headers=headers)
            assert response.status_code == 403, response.text
            continue
        _refused(
            client.request(method, url, content=b"swapped" if method == "PUT" else None, headers=headers)
        )
    ui = client.post(
        "/ajax-api/2.0/mlflow/upload-artifact",
        params={"run_uuid": world.run_id, "path": "model/model.pkl"},
        content=b"swapped",
        headers=headers,
    )
    _refused(ui)
    assert _tree(world.folder) == before
    records = _ok(
        client.get(
            "/api/2.0/ledgerflow/audit/records",
            params={"action": "artifacts.write_refused"},
            headers=_basic("root"),
        )
    )["records"]
    assert len(records) == len(writes) + (1 if who == "root" else 0)
    assert all(r["outcome"] == "denied" and r["resource_id"] == "champ/1" for r in records), records[0]


def test_writes_beside_the_version_keep_working(world: World) -> None:
    client, base, headers = world.client, world.base, _basic("alice")
    before = _tree(world.folder)
    for name in ("notes.txt", "model-extra/model.pkl", "modelx", "plots/a.png"):
        _ok(client.put(f"{PROXY}/{base}/{name}", content=b"beside", headers=headers))
    _ok(client.delete(f"{PROXY}/{base}/notes.txt", headers=headers))
    _ok(
        client.post(
            "/ajax-api/2.0/mlflow/upload-artifact",
            params={"run_uuid": world.run_id, "path": "other.txt"},
            content=b"x",
            headers=headers,
        )
    )
    other = _ok(
        client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": world.eid}, headers=headers)
    )
    _ok(
        client.put(
            f"{PROXY}/{world.eid}/{other['run']['info']['run_id']}/artifacts/model/model.pkl",
            content=b"y",
            headers=headers,
        )
    )
    assert _tree(world.folder) == before


def test_after_the_version_is_deleted_its_files_can_be(world: World) -> None:
    client, base, admin = world.client, world.base, _basic("root")
    _refused(client.delete(f"{PROXY}/{base}/model", headers=admin))
    _ok(
        client.delete(
            "/api/2.0/mlflow/model-versions/delete", params={"name": "champ", "version": "1"}, headers=admin
        )
    )
    _ok(client.delete(f"{PROXY}/{base}/model", headers=admin))
    assert not world.folder.exists()


# -- stock clients: log, register, then log more outside the model folder ------------------


@pytest.fixture
def stock_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    reset_fluent_state()
    yield
    reset_fluent_state()


def _version_files(live: Any, name: str) -> Path:
    services = live.app.state.services
    location = services.registry.versions.download_uri(name, "1")
    repo, prefix = services.artifacts.roots.resolve(location)
    return Path(repo.root) / prefix


@pytest.mark.compat
def test_mlflow3_log_register_then_log_more(live_server: Any, stock_env: None, tmp_path: Path) -> None:
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment("frozen-mlflow3")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            p.forest(), name="model", registered_model_name="frozen3", serialization_format="cloudpickle"
        )
        mlflow.log_text("after", "notes/after.txt")
        mlflow.log_dict({"a": 1}, "eval/metrics.json")
    assert str(info.registered_model_version) == "1"
    folder = _version_files(live_server, "frozen3")
    before = _tree(folder)
    assert "model.pkl" in before and "MLmodel" in before
    # The stock client's own uploads into the registered model's folder are refused.
    extra = tmp_path / "model.pkl"
    extra.write_bytes(b"swapped")
    client = mlflow.MlflowClient()
    # (the stock client raises requests' HTTPError, with the server's message in it)
    with pytest.raises(Exception, match="immutable"):
        client.log_model_artifact(info.model_id, str(extra))
    rest = folder.relative_to(live_server.config.artifacts_destination).as_posix()
    answer = httpx.delete(f"{live_server.url}{PROXY}/{rest}/MLmodel")
    assert answer.status_code == 403 and "immutable" in answer.json()["message"], answer.text
    assert _tree(folder) == before
    listed = {f.path for f in client.list_artifacts(run.info.run_id, "notes")}
    assert "notes/after.txt" in listed
    # A new version of the same model from a new logged model is fine.
    with mlflow.start_run():
        again = mlflow.sklearn.log_model(
            p.forest(), name="model", registered_model_name="frozen3", serialization_format="cloudpickle"
        )
    assert str(again.registered_model_version) == "2"


MLFLOW222_SCRIPT = """
import os, sys
import numpy as np
import mlflow, mlflow.sklearn
from sklearn.ensemble import RandomForestClassifier

rng = np.random.default_rng(0)
x = rng.normal(size=(40, 4)); y = (x[:, 0] > 0).astype(int)
forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
mlflow.set_experiment("frozen-222")
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(forest, "model", registered_model_name="frozen222")
    mlflow.log_text("after", "notes/after.txt")
    mlflow.log_dict({"a": 1}, "eval/metrics.json")
print(run.info.run_id)
"""


@pytest.mark.compat
@pytest.mark.skipif(not MLFLOW222.exists(), reason="no MLflow 2.22 environment")
def test_mlflow222_log_register_then_log_more(live_server: Any, tmp_path: Path) -> None:
    script = tmp_path / "flow.py"
    script.write_text(textwrap.dedent(MLFLOW222_SCRIPT))
    env = {**os.environ, "MLFLOW_TRACKING_URI": live_server.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(MLFLOW222), str(script)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.strip().splitlines()[-1]
    folder = _version_files(live_server, "frozen222")
    before = _tree(folder)
    assert "model.pkl" in before
    eid = folder.parts[-4]
    answer = httpx.put(f"{live_server.url}{PROXY}/{eid}/{run_id}/artifacts/model/model.pkl", content=b"x")
    assert answer.status_code == 403 and "immutable" in answer.json()["message"], answer.text
    assert _tree(folder) == before
    notes = folder.parent / "notes" / "after.txt"
    assert notes.read_text() == "after"
