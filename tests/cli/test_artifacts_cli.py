"""``ledgerflow artifacts``: upload (with progress on long work), list, download."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ledgerflow
from ledgerflow.config import ServerConfig
from tests.cli.conftest import CliResult

Cli = Callable[[list[str]], CliResult]


@pytest.fixture
def run_on_server(
    make_live_server: Callable[[ServerConfig], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'art.db'}", artifacts_destination=str(tmp_path / "dest")
    )
    url = str(make_live_server(config).url)
    client = ledgerflow.Client(url)
    run_id = client.create_run(client.create_experiment("art-cli")).info.run_id
    return url, run_id


def test_upload_list_download_round_trip(cli: Cli, run_on_server: tuple[str, str], tmp_path: Path) -> None:
    url, run_id = run_on_server
    source = tmp_path / "src"
    (source / "sub dir").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "sub dir" / "b.json").write_text('{"b": 1}')
    uploaded = cli(
        ["artifacts", "upload", "-r", run_id, "-l", str(source), "-a", "data", "--tracking-uri", url]
    )
    assert uploaded.exit_code == 0, uploaded.stderr
    assert "Uploaded 2 file(s)" in uploaded.stdout
    listed = cli(["artifacts", "list", "-r", run_id, "-p", "data", "--tracking-uri", url])
    assert listed.exit_code == 0, listed.stderr
    assert "data/a.txt" in listed.stdout and "data/sub dir" in listed.stdout
    target = tmp_path / "out"
    fetched = cli(
        ["artifacts", "download", "-r", run_id, "-p", "data", "-d", str(target), "--tracking-uri", url]
    )
    assert fetched.exit_code == 0, fetched.stderr
    assert (target / "data" / "a.txt").read_text() == "alpha"
    assert (target / "data" / "sub dir" / "b.json").read_text() == '{"b": 1}'


def test_long_upload_shows_progress(cli: Cli, run_on_server: tuple[str, str], tmp_path: Path) -> None:
    url, run_id = run_on_server
    source = tmp_path / "many"
    source.mkdir()
    for index in range(25):
        (source / f"f{index:02}.txt").write_text(str(index))
    uploaded = cli(["artifacts", "upload", "-r", run_id, "-l", str(source), "--tracking-uri", url])
    assert uploaded.exit_code == 0, uploaded.stderr
    assert "Uploading" in uploaded.stderr
    assert len(ledgerflow.Client(url).list_artifacts(run_id)) == 25


def test_bad_input_is_one_line(cli: Cli, run_on_server: tuple[str, str], tmp_path: Path) -> None:
    url, run_id = run_on_server
    missing_file = cli(
        ["artifacts", "upload", "-r", run_id, "-l", str(tmp_path / "nope"), "--tracking-uri", url]
    )
    assert missing_file.exit_code == 2
    assert "No such file or directory" in missing_file.stderr
    unknown_run = cli(["artifacts", "list", "-r", "0" * 32, "--tracking-uri", url])
    assert unknown_run.exit_code == 4
    traversal = cli(["artifacts", "download", "-r", run_id, "-p", "../../etc/passwd", "--tracking-uri", url])
    assert traversal.exit_code != 0
    for result in (missing_file, unknown_run, traversal):
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr


def test_artifact_path_alias_and_missing_paths(
    cli: Cli, run_on_server: tuple[str, str], tmp_path: Path
) -> None:
    url, run_id = run_on_server
    (tmp_path / "ok.txt").write_text("fine")
    uri = ["--tracking-uri", url]
    assert (
        cli(["artifacts", "upload", "-r", run_id, "-l", str(tmp_path / "ok.txt"), "-a", "d", *uri]).exit_code
        == 0
    )
    # mlflow's spelling works on list and download, beside -p/--path.
    for flag in ("--artifact-path", "-a", "--path", "-p"):
        listed = cli(["artifacts", "list", "-r", run_id, flag, "d", *uri])
        assert listed.exit_code == 0, listed.stderr
        assert "d/ok.txt" in listed.stdout
        target = tmp_path / f"out{flag}"
        fetched = cli(["artifacts", "download", "-r", run_id, flag, "d/ok.txt", "-d", str(target), *uri])
        assert fetched.exit_code == 0, fetched.stderr
        assert (target / "d" / "ok.txt").read_text() == "fine"
    # A missing folder lists as empty, as MLflow's API and CLI answer; a missing file is not found.
    empty = cli(["artifacts", "list", "-r", run_id, "--artifact-path", "nosuchdir", *uri])
    assert empty.exit_code == 0 and empty.stdout.splitlines()[2:] == []
    missing = cli(["artifacts", "download", "-r", run_id, "--artifact-path", "nosuch.txt", *uri])
    assert missing.exit_code == 4
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr
    help_text = cli(["artifacts", "list", "--help"]).stdout
    assert "does not exist lists as empty" in " ".join(help_text.split())


def test_download_onto_a_file_is_one_line(cli: Cli, run_on_server: tuple[str, str], tmp_path: Path) -> None:
    url, run_id = run_on_server
    (tmp_path / "ok.txt").write_text("fine")
    assert (
        cli(
            ["artifacts", "upload", "-r", run_id, "-l", str(tmp_path / "ok.txt"), "--tracking-uri", url]
        ).exit_code
        == 0
    )
    a_file = tmp_path / "hostname"
    a_file.write_text("keep me")
    result = cli(
        ["artifacts", "download", "-r", run_id, "-p", "ok.txt", "-d", str(a_file), "--tracking-uri", url]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"Error: --dst-path {a_file} is a file, not a folder."]
    assert a_file.read_text() == "keep me"
