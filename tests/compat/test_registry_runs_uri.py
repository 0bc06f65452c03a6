"""The real mlflow client registering ``runs:/<run>/<name>`` sources on our server: through
``mlflow.register_model`` (which resolves the URI itself) and through a raw
``create_model_version`` with the runs:/ source (which leaves it to the server), the version
holds the logged model's files (its download URI is the logged model's artifact location) and
loads with ``mlflow.pyfunc``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer

mlflow = pytest.importorskip("mlflow")
sklearn_linear = pytest.importorskip("sklearn.linear_model")
np = pytest.importorskip("numpy")

pytestmark = pytest.mark.compat

FEATURES = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])


@pytest.fixture
def tracking(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_registry_uri(live_server.url)
    from mlflow import MlflowClient

    try:
        yield MlflowClient(tracking_uri=live_server.url, registry_uri=live_server.url)
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")


def _files_of(client: Any, name: str, version: str) -> str:
    return str(client.get_model_version_download_uri(name, version))


def _logged(name: str = "model") -> tuple[str, Any]:
    model = sklearn_linear.LogisticRegression().fit(FEATURES, [0, 1, 0, 1])
    # Not an experiment another test's server made (the fluent client remembers the last one).
    mlflow.set_experiment("runs-uri-compat")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name=name, serialization_format="cloudpickle")
    return run.info.run_id, info


def test_mlflow_register_model_with_runs_uri(tracking: Any) -> None:
    run_id, info = _logged()
    version = mlflow.register_model(f"runs:/{run_id}/model", "via-register")
    assert (
        _files_of(tracking, "via-register", version.version)
        == mlflow.get_logged_model(info.model_id).artifact_location
    )
    loaded = mlflow.pyfunc.load_model(f"models:/via-register/{version.version}")
    assert list(loaded.predict(FEATURES)) == [0, 1, 0, 1]


def test_raw_create_model_version_with_runs_source_is_resolved_by_the_server(tracking: Any) -> None:
    client = tracking
    run_id, info = _logged()
    client.create_registered_model("via-raw")
    version = client.create_model_version("via-raw", f"runs:/{run_id}/model", run_id=run_id)
    assert version.status == "READY"
    assert version.source == f"runs:/{run_id}/model"
    assert (
        _files_of(client, "via-raw", version.version)
        == mlflow.get_logged_model(info.model_id).artifact_location
    )
    loaded = mlflow.pyfunc.load_model(f"models:/via-raw/{version.version}")
    assert list(loaded.predict(FEATURES)) == [0, 1, 0, 1]


def test_ledgerflow_register_model_of_an_mlflow_logged_model(tracking: Any, live_server: LiveServer) -> None:
    import ledgerflow
    import ledgerflow.pyfunc
    from ledgerflow.client.fluent import reset_fluent_state

    run_id, info = _logged()
    reset_fluent_state()
    try:
        ledgerflow.set_tracking_uri(live_server.url)
        version = ledgerflow.register_model(f"runs:/{run_id}/model", "via-ledgerflow")
        assert (
            _files_of(tracking, "via-ledgerflow", version.version)
            == mlflow.get_logged_model(info.model_id).artifact_location
        )
        loaded = ledgerflow.pyfunc.load_model(f"models:/via-ledgerflow/{version.version}")
        assert list(loaded.predict(FEATURES)) == [0, 1, 0, 1]
    finally:
        reset_fluent_state()
