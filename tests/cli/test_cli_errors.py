"""Every failure the CLI meets is one line on stderr and a non-zero exit, never a traceback;
read-only commands never create a store, a folder or a file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledgerflow.client.client import Client
from tests.cli.conftest import CliResult
from tests.listening import refusing_port

Cli = Callable[[list[str]], CliResult]


def error_lines(result: CliResult) -> list[str]:
    """The stderr lines of a failed command, checked to be exactly one error line."""
    assert result.exit_code != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    return lines


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections for the whole test (see tests/listening.py)."""
    with refusing_port() as port:
        yield port


@pytest.fixture
def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "junk.db"
    path.write_text("this is plainly not an SQLite database, only some words\n" * 20)
    return path


@pytest.mark.parametrize("uri", ["http://[::1", "http://localhost:port/", "https:///no-host"])
def test_malformed_http_uri_is_one_line(cli: Cli, uri: str) -> None:
    (line,) = error_lines(cli(["runs", "describe", "--run-id", "x", "--tracking-uri", uri]))
    assert "Invalid tracking URI" in line


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_unreachable_database_is_one_line_without_password(cli: Cli, scheme: str, closed_port: int) -> None:
    uri = f"{scheme}://nobody:s3cretpw@127.0.0.1:{closed_port}/x"
    (line,) = error_lines(cli(["runs", "describe", "--run-id", "x", "--tracking-uri", uri]))
    assert line.startswith("Error: Could not connect to the backend store")
    assert "nobody:***@127.0.0.1" in line and "refused" in line.lower()
    assert "s3cretpw" not in line


def test_unauthorised_database_names_the_driver_reason(cli: Cli) -> None:
    # The test MariaDB accepts root without a password, so a wrong one is refused.
    uri = "mysql://root:wrong-pw-123@127.0.0.1:3306/nothing"
    (line,) = error_lines(cli(["experiments", "list", "--tracking-uri", uri]))
    assert "Could not connect to the backend store mysql://root:***@127.0.0.1:3306/nothing" in line
    assert "Access denied" in line and "wrong-pw-123" not in line


def test_unsupported_scheme_lists_what_is_supported(cli: Cli) -> None:
    (line,) = error_lines(cli(["runs", "describe", "--run-id", "x", "--tracking-uri", "bogus://x"]))
    for scheme in ("http(s)://", "postgresql://", "mysql://", "sqlite:///", "file://"):
        assert scheme in line


