"""JSONL export for SIEMs, in-process (local) calls, artifact file writes and follow-up writes."""

from __future__ import annotations

import getpass
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ledgerflow.client.transport import LocalTransport
from ledgerflow.config import ServerConfig
from tests.cli.conftest import CliResult
from tests.conftest import Api
from tests.store.audit_support import changes, post, records


def test_export_writes_jsonl_filtered_by_time(
    api: Api, server_config: ServerConfig, cli: Callable[[list[str]], CliResult], tmp_path: Path
) -> None:
    for index in range(3):
        api.ok("post", "experiments/create", {"name": f"early{index}"})
    time.sleep(0.01)
    cut = int(time.time() * 1000)
    time.sleep(0.01)
    for index in range(2):
        api.ok("post", "experiments/create", {"name": f"late{index}"})
    uri = server_config.backend_store_uri
    everything = cli(["audit", "export", "--backend-store-uri", uri, "--format", "jsonl"])
    assert everything.exit_code == 0, everything
    lines = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    # The server's own start-up records (its signing keys), then the five creations.
    assert [line["actor"] for line in lines if line["actor"] != "system"] == ["anonymous"] * 5
    assert all(line["action"].startswith(("audit.", "signing_keys.")) for line in lines[:-5])
    target = tmp_path / "late.jsonl"
    result = cli(
        [
            "audit",
            "export",
            "--backend-store-uri",
            uri,
            "--since",
            str(cut),
            "--format",
            "jsonl",
            "-o",
            str(target),
        ]
    )
    assert result.exit_code == 0, result
    late = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["details"]["request"]["name"] for line in late] == ["late0", "late1"]
    for line in late:
        assert {
            "time",
            "actor",
            "action",
            "resource_id",
            "outcome",
            "request_id",
            "prev_hash",
            "record_hash",
        } <= set(line)
    iso_cut = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cut / 1000)) + f".{cut % 1000:03d}"
    until = cli(["audit", "export", "--backend-store-uri", uri, "--until", iso_cut])
    assert [json.loads(line)["action"] for line in until.stdout.splitlines()][
        -1
    ] == "experiments.create_experiment"
    until_actors = [json.loads(line)["actor"] for line in until.stdout.splitlines()]
    assert [actor for actor in until_actors if actor != "system"] == ["anonymous"] * 3
    bad = cli(["audit", "export", "--backend-store-uri", uri, "--since", "last tuesday"])
    assert bad.exit_code != 0 and "since" in bad.stderr


