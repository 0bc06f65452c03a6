"""``ledgerflow.register_model("runs:/<run>/<name>")`` for a model logged with
``log_model(name=...)``: MLflow 3 keeps the files at the logged model's own location, so the
version must resolve to that model (its files, stored with its ``model_id``, which MLflow's
server does not echo on the wire), as ``mlflow.register_model`` does; a run path holding an MLmodel of its own (an MLflow 2 style log) still registers as is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ledgerflow
import ledgerflow.pyfunc
import ledgerflow.sklearn
from ledgerflow import Client

FEATURES = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])


def _location_of(client: Client, model_id: str) -> str:
    """Where the logged model's files are, from the logged-models API."""
    found = client.transport.call("GET", f"/2.0/mlflow/logged-models/{model_id}", {})
    return str(found["model"]["info"]["artifact_uri"])


@pytest.fixture
def fitted() -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(FEATURES, [0, 1, 0, 1])


def test_runs_uri_of_a_logged_model_registers_its_files(tracking_uri: str, fitted: object) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)
    with ledgerflow.start_run() as run:
        info = ledgerflow.sklearn.log_model(fitted, name="model")
    version = ledgerflow.register_model(f"runs:/{run.info.run_id}/model", "from-run")
    assert version.status == "READY"
    assert version.run_id == run.info.run_id
    client = Client(tracking_uri)
    downloaded = client.get_model_version_download_uri("from-run", version.version)
    assert downloaded == _location_of(client, info.model_id)
    loaded = ledgerflow.pyfunc.load_model("models:/from-run/1")
    assert list(loaded.predict(FEATURES)) == [0, 1, 0, 1]


def test_the_latest_logged_model_of_that_name_wins(tracking_uri: str, fitted: object) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)
    with ledgerflow.start_run() as run:
        ledgerflow.sklearn.log_model(fitted, name="model")
        second = ledgerflow.sklearn.log_model(fitted, name="model")
        other = ledgerflow.sklearn.log_model(fitted, name="other")
    client = Client(tracking_uri)
    for name, logged in (("model", second), ("other", other)):
        version = ledgerflow.register_model(f"runs:/{run.info.run_id}/{name}", f"latest-{name}")
        downloaded = client.get_model_version_download_uri(f"latest-{name}", version.version)
        assert downloaded == _location_of(client, logged.model_id)


def test_runs_uri_of_plain_run_artifacts_still_registers(tracking_uri: str, tmp_path: Path) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)
    model_dir = tmp_path / "files"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    with ledgerflow.start_run() as run:
        ledgerflow.log_artifacts(str(model_dir), "packaged")
    version = ledgerflow.register_model(f"runs:/{run.info.run_id}/packaged", "plain")
    downloaded = Client(tracking_uri).get_model_version_download_uri("plain", version.version)
    assert downloaded.rstrip("/").endswith(f"{run.info.run_id}/artifacts/packaged"), downloaded
