"""log_model on a live server, then every model URI form resolves and predicts (client and CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import ledgerflow
import ledgerflow.pyfunc
import ledgerflow.sklearn
from ledgerflow.cli.main import main
from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist


@pytest.fixture
def logged(live_server: Any, classifier: Any, iris: Any) -> dict[str, Any]:
    ledgerflow.set_tracking_uri(live_server.url)
    ledgerflow.set_experiment("models-uris")
    with ledgerflow.start_run() as run:
        ledgerflow.log_metric("accuracy", 0.97)
        info = ledgerflow.sklearn.log_model(
            classifier, name="model", input_example=iris[0].head(3), registered_model_name="iris-lr"
        )
    return {"url": live_server.url, "run_id": run.info.run_id, "info": info}


def test_log_model_creates_a_ready_logged_model(logged: dict[str, Any]) -> None:
    info = logged["info"]
    assert info.model_id.startswith("m-") and info.registered_model_version == "1"
    base = logged["url"] + "/api/2.0/mlflow"
    model = httpx.get(f"{base}/logged-models/{info.model_id}").json()["model"]
    assert model["info"]["status"] == "LOGGED_MODEL_READY"
    assert model["info"]["source_run_id"] == logged["run_id"]
    run = httpx.get(f"{base}/runs/get", params={"run_id": logged["run_id"]}).json()["run"]
    assert run["outputs"]["model_outputs"][0]["model_id"] == info.model_id
    listing = httpx.get(
        logged["url"] + "/api/2.0/mlflow-artifacts/artifacts",
        params={"path": info.artifact_uri.split("mlflow-artifacts:/", 1)[1]},
    ).json()
    assert {"MLmodel", "model.pkl", "requirements.txt"} <= {f["path"] for f in listing["files"]}


def test_log_model_links_the_metrics_of_its_step_as_mlflow_does(
    live_server: Any, classifier: Any, iris: Any
) -> None:
    """Like MLflow 3's log_model: the model gets the run's points at its step (0 unless given)
    that belong to no other model, not the run's whole history."""
    ledgerflow.set_tracking_uri(live_server.url)
    ledgerflow.set_experiment("models-step-metrics")
    with ledgerflow.start_run():
        for step in range(5):
            ledgerflow.log_metric("loss", 1.0 / (step + 1), step=step)
        ledgerflow.log_metric("accuracy", 0.9, step=3)
        at_zero = ledgerflow.sklearn.log_model(classifier, name="first", input_example=iris[0].head(3))
        at_three = ledgerflow.sklearn.log_model(classifier, name="third", step=3)
    base = live_server.url + "/api/2.0/mlflow"

    def linked(model_id: str) -> list[tuple[str, float, int]]:
        model = httpx.get(f"{base}/logged-models/{model_id}").json()["model"]
        assert all(m["model_id"] == model_id for m in model["data"].get("metrics", []))
        return sorted((m["key"], m["value"], m["step"]) for m in model["data"].get("metrics", []))

    assert linked(at_zero.model_id) == [("loss", 1.0, 0)]
    assert linked(at_three.model_id) == [("accuracy", 0.9, 3), ("loss", 0.25, 3)]


def test_every_uri_form_predicts(logged: dict[str, Any], classifier: Any, iris: Any) -> None:
    base = logged["url"] + "/api/2.0/mlflow"
    response = httpx.post(
        f"{base}/registered-models/alias", json={"name": "iris-lr", "alias": "champion", "version": "1"}
    )
    assert response.status_code == 200, response.text
    response = httpx.post(
        f"{base}/model-versions/transition-stage",
        json={"name": "iris-lr", "version": "1", "stage": "Production", "archive_existing_versions": False},
    )
    assert response.status_code == 200, response.text
    expected = classifier.predict(iris[0])
    for uri in (
        "models:/iris-lr/1",
        "models:/iris-lr@champion",
        "models:/iris-lr/latest",
        "models:/iris-lr/Production",
        f"models:/{logged['info'].model_id}",
        f"runs:/{logged['run_id']}/model",
        logged["info"].artifact_uri,
    ):
        assert np.array_equal(ledgerflow.pyfunc.load_model(uri).predict(iris[0]), expected), uri


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("models:/iris-lr/7", Exception),
        ("models:/iris-lr@nobody", Exception),
        ("models:/iris-lr/Nonsense", InvalidParameter),
        ("models:/m-00000000000000000000000000000000", Exception),
        ("runs:/", InvalidParameter),
        ("models:/", InvalidParameter),
    ],
)
def test_bad_uris_fail_clearly(logged: dict[str, Any], uri: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        ledgerflow.pyfunc.load_model(uri)


def test_runs_uri_without_model(logged: dict[str, Any]) -> None:
    with pytest.raises(ResourceDoesNotExist):
        ledgerflow.pyfunc.load_model(f"runs:/{logged['run_id']}/elsewhere")


def test_cli_predict_and_dockerfile(
    logged: dict[str, Any], tmp_path: Path, classifier: Any, iris: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", logged["url"])
    frame = iris[0].head(5)
    frame.to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "in.json").write_text(
        json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))})
    )
    expected = classifier.predict(frame).tolist()
    main(
        [
            "models",
            "predict",
            "-m",
            "models:/iris-lr/1",
            "-i",
            str(tmp_path / "in.csv"),
            "-o",
            str(tmp_path / "out.json"),
        ]
    )
    assert json.loads((tmp_path / "out.json").read_text()) == {"predictions": expected}
    main(
        [
            "models",
            "predict",
            "-m",
            "models:/iris-lr/1",
            "-i",
            str(tmp_path / "in.json"),
            "-o",
            str(tmp_path / "out.csv"),
        ]
    )
    assert (tmp_path / "out.csv").read_text().splitlines() == ["prediction", *map(str, expected)]
    main(["models", "generate-dockerfile", "-m", "models:/iris-lr/1", "-d", str(tmp_path / "docker")])
    dockerfile = (tmp_path / "docker" / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM python:3.11-slim")
    assert "COPY model_dir /opt/ml/model" in dockerfile
    assert "pip install --no-cache-dir -r /opt/ml/model/requirements.txt" in dockerfile
    assert (
        '"ledgerflow", "models", "serve", "-m", "/opt/ml/model", "-h", "0.0.0.0", "-p", "8080"' in dockerfile
    )
    assert "USER scorer" in dockerfile and "EXPOSE 8080" in dockerfile
    assert (tmp_path / "docker" / "model_dir" / "MLmodel").is_file()


def test_demo_logs_a_model_both_uris_resolve(live_server: Any) -> None:
    from ledgerflow.demo.job import run_demo

    result = run_demo(live_server.url, "demo-models")
    ledgerflow.set_tracking_uri(live_server.url)
    by_run = ledgerflow.pyfunc.load_model(f"runs:/{result['run_id']}/model")
    by_id = ledgerflow.pyfunc.load_model(f"models:/{result['model_id']}")
    example = by_run.metadata.saved_input_example_info
    assert example is not None and example["type"] == "dataframe"
    from ledgerflow.models.examples import load_example

    frame = load_example(by_run.model_dir, example)
    assert np.array_equal(by_run.predict(frame), by_id.predict(frame))
