"""Stock MLflow clients against a live server: a malicious model of each kind in
security-classes.md 1d, logged with the stock client's own calls, is never handed out whole,
so ``mlflow.pyfunc.load_model`` fails on ``models:/m-...`` and ``runs:/...`` before anything
is unpickled; a clean scikit-learn model still round-trips. MLflow 3 runs in this process,
MLflow 2.22 in its own virtual environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ledgerflow.pyfunc
from ledgerflow.client.fluent import reset_fluent_state
from ledgerflow.governance.scanning.unpickler import UnsafeModel
from tests.governance.scanning import payloads as p

pytestmark = pytest.mark.compat
ROOT = Path(__file__).resolve().parents[3]
MLFLOW222 = ROOT / ".venvs/mlflow222/bin/python"


@pytest.fixture(autouse=True)
def quiet_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "LEDGERFLOW_ALLOW_GLOBALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    reset_fluent_state()
    yield
    reset_fluent_state()


class Touch:
    """Unpickling this copies a file to the marker path: proof that something ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (shutil.copyfile, (__file__, self.marker))

    def predict(self, model_input: Any) -> Any:  # looks like an estimator to log_model
        return model_input


def _evil_python_model(marker: str) -> Any:
    import mlflow.pyfunc

    class EvilModel(mlflow.pyfunc.PythonModel):
        def __reduce__(self) -> tuple[Any, ...]:
            return (shutil.copyfile, (__file__, marker))

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input

    return EvilModel()


def _extra_file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / "extra" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _log_kind(kind: str, marker: str, tmp_path: Path) -> Any:
    """Log one malicious model with the stock client's own calls; returns its ModelInfo."""
    import mlflow.pyfunc
    import mlflow.sklearn

    clean = p.forest()
    if kind == "sklearn-pickle":  # CVE-2024-37052/37053: the estimator pickle itself
        return mlflow.sklearn.log_model(Touch(marker), name="model", serialization_format="cloudpickle")
    if kind == "pyfunc-cloudpickle":  # CVE-2024-37054: a PythonModel's cloudpickle
        return mlflow.pyfunc.log_model(name="model", python_model=_evil_python_model(marker))
    extras = {
        # CVE-2024-37059: a PyTorch archive whose data.pkl runs code
        "pytorch-zip": ("weights.pt", p.torch_archive(p.system_pickle())),
        # CVE-2024-37057: a Keras HDF5 model with a Lambda layer
        "keras-h5-lambda": ("model.h5", p.keras_h5_lambda()),
        # object arrays carry a pickle (.npy)
        "npy-object": ("arrays.npy", p.object_npy(p.SystemCall())),
        # the STACK_GLOBAL memo trick that fooled deny-list scanners
        "memo-confusion": ("booster.txt", p.memo_confusion("os", "system", "id")),
    }
    name, data = extras[kind]
    return mlflow.sklearn.log_model(
        clean,
        name="model",
        serialization_format="cloudpickle",
        extra_files=[_extra_file(tmp_path, name, data)],
    )


KINDS = [
    "sklearn-pickle",
    "pyfunc-cloudpickle",
    "pytorch-zip",
    "keras-h5-lambda",
    "npy-object",
    "memo-confusion",
]


@pytest.mark.parametrize("kind", KINDS)
def test_mlflow3_cannot_load_a_malicious_logged_model(live_server: Any, tmp_path: Path, kind: str) -> None:
    import mlflow
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    marker = tmp_path / "pwned"
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment(f"stock-{kind}")
    with mlflow.start_run() as run:
        info = _log_kind(kind, str(marker), tmp_path)
    # The stock client may load what it logs (in the uploader's own process): start afresh.
    marker.unlink(missing_ok=True)
    assert info.model_uri.startswith("models:/m-")
    scan = ledgerflow_scan(live_server.url, info.model_id)
    assert scan["status"] in ("findings", "unscannable"), scan
    for index, uri in enumerate((info.model_uri, f"runs:/{run.info.run_id}/model")):
        destination = tmp_path / f"download-{index}"
        destination.mkdir()
        with pytest.raises(MlflowException) as refused:
            mlflow.pyfunc.load_model(uri, dst_path=str(destination))
        # models:/ shows the server's 403; runs:/ falls back to the logged model and reports
        # only that the download failed (the same calls load a clean model: see below).
        message = str(refused.value)
        assert "PERMISSION_DENIED" in message or "Failed to download artifacts" in message, message
        assert not marker.exists(), uri
    with pytest.raises(UnsafeModel, match="scan of its files is"):
        ledgerflow.pyfunc.load_model(info.model_uri, tracking_uri=live_server.url)
    with pytest.raises(UnsafeModel):
        ledgerflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model", tracking_uri=live_server.url)
    assert not marker.exists()


def ledgerflow_scan(url: str, model_id: str) -> dict[str, Any]:
    import httpx

    response = httpx.get(url + "/api/2.0/ledgerflow/logged-models/scan", params={"model_id": model_id})
    assert response.status_code == 200, response.text
    return dict(response.json()["scan"])