def test_verify_on_an_empty_log(cli: Callable[[list[str]], CliResult], tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert cli(["db", "upgrade", "--backend-store-uri", uri]).exit_code == 0
    result = cli(["audit", "verify", "--backend-store-uri", uri])
    assert result.exit_code == 0 and "OK: 0 records, 0 checkpoints verified" in result.stdout


def test_local_transport_records_the_os_user_from_local(tmp_path: Path) -> None:
    transport = LocalTransport(str(tmp_path / "store"))
    try:
        transport.call("POST", "/2.0/mlflow/experiments/create", {"name": "offline"})
        found = transport.call(
            "GET", "/2.0/ledgerflow/audit/records", {"action": "experiments.create_experiment"}
        )
    finally:
        transport.close()
    (record,) = found["records"]
    assert record["actor"] == f"cli:{getpass.getuser()}"
    assert record["source_address"] == "local"
    # The key sits beside the SQLite file, private to its owner, outside the artifact folder.
    key = tmp_path / "store" / "ledgerflow-audit-signing-key.pem"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert not str(key).startswith(str(tmp_path / "store" / "artifacts"))


def test_artifact_uploads_and_deletes_are_recorded(api: Api) -> None:
    url = "/api/2.0/mlflow-artifacts/artifacts/0/run/model.pkl"
    assert api.client.put(url, content=b"x", headers={"X-Request-Id": "up-1"}).status_code == 200
    assert api.client.delete(url, headers={"X-Request-Id": "del-1"}).status_code == 200
    refused = api.client.put("/api/2.0/mlflow-artifacts/artifacts/..%2F..%2Fescape", content=b"x")
    assert refused.status_code >= 400
    found = [(r["action"], r["resource_id"], r["request_id"]) for r in changes(api)]
    assert found == [
        ("artifacts.upload", "0/run/model.pkl", "up-1"),
        ("artifacts.delete", "0/run/model.pkl", "del-1"),
    ]


def test_webhook_deliveries_queued_by_a_change_are_a_second_part_of_its_request(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig
) -> None:
    api = Api(make_client(replace(server_config, webhook_allowed_hosts=("127.0.0.1",))))
    hook = {"name": "h", "url": "https://127.0.0.1:9/hook", "events": ["registered_model.created"]}
    assert post(api, "webhooks", hook).status_code == 200
    assert post(api, "registered-models/create", {"name": "m"}, "with-hook").status_code == 200
    parts = [r for r in records(api) if r.get("request_id") == "with-hook"]
    assert [r["action"] for r in parts] == ["registry.create_registered_model"] * 2
    assert "part" not in parts[0]["details"] and parts[1]["details"]["part"] == 2


def test_gc_purges_are_recorded_as_the_os_user(
    api: Api, server_config: ServerConfig, cli: Callable[[list[str]], CliResult]
) -> None:
    experiment_id = api.ok("post", "experiments/create", {"name": "gc"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    api.ok("post", "runs/delete", {"run_id": run_id})
    store = ["--backend-store-uri", server_config.backend_store_uri]
    result = cli(
        ["gc", *store, "--artifacts-destination", server_config.artifacts_destination, "--run-ids", run_id]
    )
    assert result.exit_code == 0, result
    # The purge itself and the forgetting of the run's artifact digests are parts of one command.
    found = records(api, action="gc.purge")
    assert [r["details"].get("part", 1) for r in found] == list(range(1, len(found) + 1))
    assert len({r["request_id"] for r in found}) == 1
    (purge,) = [r for r in found if r["details"]["operation"] == "purge_run"]
    assert (purge["actor"], purge["source_address"], purge["resource_id"]) == (
        f"cli:{getpass.getuser()}",
        "local",
        run_id,
    )
    assert purge["details"]["operation"] == "purge_run"
    verified = cli(["audit", "verify", *store])
    assert verified.exit_code == 0, verified


def test_store_commands_take_the_signing_key_path(
    api: Api, server_config: ServerConfig, cli: Callable[[list[str]], CliResult], tmp_path: Path
) -> None:
    api.ok("post", "experiments/create", {"name": "e"})
    key = tmp_path / "secure" / "gc-key.pem"
    store = ["--backend-store-uri", server_config.backend_store_uri]
    result = cli(
        [
            "gc",
            *store,
            "--artifacts-destination",
            server_config.artifacts_destination,
            "--audit-signing-key",
            str(key),
        ]
    )
    assert result.exit_code == 0, result
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    public = cli(["audit", "public-key", "--signing-key", str(key)])
    (tmp_path / "gc.pub").write_text(public.stdout)
    # The command's key is published: its registration is itself a record.
    registrations = records(api, action="audit.register_signing_key")
    assert len(registrations) == 2
    assert cli(["audit", "verify", *store]).exit_code == 0


def test_read_commands_refuse_a_missing_store_and_create_nothing(
    cli: Callable[[list[str]], CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEDGERFLOW_BACKEND_STORE_URI", raising=False)
    missing = tmp_path / "nowhere.db"
    key = tmp_path / "audit.pem"
    key.write_bytes(b"")  # must exist for the option; never read for a missing store
    for args in (
        ["audit", "verify"],
        ["audit", "export"],
        ["audit", "verify", "--backend-store-uri", f"sqlite:///{missing}"],
        ["audit", "export", "--backend-store-uri", f"sqlite:///{missing}", "-o", str(tmp_path / "x.jsonl")],
        ["audit", "checkpoint", "--backend-store-uri", f"sqlite:///{missing}", "--signing-key", str(key)],
        ["audit", "anchor", "--backend-store-uri", f"sqlite:///{missing}", "--signing-key", str(key)],
    ):
        result = cli(args)
        assert result.exit_code == 4, (args, result)
        assert result.stderr.count("\n") == 1 and "No Ledgerflow store at" in result.stderr, result
        assert "OperationalError" not in result.stdout + result.stderr
    assert not missing.exists() and not (tmp_path / "ledgerflow.db").exists()
    assert not (tmp_path / "x.jsonl").exists()
