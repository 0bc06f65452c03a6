"""The stock MLflow 3.x client, in this process, against a live Ledgerflow server: register
a logged sklearn model, alias it, load it back through ``models:/name@alias``, search,
stages and deletes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer

mlflow = pytest.importorskip("mlflow")
sklearn_linear = pytest.importorskip("sklearn.linear_model")
np = pytest.importorskip("numpy")

pytestmark = pytest.mark.compat


@pytest.fixture
def tracking(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Any]:
    # Anything the client writes locally (its default ./mlruns on reset) lands in tmp_path.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", live_server.url)
    # The client would otherwise wait for retries on our deliberate 4xx answers.
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


def test_register_alias_load_search_and_delete(tracking: Any) -> None:
    from mlflow.exceptions import MlflowException

    client = tracking
    features = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    labels = np.array([0, 1, 0, 1])
    model = sklearn_linear.LogisticRegression().fit(features, labels)

    client.create_registered_model("plain-model")
    mlflow.set_experiment("registry-compat")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            registered_model_name="iris-lr",
        )
    assert str(info.registered_model_version) == "1"

    version = client.get_model_version("iris-lr", "1")
    assert version.run_id == run.info.run_id
    assert version.source == f"models:/{info.model_id}"
    assert version.status == "READY"
    assert version.current_stage == "None"

    # A second version straight from the logged model, as MlflowClient users do.
    second = client.create_model_version("iris-lr", f"models:/{info.model_id}", run_id=run.info.run_id)
    assert second.version == "2"

    client.set_registered_model_alias("iris-lr", "champion", "1")
    by_alias = client.get_model_version_by_alias("iris-lr", "champion")
    assert by_alias.version == "1"
    assert by_alias.aliases == ["champion"]
    with pytest.raises(MlflowException, match="alias nope not found"):
        client.get_model_version_by_alias("iris-lr", "nope")

    loaded = mlflow.pyfunc.load_model("models:/iris-lr@champion")
    assert list(loaded.predict(features)) == list(model.predict(features))
    assert list(mlflow.pyfunc.load_model("models:/iris-lr/2").predict(features)) == list(
        model.predict(features)
    )

    # The default filter hides prompts and must still return tag-less models.
    names = sorted(m.name for m in client.search_registered_models())
    assert names == ["iris-lr", "plain-model"]
    found = client.search_model_versions("name = 'iris-lr'")
    assert sorted(v.version for v in found) == ["1", "2"]

    client.transition_model_version_stage("iris-lr", "2", "production", archive_existing_versions=True)
    latest = client.get_latest_versions("iris-lr", stages=["Production"])
    assert [(v.version, v.current_stage) for v in latest] == [("2", "Production")]
    assert sorted(v.version for v in client.get_latest_versions("iris-lr")) == ["1", "2"]
    loaded_latest = mlflow.pyfunc.load_model("models:/iris-lr/latest")
    assert list(loaded_latest.predict(features)) == list(model.predict(features))

    client.set_registered_model_tag("iris-lr", "team", "ml")
    client.update_model_version("iris-lr", "1", description="first")
    assert client.get_registered_model("iris-lr").tags == {"team": "ml"}
    assert client.get_model_version("iris-lr", "1").description == "first"

    client.delete_registered_model_alias("iris-lr", "champion")
    client.delete_model_version("iris-lr", "1")
    with pytest.raises(MlflowException):
        client.get_model_version("iris-lr", "1")
    client.delete_registered_model("iris-lr")
    assert [m.name for m in client.search_registered_models()] == ["plain-model"]


def _refused(call: Any) -> str:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as raised:
        call()
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    # The client prefixes the server's message with its error code.
    return str(raised.value.message).removeprefix("INVALID_PARAMETER_VALUE: ")


def test_padded_names_and_aliases_are_refused_through_the_stock_client(tracking: Any) -> None:
    client = tracking
    for name in (" padded", "padded ", "tab\t", "\nnewline"):
        assert "cannot begin or end with whitespace" in _refused(
            lambda n=name: client.create_registered_model(n)
        )
    assert client.search_registered_models() == []
    client.create_registered_model("m")
    assert "whitespace" in _refused(lambda: client.rename_registered_model("m", "m "))
    client.create_model_version("m", "mlflow-artifacts:/0/models/m-0/artifacts")
    for alias in ("champion\n", "latest\n", " champion"):
        assert "Names may only contain" in _refused(
            lambda a=alias: client.set_registered_model_alias("m", a, "1")
        )
    assert client.get_registered_model("m").aliases == {}


def test_a_run_id_that_does_not_hold_the_source_is_refused_through_the_stock_client(tracking: Any) -> None:
    client = tracking
    client.create_registered_model("m")
    mlflow.set_experiment("registry-lineage")
    with mlflow.start_run() as run, mlflow.start_run(nested=True) as other:
        pass
    source = f"runs:/{run.info.run_id}/model"
    message = _refused(lambda: client.create_model_version("m", source, run_id=other.info.run_id))
    assert message == (
        f"Invalid model version source: '{source}'. The run_id request parameter must identify "
        "the resource that contains the source."
    )
    missing = "0123456789abcdef0123456789abcdef"
    artifacts = f"{run.info.artifact_uri}/model"
    assert "run_id request parameter" in _refused(
        lambda: client.create_model_version("m", artifacts, run_id=missing)
    )
    assert client.search_model_versions("name = 'm'") == []
    version = client.create_model_version("m", source, run_id=run.info.run_id)
    assert (version.version, version.run_id) == ("1", run.info.run_id)
