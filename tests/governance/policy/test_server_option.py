"""`ledgerflow server --promotion-gate` turns the gate on in the served configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledgerflow.cli import server as server_cli


@pytest.mark.parametrize(("flag", "expected"), [([], False), (["--promotion-gate"], True)])
def test_promotion_gate_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flag: list[str], expected: bool
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(config: Any, *args: Any) -> None:
        seen["config"] = config

    monkeypatch.setattr(server_cli, "run_server", fake_run)
    result = CliRunner().invoke(
        server_cli.server,
        [
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--artifacts-destination",
            str(tmp_path),
            *flag,
        ],
    )
    assert result.exit_code == 0, result.output
    assert seen["config"].promotion_gate is expected
