"""search_runs and search_experiments through the fluent API."""

from __future__ import annotations

import pandas as pd
import pytest

import ledgerflow


@pytest.fixture(autouse=True)
def _uri(tracking_uri: str) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)


def test_search_runs_returns_a_dataframe_with_mlflow_columns() -> None:
    experiment = ledgerflow.set_experiment("searchable")
    with ledgerflow.start_run(run_name="one"):
        ledgerflow.log_metric("acc", 0.9)
        ledgerflow.log_param("lr", 0.1)
    with ledgerflow.start_run(run_name="two"):
        ledgerflow.log_metric("acc", 0.7)
    frame = ledgerflow.search_runs()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:6]) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    assert {"metrics.acc", "params.lr", "tags.mlflow.runName"} <= set(frame.columns)
    assert set(frame["experiment_id"]) == {experiment.experiment_id}
    assert str(frame["start_time"].dtype).startswith("datetime64")
    ordered = ledgerflow.search_runs(order_by=["metrics.acc ASC"], output_format="list")
    assert [r.info.run_name for r in ordered] == ["two", "one"]
    filtered = ledgerflow.search_runs(filter_string="metrics.acc > 0.8")
    assert list(filtered["tags.mlflow.runName"]) == ["one"]
    by_name = ledgerflow.search_runs(experiment_names=["searchable"], output_format="list")
    assert len(by_name) == 2


def test_search_runs_pages_through_everything() -> None:
    client = ledgerflow.Client(ledgerflow.get_tracking_uri())
    experiment_id = client.create_experiment("many")
    created = {client.create_run(experiment_id).info.run_id for _ in range(25)}
    page = client.search_runs([experiment_id], max_results=10)
    assert len(page) == 10 and page.token
    assert {r.info.run_id for r in client.search_all_runs([experiment_id])} == created
    assert len(ledgerflow.search_runs([experiment_id], max_results=12, output_format="list")) == 12
    client.close()


def test_deleted_runs_only_with_the_view_type() -> None:
    with ledgerflow.start_run() as run:
        pass
    ledgerflow.delete_run(run.info.run_id)
    assert ledgerflow.search_runs(output_format="list") == []
    deleted = ledgerflow.search_runs(run_view_type="DELETED_ONLY", output_format="list")
    assert [r.info.run_id for r in deleted] == [run.info.run_id]


def test_search_experiments_sees_created_ones() -> None:
    ledgerflow.create_experiment("e-one")
    names = {e.name for e in ledgerflow.search_experiments()}
    assert {"Default", "e-one"} <= names
