"""The CLI side: `ui` stays on loopback, `users create-admin` reads the password safely."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import CliResult, invoke


@pytest.fixture
def cli() -> Callable[[list[str]], CliResult]:
    return invoke


def test_ui_refuses_non_loopback_without_no_auth(
    cli: Callable[[list[str]], CliResult], tmp_path: Path
) -> None:
    result = cli(["ui", "--host", "0.0.0.0", "--backend-store-uri", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code != 0
    assert "--no-auth" in result.stderr
    assert "Traceback" not in result.stderr


def test_create_admin_from_stdin_then_tokens(
    cli: Callable[[list[str]], CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = [
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'x.db'}",
        "--artifacts-destination",
        str(tmp_path / "a"),
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("Admin-Pass-Long-77\n"))
    made = cli(["users", "create-admin", "--username", "ops", "--password-stdin", *store])
    assert made.exit_code == 0, made.stderr
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    weak = cli(["users", "create-admin", "--username", "ops2", "--password-stdin", *store])
    assert weak.exit_code == 2 and "at least 12" in weak.stderr
    assert cli(["users", "create", "ci", "--service", *store]).exit_code == 0
    listed = cli(["users", "list", *store]).stdout
    assert "ops\tuser\tadmin\tactive" in listed and "ci\tservice" in listed
    token = cli(["tokens", "create", "--username", "ci", "--name", "nightly", "--scope", "write", *store])
    assert token.exit_code == 0 and token.stdout.startswith("lf_")
    rows = cli(["tokens", "list", *store]).stdout
    token_id = rows.split("\t")[0]
    assert "nightly" in rows and token.stdout.strip() not in rows
    assert cli(["tokens", "revoke", token_id, *store]).exit_code == 0
    assert "revoked" in cli(["tokens", "list", *store]).stdout
