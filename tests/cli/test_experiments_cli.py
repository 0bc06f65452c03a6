"""``ledgerflow experiments``: list, describe, create, delete, restore, export (BC-59)."""

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
def url(
    make_live_server: Callable[[ServerConfig], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'exp.db'}", artifacts_destination=str(tmp_path / "art")
    )
    server_url = str(make_live_server(config).url)
    monkeypatch.setenv("LEDGERFLOW_TRACKING_URI", server_url)
    return server_url


def test_create_list_describe(cli: Cli, url: str) -> None:
    created = cli(["experiments", "create", "-n", "from-cli"])
    assert created.exit_code == 0, created.stderr
    experiment_id = created.stdout.strip().rsplit(" ", 1)[-1]
    listed = cli(["experiments", "list"])
    assert listed.stdout.splitlines()[0].split() == ["Experiment", "Id", "Name", "Artifact", "Location"]
    assert "from-cli" in listed.stdout and "Default" in listed.stdout
    described = json.loads(cli(["experiments", "describe", "-x", experiment_id]).stdout)
    assert described["name"] == "from-cli" and described["lifecycle_stage"] == "active"
    by_name = json.loads(cli(["experiments", "describe", "-n", "from-cli"]).stdout)
    assert by_name["experiment_id"] == experiment_id


def test_delete_restore_and_deleted_view(cli: Cli, url: str) -> None:
    experiment_id = ledgerflow.Client(url).create_experiment("to-delete")
    assert cli(["experiments", "delete", "-x", experiment_id]).exit_code == 0
    assert "to-delete" not in cli(["experiments", "list"]).stdout
    assert "to-delete" in cli(["experiments", "list", "--view", "deleted_only"]).stdout
    described = json.loads(cli(["experiments", "describe", "-x", experiment_id]).stdout)
    assert described["lifecycle_stage"] == "deleted"
    assert cli(["experiments", "restore", "-x", experiment_id]).exit_code == 0
    assert "to-delete" in cli(["experiments", "list"]).stdout


def test_errors_are_one_line_with_exit_codes(cli: Cli, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    ledgerflow.Client(url).create_experiment("dup")
    duplicate = cli(["experiments", "create", "-n", "dup"])
    assert duplicate.exit_code == 3
    assert duplicate.stderr.startswith("Error:") and len(duplicate.stderr.strip().splitlines()) == 1
    missing = cli(["experiments", "describe", "-x", "999"])
    assert missing.exit_code == 4
    assert cli(["experiments", "describe", "-n", "nope"]).exit_code == 4
    unreachable = cli(["experiments", "list", "--tracking-uri", "http://127.0.0.1:9"])
    assert unreachable.exit_code != 0 and "Could not reach" in unreachable.stderr


def test_export_csv_to_stdout_and_file(cli: Cli, url: str, tmp_path: Path) -> None:
    client = ledgerflow.Client(url)
    experiment_id = client.create_experiment("exported")
    run_id = client.create_run(experiment_id, run_name="r").info.run_id
    client.log_metric(run_id, "loss", 0.25)
    gone = client.create_run(experiment_id).info.run_id
    client.delete_run(gone)
    client.close()

    stdout = cli(["experiments", "export", "-x", experiment_id])
    assert stdout.exit_code == 0, stdout.stderr
    rows = list(csv.DictReader(io.StringIO(stdout.stdout)))
    assert [r["run_id"] for r in rows] == [run_id]
    header = stdout.stdout.splitlines()[0].split(",")
    assert header[:6] == ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    assert rows[0]["metrics.loss"] == "0.25" and rows[0]["tags.mlflow.runName"] == "r"

    target = tmp_path / "out.csv"
    to_file = cli(["experiments", "export", "-x", experiment_id, "-o", str(target)])
    assert to_file.stdout.strip() == (
        f"Experiment with ID {experiment_id} has been exported as a CSV to file: {target}."
    )
    assert target.read_text() == stdout.stdout

    as_json = json.loads(cli(["experiments", "export", "-x", experiment_id, "-f", "json"]).stdout)
    assert as_json[0]["data"]["metrics"] == {"loss": 0.25}


def test_export_of_unknown_experiment_fails(cli: Cli, url: str, tmp_path: Path) -> None:
    result = cli(["experiments", "export", "-x", "999", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 4
    assert not (tmp_path / "x.csv").exists()


def test_restore_of_an_active_and_delete_of_a_deleted_experiment_fail(cli: Cli, url: str) -> None:
    experiment_id = ledgerflow.Client(url).create_experiment("stages")
    active = cli(["experiments", "restore", "-x", experiment_id])
    assert active.exit_code == 4
    assert active.stdout == ""
    assert active.stderr.strip().splitlines() == [
        f"Error: Experiment with ID {experiment_id} is not deleted (it is active): nothing to restore."
    ]
    assert cli(["experiments", "delete", "-x", experiment_id]).exit_code == 0
    again = cli(["experiments", "delete", "-x", experiment_id])
    assert again.exit_code == 4
    assert again.stderr.strip().splitlines() == [
        f"Error: Experiment with ID {experiment_id} is already deleted."
    ]
    assert cli(["experiments", "restore", "-x", experiment_id]).exit_code == 0
    missing = cli(["experiments", "restore", "-x", "99999"])
    assert missing.exit_code == 4
    assert missing.stderr.strip().splitlines() == ["Error: No Experiment with id=99999 exists"]