def test_tracking_path_that_is_a_file(cli: Cli, tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("hello")
    for uri in (str(a_file), f"file://{a_file}", f"sqlite:///{a_file}/x.db"):
        (line,) = error_lines(cli(["experiments", "create", "-n", "e", "--tracking-uri", uri]))
        assert "is a file, not a folder" in line
    assert a_file.read_text() == "hello"


def test_tracking_uri_on_a_non_database_file(cli: Cli, not_a_database: Path) -> None:
    before = not_a_database.read_bytes()
    result = cli(["experiments", "create", "-n", "e", "--tracking-uri", f"sqlite:///{not_a_database}"])
    (line,) = error_lines(result)
    assert f"{not_a_database} is not an SQLite database" in line
    assert not_a_database.read_bytes() == before


def test_server_refuses_unreachable_and_non_database_stores(
    cli: Cli, not_a_database: Path, closed_port: int
) -> None:
    unreachable = f"postgresql://nobody:hunter2@127.0.0.1:{closed_port}/x"
    (line,) = error_lines(cli(["server", "--port", "0", "--backend-store-uri", unreachable]))
    assert "Could not connect to the backend store postgresql://nobody:***@" in line
    assert "hunter2" not in line
    (line,) = error_lines(
        cli(["server", "--port", "0", "--backend-store-uri", f"sqlite:///{not_a_database}"])
    )
    assert "is not an SQLite database" in line


@pytest.mark.parametrize(
    "args",
    [
        ["server", "--log-level", "nonsense"],
        ["server", "--port", "99999"],
        ["server", "--port", "-1"],
        ["ui", "--port", "70000"],
        ["demo", "--serve", "--port", "65536"],
        ["models", "serve", "-m", "x", "--port", "100000"],
        ["server", "--workers", "0"],
    ],
)
def test_bad_option_values_are_one_line_usage_errors(cli: Cli, args: list[str]) -> None:
    result = cli(args)
    (line,) = error_lines(result)
    assert result.exit_code == 2
    assert "Invalid value for" in line and "--help" in line


def test_a_folder_below_a_file_names_the_path_and_the_os_reason(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder that would have to be made below a regular file: the OS error's own path and
    # reason, a usage error (the path came from the user), no exception class name.
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    args = ["experiments", "create", "-n", "e", "--tracking-uri", f"sqlite:///{a_file}/sub/x.db"]
    monkeypatch.delenv("LEDGERFLOW_DEBUG", raising=False)
    result = cli(args)
    (line,) = error_lines(result)
    assert result.exit_code == 2
    assert line == f"Error: {a_file}/sub: Not a directory."
    assert a_file.read_text() == "x"


def test_read_only_commands_do_not_create_a_store(cli: Cli, tmp_path: Path) -> None:
    missing_dir = tmp_path / "nonexistent" / "dir"
    sqlite_uri = f"sqlite:///{missing_dir / 'x.db'}"
    for args in (
        ["runs", "describe", "--run-id", "x"],
        ["runs", "list", "-x", "0"],
        ["runs", "export", "-x", "0"],
        ["experiments", "list"],
        ["experiments", "describe", "-x", "0"],
        ["experiments", "export", "-x", "0"],
    ):
        (line,) = error_lines(cli([*args, "--tracking-uri", sqlite_uri]))
        assert line == f"Error: No Ledgerflow store at {missing_dir / 'x.db'}"
        (line,) = error_lines(cli([*args, "--tracking-uri", str(missing_dir)]))
        assert line == f"Error: No Ledgerflow store at {missing_dir}"
    assert not (tmp_path / "nonexistent").exists()


def test_gc_on_a_missing_store_fails_without_creating_it(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(["gc", "--backend-store-uri", "sqlite:///doesnotexist.db"])
    (line,) = error_lines(result)
    assert line == "Error: No Ledgerflow store at doesnotexist.db"
    assert "Purged" not in result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def store_with_a_run(tmp_path: Path) -> tuple[str, str]:
    uri = f"sqlite:///{tmp_path / 'store' / 'lf.db'}"
    client = Client(uri)
    run = client.create_run("0", run_name="exported")
    client.log_param(run.info.run_id, "alpha", "0.5")
    client.close()
    return uri, run.info.run_id


def test_export_infers_the_format_from_the_extension(
    cli: Cli, tmp_path: Path, store_with_a_run: tuple[str, str]
) -> None:
    uri, run_id = store_with_a_run
    for command in (["runs", "export", "--run-id", run_id], ["experiments", "export", "-x", "0"]):
        as_csv, as_json = tmp_path / "out.csv", tmp_path / "out.JSON"
        assert cli([*command, "-o", str(as_csv), "--tracking-uri", uri]).exit_code == 0
        header = as_csv.read_text().splitlines()[0]
        assert "run_id" in header.split(",")
        assert cli([*command, "-o", str(as_json), "--tracking-uri", uri]).exit_code == 0
        assert as_json.read_text().lstrip()[0] in "[{"
        # An explicit --format wins over the extension.
        assert cli([*command, "-o", str(as_csv), "-f", "json", "--tracking-uri", uri]).exit_code == 0
        assert as_csv.read_text().lstrip()[0] in "[{"


def test_export_to_a_missing_folder_is_one_line(
    cli: Cli, tmp_path: Path, store_with_a_run: tuple[str, str]
) -> None:
    uri, run_id = store_with_a_run
    target = tmp_path / "nonexistent" / "dir" / "x.csv"
    for command in (["runs", "export", "--run-id", run_id], ["experiments", "export", "-x", "0"]):
        (line,) = error_lines(cli([*command, "--output", str(target), "--tracking-uri", uri]))
        assert "does not exist" in line and str(target.parent) in line
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize(
    ("command", "target"),
    [
        (["runs", "export", "-x", "0", "-f", "json"], "/proc/nope.json"),
        (["experiments", "export", "-x", "0"], "/proc/nope.csv"),
    ],
)
def test_an_output_path_the_os_refuses_is_one_line(
    cli: Cli, store_with_a_run: tuple[str, str], command: list[str], target: str
) -> None:
    uri, _run_id = store_with_a_run
    result = cli([*command, "-o", target, "--tracking-uri", uri])
    (line,) = error_lines(result)
    assert result.exit_code == 2
    assert line == f"Error: {target}: No such file or directory."
    assert "FileNotFoundError" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [["db", "upgrade"], ["users", "list"], ["gc"], ["audit", "verify"]],
)
def test_a_refused_database_is_one_line_on_every_store_command(
    cli: Cli, command: list[str], closed_port: int
) -> None:
    uri = f"postgresql://nouser:pw-secret@127.0.0.1:{closed_port}/x"
    (line,) = error_lines(cli([*command, "--backend-store-uri", uri]))
    assert line.startswith("Error: Could not connect to the backend store postgresql://nouser:***@127.0.0.1:")
    assert "refused" in line.lower()
    assert "pw-secret" not in line and "sqlalche.me" not in line and "OperationalError" not in line


@pytest.mark.parametrize(
    "command", [["users", "create-admin", "--username", "admin2"], ["users", "create", "bob"]]
)
def test_password_prompt_without_a_terminal_asks_for_password_stdin(
    tmp_path: Path, command: list[str]
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledgerflow.cli",
            *command,
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'u.db'}",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done
    (line,) = done.stderr.strip().splitlines()
    assert "Standard input is not a terminal" in line and "--password-stdin" in line
    assert "GetPassWarning" not in done.stderr and "Aborted" not in done.stderr
    # Refused before the store was opened or created.
    assert not (tmp_path / "u.db").exists()


def test_version_names_ledgerflow_and_the_mlflow_api(cli: Cli) -> None:
    from ledgerflow import __version__

    result = cli(["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(rf"ledgerflow {re.escape(__version__)} \(MLflow API \d+\.\d+\.\d+\)\n", result.stdout)


def test_a_port_that_is_not_a_number_is_not_called_a_range(cli: Cli) -> None:
    (line,) = error_lines(cli(["server", "--port", "notaport"]))
    assert "'notaport' is not a valid integer." in line and "range" not in line


def test_account_commands_do_not_list_server_only_options(cli: Cli) -> None:
    text = cli(["users", "create-admin", "--help"]).stdout
    assert "--backend-store-uri" in text and "--password-stdin" in text
    for server_only in ("--webhook-allow-host", "--s3-endpoint-url", "--artifacts-destination"):
        assert server_only not in text
    assert "--webhook-allow-host" in cli(["server", "--help"]).stdout


def test_gc_lists_the_artifact_store_but_not_the_serving_options(cli: Cli, tmp_path: Path) -> None:
    text = cli(["gc", "--help"]).stdout
    assert "--artifacts-destination" in text and "--s3-endpoint-url" in text and "--older-than" in text
    for serving_only in (
        "--serve-artifacts",
        "--default-artifact-root",
        "--allowed-artifact-root",
        "--webhook-allow-host",
    ):
        assert serving_only not in text
    # Still accepted, so a script passing the server's whole option set keeps working.
    store = [
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'gc.db'}",
        "--artifacts-destination",
        str(tmp_path / "a"),
    ]
    assert cli(["db", "upgrade", store[0], store[1]]).exit_code == 0
    result = cli(["gc", *store, "--serve-artifacts", "--webhook-allow-host", "10.0.0.1"])
    assert result.exit_code == 0, result


def test_a_reader_that_went_away_ends_the_command_quietly() -> None:
    # `ledgerflow ... | head`: the pipe's reader is gone before the command writes. Click
    # settles a closed pipe itself (exit 1, nothing on stderr); no traceback, no class name.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ledgerflow.cli", "--version"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr == b""
