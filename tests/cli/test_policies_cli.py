"""``ledgerflow policies``: offline validation, and upload/list/show/retire against a live
auth-on server (and a local store), with the CLI's one-line errors and exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ledgerflow.config import ServerConfig
from tests.cli.conftest import CliResult
from tests.conftest import LiveServer
from tests.listening import refusing_port

PASSWORD = "Policies-Cli-Password-1"
POLICY = """\
# The production gate for credit models.
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: credit-prod}
scope: {models: ["credit-*"], targets: ["alias:champion"]}
rules:
  - {id: accuracy, type: metric_threshold, metric: accuracy, op: ">=", value: 0.85}
  - {id: scan, type: scan_clean}
"""
Cli = Callable[[list[str]], CliResult]


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


@pytest.fixture
def server(
    make_live_server: Callable[[ServerConfig], LiveServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> LiveServer:
    for name in ("TRACKING_URI", "TRACKING_TOKEN", "TRACKING_USERNAME", "TRACKING_PASSWORD"):
        monkeypatch.delenv(f"LEDGERFLOW_{name}", raising=False)
        monkeypatch.delenv(f"MLFLOW_{name}", raising=False)
    live = make_live_server(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'policies.db'}",
            artifacts_destination=str(tmp_path / "artifacts"),
            auth_required=True,
        )
    )
    auth = live.app.state.services.auth
    auth.create_user("root", PASSWORD, is_admin=True)
    auth.create_user("alice", PASSWORD)
    monkeypatch.setenv("LEDGERFLOW_TRACKING_URI", live.url)
    return live


def as_user(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    monkeypatch.setenv("LEDGERFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("LEDGERFLOW_TRACKING_PASSWORD", PASSWORD)


def test_validate_offline(cli: Cli, policy_file: Path, tmp_path: Path) -> None:
    good = cli(["policies", "validate", str(policy_file)])
    assert good.exit_code == 0, good.stderr
    assert good.stdout.startswith(f"{policy_file}: valid policy credit-prod (2 rules, digest ")
    assert "models credit-*, targets alias:champion" in good.stdout
    as_json = json.loads(cli(["policies", "validate", str(policy_file), "--json"]).stdout)
    assert as_json["valid"] is True and as_json["rules"] == 2 and len(as_json["digest"]) == 64

    cases = {
        "op": (POLICY.replace('op: ">="', 'op: "=>"'), "at rules[0].op: '=>' is not one of"),
        "type": (POLICY.replace("type: scan_clean", "type: scan_dirty"), "at rules[1]"),
        "duplicate": (POLICY.replace("id: scan", "id: accuracy"), "at rules[1].id: duplicate rule id"),
        "anchor": (POLICY.replace("rules:\n", "extra: &a [1]\nalso: *a\nrules:\n"), "anchors or aliases"),
        "yaml": ("metadata: {name: [\n", "not valid YAML (line"),
    }
    for label, (text, expected) in cases.items():
        bad = tmp_path / f"{label}.yaml"
        bad.write_text(text, encoding="utf-8")
        result = cli(["policies", "validate", str(bad)])
        assert result.exit_code == 2, (label, result)
        assert result.stderr.startswith("Error: Invalid policy document") and expected in result.stderr, label
        assert result.stderr.count("\n") == 1 and result.stdout == "", label

    missing = cli(["policies", "validate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_upload_list_show_retire_on_a_server(
    cli: Cli, server: LiveServer, policy_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nobody = cli(["policies", "list"])
    assert nobody.exit_code == 5 and nobody.stderr.count("\n") == 1, nobody
    as_user(monkeypatch, "alice")
    refused = cli(["policies", "upload", str(policy_file)])
    assert refused.exit_code == 5 and "Error:" in refused.stderr, refused

    as_user(monkeypatch, "root")
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(POLICY.replace("value: 0.85", "value: high"), encoding="utf-8")
    bad = cli(["policies", "upload", str(invalid)])
    assert bad.exit_code == 2 and "Invalid policy document at rules[0].value" in bad.stderr, bad
    assert json.loads(cli(["policies", "list", "--json"]).stdout) == []  # nothing stored

    uploaded = cli(["policies", "upload", str(policy_file)])
    assert uploaded.exit_code == 0, uploaded
    assert uploaded.stdout.startswith("Policy credit-prod version 1 in force (digest ")
    assert "2 rules, models credit-*, targets alias:champion" in uploaded.stdout

    as_user(monkeypatch, "alice")  # reading needs no admin
    listed = cli(["policies", "list"])
    assert listed.exit_code == 0, listed
    header, _rule, row = listed.stdout.splitlines()
    assert header.split()[:5] == ["Name", "Version", "Rules", "Models", "Targets"]
    assert row.split()[:5] == ["credit-prod", "1", "2", "credit-*", "alias:champion"]
    shown = cli(["policies", "show", "credit-prod"])
    assert shown.exit_code == 0 and "Version:    1\n" in shown.stdout
    assert "  accuracy  metric_threshold  block" in shown.stdout
    source = cli(["policies", "show", "credit-prod/1", "--source"])
    assert source.stdout == POLICY  # the document exactly as uploaded, comment included

    as_user(monkeypatch, "root")
    again = cli(["policies", "upload", str(policy_file), "--json"])
    assert json.loads(again.stdout)["version"] == 2
    older = cli(["policies", "show", "credit-prod/1"])
    assert "Version:    1 (superseded by version 2)" in older.stdout
    assert json.loads(cli(["policies", "show", "credit-prod", "--json"]).stdout)["version"] == 2

    retired = cli(["policies", "retire", "credit-prod"])
    assert retired.exit_code == 0 and "Retired policy credit-prod version 2" in retired.stdout
    assert json.loads(cli(["policies", "list", "--json"]).stdout) == []
    assert "Version:    2 (retired)" in cli(["policies", "show", "credit-prod"]).stdout
    assert server.app.state.services.policies.in_force_for("credit-default", "alias:champion") == []

    for args, code, text in (
        (["show", "no-such-policy"], 4, "Policy 'no-such-policy' not found"),
        (["show", "credit-prod/7"], 4, "version 7 not found"),
        (["show", "credit-prod/latest"], 2, "expected NAME or NAME/VERSION"),
        (["retire", "no-such-policy"], 4, "not found"),
    ):
        result = cli(["policies", *args])
        assert result.exit_code == code and text in result.stderr, (args, result)
        assert result.stderr.count("\n") == 1


def test_upload_with_scope_from_the_command_line(
    cli: Cli, server: LiveServer, policy_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_user(monkeypatch, "root")
    result = cli(
        ["policies", "upload", str(policy_file), "--model", "fraud-*", "--model", "churn",
         "--target", "stage:Production"]
    )  # fmt: skip
    assert result.exit_code == 0, result
    assert "models fraud-*,churn, targets stage:Production" in result.stdout
    policies = server.app.state.services.policies
    assert [doc.name for _v, doc in policies.in_force_for("fraud-eu", "stage:Production")] == ["credit-prod"]
    assert policies.in_force_for("credit-default", "alias:champion") == []
    bad = cli(["policies", "upload", str(policy_file), "--target", "champion"])
    assert bad.exit_code == 2 and "scope.targets[0]" in bad.stderr, bad


def test_local_store_and_unreachable_server(
    cli: Cli, policy_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = str(tmp_path / "store")
    missing = cli(["policies", "list", "--tracking-uri", store])
    assert missing.exit_code == 4 and "No Ledgerflow store" in missing.stderr
    assert cli(["policies", "upload", str(policy_file), "--tracking-uri", store]).exit_code == 0
    listed = json.loads(cli(["policies", "list", "--json", "--tracking-uri", store]).stdout)
    assert [(p["name"], p["version"], p["created_by"].startswith("cli:")) for p in listed] == [
        ("credit-prod", 1, True)
    ]

    monkeypatch.setenv("LEDGERFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with refusing_port() as port:
        down = cli(["policies", "list", "--tracking-uri", f"http://127.0.0.1:{port}"])
    assert down.exit_code == 1 and "Could not reach the tracking server" in down.stderr, down
    assert down.stderr.count("\n") == 1
