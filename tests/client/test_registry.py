"""``ledgerflow.Client`` registry methods and ``ledgerflow.register_model`` over HTTP, against a
real server on loopback: every call's result as MlflowClient returns it, paging by token,
and server errors surfacing as ``RestError`` with the server's error code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import ledgerflow
from ledgerflow import Client, ModelVersion, RegisteredModel, RestError
from ledgerflow.client.transport import HttpTransport
from tests.conftest import LiveServer


@pytest.fixture
def client(live_server: LiveServer) -> Client:
    made = Client(live_server.url)
    assert isinstance(made.transport, HttpTransport)
    return made


@pytest.fixture
def run_source(client: Client, tmp_path: Path) -> tuple[str, str]:
    """(run_id, runs:/ source) of a run holding a tiny "model" directory."""
    experiment_id = client.create_experiment("registry-client")
    run = client.create_run(experiment_id)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    client.log_artifacts(run.info.run_id, str(model_dir), "model")
    return run.info.run_id, f"runs:/{run.info.run_id}/model"


def _error(call: Callable[[], object]) -> RestError:
    with pytest.raises(RestError) as caught:
        call()
    return caught.value


def test_registered_model_lifecycle(client: Client) -> None:
    created = client.create_registered_model("churn", tags={"team": "a", "tier": 1}, description="first")
    assert isinstance(created, RegisteredModel)
    assert (created.name, created.description, created.tags) == ("churn", "first", {"team": "a", "tier": "1"})
    assert created.creation_timestamp is not None and created.latest_versions == []

    renamed = client.rename_registered_model("churn", "churn-v2")
    assert renamed.name == "churn-v2"
    updated = client.update_registered_model("churn-v2", description="second")
    assert updated.description == "second"
    client.set_registered_model_tag("churn-v2", "owner", "me")
    client.delete_registered_model_tag("churn-v2", "team")
    fetched = client.get_registered_model("churn-v2")
    assert fetched.tags == {"tier": "1", "owner": "me"}
    assert fetched.description == "second"

    client.delete_registered_model("churn-v2")
    error = _error(lambda: client.get_registered_model("churn-v2"))
    assert (error.error_code, error.http_status) == ("RESOURCE_DOES_NOT_EXIST", 404)


def test_search_registered_models_filters_orders_and_pages(client: Client) -> None:
    for index in range(7):
        client.create_registered_model(f"sm-{index}")
    client.create_registered_model("other")

    top = client.search_registered_models("name LIKE 'sm-%'", order_by=["name DESC"], max_results=3)
    assert [m.name for m in top] == ["sm-6", "sm-5", "sm-4"]
    assert top.token is not None

    names: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = client.search_registered_models("name LIKE 'sm-%'", max_results=3, page_token=token)
        names.extend(m.name for m in page)
        pages += 1
        token = page.token
        if token is None:
            break
    assert names == [f"sm-{i}" for i in range(7)] and pages == 3
    assert {m.name for m in client.search_registered_models()} == {*names, "other"}

    error = _error(lambda: client.search_registered_models("name = "))
    assert error.error_code == "INVALID_PARAMETER_VALUE"


def test_model_versions(client: Client, run_source: tuple[str, str]) -> None:
    run_id, source = run_source
    client.create_registered_model("fraud")
    first = client.create_model_version(
        "fraud", source, run_id=run_id, tags={"stage": "candidate"}, description="v1"
    )
    assert isinstance(first, ModelVersion)
    assert (first.name, first.version, first.run_id, first.description) == ("fraud", "1", run_id, "v1")
    assert first.tags == {"stage": "candidate"} and first.status == "READY"
    assert first.current_stage == "None"
    second = client.create_model_version("fraud", source, run_id=run_id)
    assert second.version == "2"

    assert client.get_model_version("fraud", 1).source == first.source
    assert client.update_model_version("fraud", "2", description="v2").description == "v2"
    client.set_model_version_tag("fraud", "2", "checked", True)
    client.delete_model_version_tag("fraud", "1", "stage")
    assert client.get_model_version("fraud", "2").tags == {"checked": "True"}
    assert client.get_model_version("fraud", "1").tags == {}
    assert client.get_model_version_download_uri("fraud", "1").endswith("/model")

    found = client.search_model_versions("name = 'fraud'")
    assert sorted(v.version for v in found) == ["1", "2"] and found.token is None
    by_run = client.search_model_versions(f"run_id = '{run_id}'", max_results=1)
    assert len(by_run) == 1 and by_run.token is not None
    rest = client.search_model_versions(f"run_id = '{run_id}'", max_results=1, page_token=by_run.token)
    assert {by_run[0].version, rest[0].version} == {"1", "2"} and rest.token is None

    client.delete_model_version("fraud", "1")
    error = _error(lambda: client.get_model_version("fraud", "1"))
    assert (error.error_code, error.http_status) == ("RESOURCE_DOES_NOT_EXIST", 404)
    assert [v.version for v in client.search_model_versions("name = 'fraud'")] == ["2"]


def test_aliases(client: Client, run_source: tuple[str, str]) -> None:
    run_id, source = run_source
    client.create_registered_model("ranker")
    client.create_model_version("ranker", source, run_id=run_id)
    client.create_model_version("ranker", source, run_id=run_id)
    client.set_registered_model_alias("ranker", "champion", "1")
    client.set_registered_model_alias("ranker", "challenger", 2)

    assert client.get_model_version_by_alias("ranker", "champion").version == "1"
    assert client.get_model_version("ranker", "2").aliases == ["challenger"]
    assert client.get_registered_model("ranker").aliases == {"champion": "1", "challenger": "2"}

    client.set_registered_model_alias("ranker", "champion", "2")
    assert client.get_model_version_by_alias("ranker", "champion").version == "2"
    client.delete_registered_model_alias("ranker", "champion")
    error = _error(lambda: client.get_model_version_by_alias("ranker", "champion"))
    # MLflow's code for an unknown alias.
    assert (error.error_code, error.http_status) == ("INVALID_PARAMETER_VALUE", 400)
    assert client.get_registered_model("ranker").aliases == {"challenger": "2"}


def test_stages_and_latest_versions(client: Client, run_source: tuple[str, str]) -> None:
    run_id, source = run_source
    client.create_registered_model("staged")
    for _ in range(3):
        client.create_model_version("staged", source, run_id=run_id)

    moved = client.transition_model_version_stage("staged", "1", "Production")
    assert moved.current_stage == "Production"
    client.transition_model_version_stage("staged", "2", "staging")
    assert client.get_model_version("staged", "2").current_stage == "Staging"

    latest = {v.current_stage: v.version for v in client.get_latest_versions("staged")}
    assert latest == {"Production": "1", "Staging": "2", "None": "3"}
    assert [v.version for v in client.get_latest_versions("staged", ["Production"])] == ["1"]

    # archive_existing_versions moves the old Production version to Archived.
    promoted = client.transition_model_version_stage(
        "staged", "3", "Production", archive_existing_versions=True
    )
    assert promoted.current_stage == "Production"
    assert client.get_model_version("staged", "1").current_stage == "Archived"
    assert client.get_model_version("staged", "2").current_stage == "Staging"

    # A version tag by stage goes to the latest version in that stage.
    client.set_model_version_tag("staged", key="note", value="live", stage="Production")
    assert client.get_model_version("staged", "3").tags == {"note": "live"}
    client.delete_model_version_tag("staged", key="note", stage="Production")
    assert client.get_model_version("staged", "3").tags == {}

    error = _error(lambda: client.transition_model_version_stage("staged", "1", "Nowhere"))
    assert error.error_code == "INVALID_PARAMETER_VALUE"


def test_errors_surface_with_the_server_error_code(client: Client, run_source: tuple[str, str]) -> None:
    run_id, source = run_source
    for call in (
        lambda: client.get_registered_model("missing"),
        lambda: client.rename_registered_model("missing", "other"),
        lambda: client.update_registered_model("missing", description="x"),
        lambda: client.delete_registered_model("missing"),
        lambda: client.get_latest_versions("missing"),
        lambda: client.create_model_version("missing", source, run_id=run_id),
        lambda: client.get_model_version_download_uri("missing", "1"),
        lambda: client.set_registered_model_alias("missing", "a", "1"),
    ):
        error = _error(call)
        assert (error.error_code, error.http_status) == ("RESOURCE_DOES_NOT_EXIST", 404), error.message

    client.create_registered_model("dup")
    error = _error(lambda: client.create_registered_model("dup"))
    assert (error.error_code, error.http_status) == ("RESOURCE_ALREADY_EXISTS", 400)
    error = _error(lambda: client.get_model_version("dup", "7"))
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST"
    error = _error(lambda: client.create_model_version("dup", "/etc/passwd"))
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(ledgerflow.LedgerflowError):
        client.set_model_version_tag("dup", "1", "k", "v", stage="Production")


def test_fluent_register_model(live_server: LiveServer, run_source: tuple[str, str], client: Client) -> None:
    run_id, source = run_source
    ledgerflow.set_tracking_uri(live_server.url)

    first = ledgerflow.register_model(source, "fluent-model", tags={"via": "fluent"})
    assert (first.name, first.version, first.run_id, first.tags) == (
        "fluent-model",
        "1",
        run_id,
        {"via": "fluent"},
    )
    # A second registration adds a version to the existing model.
    second = ledgerflow.register_model(source, "fluent-model")
    assert second.version == "2"
    assert client.get_model_version_download_uri("fluent-model", "2").endswith("/model")

    error = _error(lambda: ledgerflow.register_model("runs:/no-such-run/model", "fluent-model"))
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST"
