"""``ledgerflow runs``: list, describe, delete, restore, export (BC-59)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ledgerflow
from ledgerflow.config import ServerConfig
from tests.cli.conftest import CliResult

Cli = Callable[[list[str]], CliResult]


@pytest.fixture
def server_url(
    make_live_server: Callable[[ServerConfig], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'cli.db'}", artifacts_destination=str(tmp_path / "art")
    )
    return str(make_live_server(config).url)


@pytest.fixture
def seeded(server_url: str) -> dict[str, str]:
    """Experiment 1 with run 'alpha' (A) and a deleted run B, as in BC-59."""
    client = ledgerflow.Client(server_url)
    experiment_id = client.create_experiment("cli-exp")
    a = client.create_run(experiment_id, run_name="alpha").info.run_id
    client.log_metric(a, "acc", 0.5)
    client.log_param(a, "lr", "0.1")
    b = client.create_run(experiment_id, run_name="beta").info.run_id
    client.delete_run(b)
    client.close()
    return {"experiment_id": experiment_id, "a": a, "b": b, "url": server_url}


def test_list_shows_active_runs_as_date_name_id(
    cli: Cli, seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", seeded["url"])
    result = cli(["runs", "list", "--experiment-id", seeded["experiment_id"]])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Date", "Name", "ID"]
    assert seeded["a"] in result.stdout and "alpha" in result.stdout
    assert seeded["b"] not in result.stdout
    everything = cli(
        ["runs", "list", "-x", seeded["experiment_id"], "--view", "all", "--tracking-uri", seeded["url"]]
    )
    assert seeded["b"] in everything.stdout


def test_describe_prints_indented_json_also_for_deleted_runs(cli: Cli, seeded: dict[str, str]) -> None:
    result = cli(["runs", "describe", "--run-id", seeded["a"], "--tracking-uri", seeded["url"]])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith('{\n  "info"')
    document = json.loads(result.stdout)
    assert {
        "artifact_uri",
        "end_time",
        "experiment_id",
        "lifecycle_stage",
        "run_id",
        "run_uuid",
        "start_time",
        "status",
        "user_id",
    } <= set(document["info"])
    assert document["data"]["metrics"] == {"acc": 0.5}
    assert document["data"]["params"] == {"lr": "0.1"}
    assert document["data"]["tags"]["mlflow.runName"] == "alpha"
    deleted = json.loads(
        cli(["runs", "describe", "--run-id", seeded["b"], "--tracking-uri", seeded["url"]]).stdout
    )
    assert deleted["info"]["lifecycle_stage"] == "deleted"


def test_delete_then_restore(cli: Cli, seeded: dict[str, str]) -> None:
    uri = ["--tracking-uri", seeded["url"]]
    assert cli(["runs", "delete", "--run-id", seeded["a"], *uri]).exit_code == 0
    assert seeded["a"] not in cli(["runs", "list", "-x", seeded["experiment_id"], *uri]).stdout
    restored = cli(["runs", "restore", "--run-id", seeded["a"], *uri])
    assert restored.exit_code == 0 and "restored" in restored.stdout
    assert seeded["a"] in cli(["runs", "list", "-x", seeded["experiment_id"], *uri]).stdout


def test_unknown_run_is_one_line_on_stderr_and_nonzero(cli: Cli, seeded: dict[str, str]) -> None:
    result = cli(["runs", "describe", "--run-id", "0" * 32, "--tracking-uri", seeded["url"]])
    assert result.exit_code == 4
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("Error:")


def test_export_json_with_metric_history_to_stdout_and_file(
    cli: Cli, seeded: dict[str, str], tmp_path: Path
) -> None:
    uri = ["--tracking-uri", seeded["url"]]
    out = cli(["runs", "export", "--run-id", seeded["a"], *uri])
    assert out.exit_code == 0, out.stderr
    exported = json.loads(out.stdout)
    assert exported[0]["info"]["run_id"] == seeded["a"]
    assert [p["value"] for p in exported[0]["metric_history"]["acc"]] == [0.5]
    target = tmp_path / "runs.json"
    to_file = cli(["runs", "export", "-x", seeded["experiment_id"], "-o", str(target), *uri])
    assert to_file.exit_code == 0 and str(target) in to_file.stdout
    assert [r["info"]["run_id"] for r in json.loads(target.read_text())] == [seeded["a"]]


def test_export_csv(cli: Cli, seeded: dict[str, str]) -> None:
    out = cli(
        [
            "runs",
            "export",
            "--run-id",
            seeded["a"],
            "--run-id",
            seeded["b"],
            "-f",
            "csv",
            "--tracking-uri",
            seeded["url"],
        ]
    )
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["run_id"] for r in rows] == [seeded["a"], seeded["b"]]
    assert rows[0]["metrics.acc"] == "0.5" and rows[1]["metrics.acc"] == ""


def test_export_needs_runs_or_an_experiment(cli: Cli, seeded: dict[str, str]) -> None:
    result = cli(["runs", "export", "--tracking-uri", seeded["url"]])
    assert result.exit_code == 2 and result.stderr.startswith("Error:")


def test_long_export_shows_progress_on_stderr(cli: Cli, server_url: str) -> None:
    client = ledgerflow.Client(server_url)
    experiment_id = client.create_experiment("long")
    for _ in range(120):
        client.create_run(experiment_id)
    client.close()
    result = cli(["runs", "export", "-x", experiment_id, "-f", "csv", "--tracking-uri", server_url])
    assert result.exit_code == 0
    assert "Exporting 120 runs" in result.stderr
    assert len(result.stdout.strip().splitlines()) == 121


def test_runs_cli_works_on_a_local_store(cli: Cli, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    client = ledgerflow.Client(store)
    run_id = client.create_run("0", run_name="local-run").info.run_id
    client.close()
    result = cli(["runs", "list", "-x", "0", "--tracking-uri", store])
    assert result.exit_code == 0 and run_id in result.stdout and "local-run" in result.stdout


def test_a_missing_experiment_is_not_found_not_empty(
    cli: Cli, seeded: dict[str, str], tmp_path: Path
) -> None:
    uri = ["--tracking-uri", seeded["url"]]
    for args in (["runs", "list", "-x", "99999"], ["runs", "export", "-x", "99999"]):
        result = cli([*args, *uri])
        assert result.exit_code == 4, result
        assert result.stdout == ""
        assert result.stderr.strip().splitlines() == ["Error: No Experiment with id=99999 exists"]
    target = tmp_path / "x.json"
    assert cli(["runs", "export", "-x", "99999", "-o", str(target), *uri]).exit_code == 4
    assert not target.exists()
    # An experiment that exists but has no runs is still an empty, successful answer.
    empty = ledgerflow.Client(seeded["url"]).create_experiment("empty")
    listed = cli(["runs", "list", "-x", empty, *uri])
    assert listed.exit_code == 0 and listed.stdout.splitlines()[2:] == []
    assert json.loads(cli(["runs", "export", "-x", empty, *uri]).stdout) == []


def test_runs_delete_help_has_no_markup(cli: Cli) -> None:
    text = cli(["runs", "delete", "--help"]).stdout
    assert "``" not in text and "ledgerflow runs restore" in text
