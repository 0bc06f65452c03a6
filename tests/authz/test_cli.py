"""``ledgerflow groups`` and ``ledgerflow grants`` on the store; the grants they make are the
ones a server then enforces."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app
from tests.authz.support import PASSWORD, basic
from tests.cli.conftest import invoke


def test_groups_and_grants_from_the_cli(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'x.db'}"
    store = ["--backend-store-uri", uri, "--artifacts-destination", str(tmp_path / "a")]
    config = ServerConfig(
        backend_store_uri=uri, artifacts_destination=str(tmp_path / "a"), auth_required=True
    )
    client = TestClient(create_app(config))
    client.app.state.services.auth.create_user("dana", PASSWORD)  # type: ignore[attr-defined]
    get = {"experiment_id": "0"}
    assert client.get("/api/2.0/mlflow/experiments/get", params=get, headers=basic("dana")).status_code == 403
    assert invoke(["groups", "create", "analysts", *store]).exit_code == 0
    assert invoke(["groups", "add-member", "analysts", "dana", *store]).exit_code == 0
    assert "analysts\tdana" in invoke(["groups", "list", *store]).stdout
    made = invoke(["grants", "create", "experiment", "Default", "group:analysts", "viewer", *store])
    assert made.exit_code == 0, made.stderr
    assert "experiment\t0\tgroup:analysts\tviewer" in invoke(["grants", "list", *store]).stdout
    client.app.state.services.authz.forget()  # type: ignore[attr-defined]
    assert client.get("/api/2.0/mlflow/experiments/get", params=get, headers=basic("dana")).status_code == 200
    bad = invoke(["grants", "create", "experiment", "0", "group:analysts", "owner", *store])
    assert bad.exit_code != 0 and "Unknown role" in bad.stderr
    assert invoke(["grants", "delete", "experiment", "0", "group:analysts", *store]).exit_code == 0
    assert invoke(["grants", "list", *store]).stdout == ""
    assert invoke(["groups", "delete", "analysts", *store]).exit_code == 0
