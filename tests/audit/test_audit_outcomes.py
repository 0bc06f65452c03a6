"""The README's table of audit outcomes is the set of values the trail actually writes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.auth.conftest import ADMIN, ALICE, basic
from tests.cli.conftest import CliResult

README = Path(__file__).resolve().parents[2] / "README.md"
GRANTS = "/api/2.0/ledgerflow/grants"


def documented_outcomes() -> set[str]:
    section = README.read_text(encoding="utf-8").split("## Audit trail", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))


def test_every_documented_outcome_is_written_and_no_other(
    make_client: Callable[[ServerConfig], TestClient],
    server_config: ServerConfig,
    cli: Callable[[list[str]], CliResult],
) -> None:
    documented = documented_outcomes()
    assert documented, "the README's audit section lists no outcomes"
    client = make_client(replace(server_config, auth_required=True))
    auth = client.app.state.services.auth  # type: ignore[attr-defined]
    auth.create_user(*ADMIN, is_admin=True)
    auth.create_user(*ALICE)
    admin, alice = basic(*ADMIN), basic(*ALICE)
    created = client.post("/api/2.0/mlflow/experiments/create", json={"name": "x"}, headers=admin)
    assert created.status_code == 200, created.text
    experiment = created.json()["experiment_id"]
    wrong = client.get("/api/2.0/mlflow/experiments/search", headers=basic(ALICE[0], "not-the-password"))
    assert wrong.status_code == 401
    grant = {"resource_type": "experiment", "resource": experiment, "principal_type": "user"}
    refused = client.post(
        f"{GRANTS}/create", json={**grant, "principal": ALICE[0], "role": "manager"}, headers=alice
    )
    assert refused.status_code == 403, refused.text
    nothing = client.post(f"{GRANTS}/delete", json={**grant, "principal": ALICE[0]}, headers=admin)
    assert nothing.status_code == 200, nothing.text
    exported = cli(["audit", "export", "--backend-store-uri", server_config.backend_store_uri])
    assert exported.exit_code == 0, exported
    written = {json.loads(line)["outcome"] for line in exported.stdout.splitlines()}
    assert written == documented