@pytest.mark.parametrize("fmt", ["skops", "cloudpickle"])
def test_mlflow3_clean_sklearn_model_round_trips(live_server: Any, tmp_path: Path, fmt: str) -> None:
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn

    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment(f"stock-clean-{fmt}")
    extra = {"skops_trusted_types": ["sklearn.tree._tree.Tree"]} if fmt == "skops" else {}
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(p.forest(), name="model", serialization_format=fmt, **extra)
    scan = ledgerflow_scan(live_server.url, info.model_id)
    assert scan["status"] == scan["effective_status"] == "clean", scan
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/model"):
        model = mlflow.pyfunc.load_model(uri)
        assert model.predict(np.zeros((3, 4))).shape == (3,)
    if fmt == "cloudpickle":
        ours = ledgerflow.pyfunc.load_model(info.model_uri, tracking_uri=live_server.url)
        assert ours.predict(np.zeros((2, 4))).shape == (2,)


MLFLOW222_SCRIPT = """
import json, os, pickle, shutil, sys
import numpy as np
import mlflow, mlflow.pyfunc, mlflow.sklearn
from sklearn.ensemble import RandomForestClassifier

marker, work, evil_zip = sys.argv[1], sys.argv[2], sys.argv[3]

class Touch:
    def __reduce__(self):
        return (shutil.copyfile, (sys.argv[0] if os.path.exists(sys.argv[0]) else "/etc/hostname", marker))
    def predict(self, x):
        return x

class EvilModel(mlflow.pyfunc.PythonModel):
    def __reduce__(self):
        return (shutil.copyfile, ("/etc/hostname", marker))
    def predict(self, context, model_input):
        return model_input

rng = np.random.default_rng(0)
x = rng.normal(size=(80, 4)); y = (x[:, 0] > 0).astype(int)
forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
mlflow.set_experiment("stock-222")
runs = {}
with mlflow.start_run() as run:
    mlflow.sklearn.log_model(forest, "model")
    runs["clean"] = run.info.run_id
with mlflow.start_run() as run:
    mlflow.sklearn.log_model(Touch(), "model", serialization_format="cloudpickle")
    runs["sklearn-pickle"] = run.info.run_id
with mlflow.start_run() as run:
    mlflow.pyfunc.log_model("model", python_model=EvilModel())
    runs["pyfunc-cloudpickle"] = run.info.run_id
with mlflow.start_run() as run:
    mlflow.sklearn.log_model(forest, "model")
    mlflow.log_artifact(evil_zip, artifact_path="model")  # a PyTorch archive put beside it
    runs["pytorch-zip"] = run.info.run_id
if os.path.exists(marker):
    os.remove(marker)  # the client may load what it logs, in the uploader's process
result = {"runs": runs, "loads": {}}
for kind, run_id in runs.items():
    os.makedirs(os.path.join(work, kind))
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model", dst_path=os.path.join(work, kind))
        result["loads"][kind] = {"ok": True, "rows": len(model.predict(np.zeros((3, 4))))}
    except Exception as error:
        result["loads"][kind] = {"ok": False, "error": str(error)[:2000]}
    result["loads"][kind]["marker"] = os.path.exists(marker)
print("RESULT " + json.dumps(result))
"""


def test_mlflow222_cannot_load_malicious_run_models(live_server: Any, tmp_path: Path) -> None:
    if not MLFLOW222.exists():
        pytest.fail(f"{MLFLOW222} is missing: run scripts/setup_compat_venvs.sh", pytrace=False)
    marker = tmp_path / "pwned"
    evil_zip = tmp_path / "weights.pt"
    evil_zip.write_bytes(p.torch_archive(p.system_pickle()))
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LEDGERFLOW_"))}
    env.update(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        HOME=str(tmp_path),
        PYTHONWARNINGS="ignore",
    )
    done = subprocess.run(
        [str(MLFLOW222), "-c", textwrap.dedent(MLFLOW222_SCRIPT), str(marker), str(work), str(evil_zip)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=400,
    )
    lines = [line[len("RESULT ") :] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1])
    loads = result["loads"]
    assert loads["clean"]["ok"] and loads["clean"]["rows"] == 3, loads["clean"]
    for kind in ("sklearn-pickle", "pyfunc-cloudpickle", "pytorch-zip"):
        assert not loads[kind]["ok"], (kind, loads[kind])
        assert "403" in loads[kind]["error"] or "PERMISSION_DENIED" in loads[kind]["error"], loads[kind]
        assert not loads[kind]["marker"], kind
    assert not marker.exists()
    with pytest.raises(UnsafeModel):
        ledgerflow.pyfunc.load_model(
            f"runs:/{result['runs']['pytorch-zip']}/model", tracking_uri=live_server.url
        )
    clean = ledgerflow.pyfunc.load_model(
        f"runs:/{result['runs']['clean']}/model", tracking_uri=live_server.url
    )
    assert clean.predict(np.zeros((2, 4))).shape == (2,)


def test_mlflow3_gets_no_whole_file_swapped_behind_the_server(live_server: Any, tmp_path: Path) -> None:
    """A clean model's pickle replaced in the store by a malicious one of the same size: the
    server hashes the bytes it serves and cuts the stream, so the stock client fails."""
    import pickle

    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn

    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment("stock-swap")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(p.forest(), name="model", serialization_format="cloudpickle")
    logged = mlflow.get_logged_model(info.model_id)
    rest = logged.artifact_location.split("mlflow-artifacts:", 1)[1].strip("/")
    path = Path(live_server.config.artifacts_destination) / rest / "model.pkl"
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Touch(str(marker)), protocol=4)
    path.write_bytes(evil + b"\x00" * (path.stat().st_size - len(evil)))  # pickle.load stops at STOP
    destination = tmp_path / "download"
    destination.mkdir()
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="model.pkl"):
        mlflow.pyfunc.load_model(info.model_uri, dst_path=str(destination))
    assert not marker.exists()
